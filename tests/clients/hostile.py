"""Call every PKCS#11 entry point a module exports with hostile arguments, in one phase
of the library's life, and print "NAME rv" per call (or "NAME missing").

argv: MODULE PHASE SHAPE
  PHASE: before (no C_Initialize), during (initialised), after (C_Finalize returned)
  SHAPE: null       every pointer NULL, every number 0
         bad        handles and slot ids 0xDEADBEEF; pointers to zeroed 4 KiB buffers;
                    lengths 16; counts behind pointers 16
         huge       as bad, but every length and count CK_UNAVAILABLE_INFORMATION (~0)
C_Initialize and C_Finalize are called only to reach the phase.  The argument types
come from the spy's function table, so every function is covered.
"""
import ctypes
import sys

from pkcs11spy.functions import FUNCTIONS

module, phase, shape = sys.argv[1:4]
lib = ctypes.CDLL(module, mode=ctypes.RTLD_LOCAL)
ULONG_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_ulong)) - 1
SETUP = {"C_Initialize", "C_Finalize"}
keep = []


def buffer(fill_ulong=None):
    b = ctypes.create_string_buffer(4096)
    if fill_ulong is not None:
        ctypes.c_ulong.from_buffer(b).value = fill_ulong
    keep.append(b)
    return ctypes.cast(b, ctypes.c_void_p).value


def is_pointer(ctype: str) -> bool:
    return ctype.endswith("_PTR") or ctype in ("CK_NOTIFY", "CK_VOID_PTR")


def value(arg):
    if shape == "null":
        return None if is_pointer(arg.ctype) else 0
    number = 16 if shape == "bad" else ULONG_MAX
    if is_pointer(arg.ctype):
        return buffer(number if arg.kind in ("length_ptr", "count_ptr") else None)
    if arg.kind == "length":
        return number
    if arg.ctype == "CK_BBOOL":
        return 1
    if arg.kind.startswith("flags:"):
        return 1 if arg.kind == "flags:wait" else 0  # CKF_DONT_BLOCK: never wait for a card
    return 0xDEADBEEF


def call(name, args, argtypes):
    try:
        fn = getattr(lib, name)
    except AttributeError:
        print(name, "missing", flush=True)
        return
    fn.restype = ctypes.c_ulong
    fn.argtypes = argtypes
    print(name, fn(*args), flush=True)


def c_type(arg):
    if is_pointer(arg.ctype):
        return ctypes.c_void_p
    return ctypes.c_ubyte if arg.ctype == "CK_BBOOL" else ctypes.c_ulong


if phase in ("during", "after"):
    call("C_Initialize", [None], [ctypes.c_void_p])
if phase == "after":
    call("C_Finalize", [None], [ctypes.c_void_p])
for f in FUNCTIONS:
    if f.name in SETUP:
        continue
    call(f.name, [value(a) for a in f.args], [c_type(a) for a in f.args])
if phase == "during":
    call("C_Finalize", [None], [ctypes.c_void_p])
