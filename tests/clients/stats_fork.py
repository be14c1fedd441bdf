"""A Python host (ctypes: the spy's exports called directly) with statistics on: 5 calls,
then a fork; the child makes 1 call and exits normally (its table is written at exit).
argv: SPY"""
import ctypes
import os
import sys

spy = ctypes.CDLL(sys.argv[1])


class Info(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_char * 256)]  # larger than CK_INFO


spy.C_Initialize(None)
for _ in range(5):
    spy.C_GetInfo(ctypes.byref(Info()))
child = os.fork()
if child == 0:
    spy.C_GetInfo(ctypes.byref(Info()))
    sys.exit(0)
os.waitpid(child, 0)
spy.C_Finalize(None)
print("child", child)
