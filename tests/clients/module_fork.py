"""A Python host (ctypes: the spy's exports called directly) over a module that forks
inside C_GetInfo: both processes then make N calls of C_GetSlotList, writing the same
trace.  Prints "calls failed P C" (the parent's and the child's non-OK returns).
argv: SPY N"""
import ctypes
import os
import sys

spy = ctypes.CDLL(sys.argv[1])
calls = int(sys.argv[2])


class Buffer(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_char * 256)]  # larger than CK_INFO and CK_SLOT_INFO


parent = os.getpid()
spy.C_Initialize(None)
spy.C_GetInfo(ctypes.byref(Buffer()))  # returns in two processes
count = ctypes.c_ulong(0)
failed = sum(spy.C_GetSlotList(ctypes.c_ubyte(0), None, ctypes.byref(count)) != 0 for _ in range(calls))
if os.getpid() != parent:
    os._exit(min(failed, 100))
_, status = os.wait()
print("calls failed", failed, os.waitstatus_to_exitcode(status))
