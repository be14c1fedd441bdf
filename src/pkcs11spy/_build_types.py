"""cffi build of the decoders' C types (``cffi_modules`` in setup.py): an out-of-line
ABI module, ``pkcs11spy._ck_types``, holding the declarations already parsed.

Parsing them at start (pycparser) cost 45 ms of every traced process's start-up; the
built module loads in a few.  No compiler is involved: cffi lays the structures out by
the platform's rules, as before.  setuptools runs this file several times per install:
it must have no side effects.
"""
from __future__ import annotations

import os
import sys

import cffi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _ck_headers  # noqa: E402  (a plain module, found through the path above)


def build_ffi() -> cffi.FFI:
    ffibuilder = cffi.FFI()
    for declarations in _ck_headers.declarations():
        ffibuilder.cdef(declarations)
    ffibuilder.set_source("pkcs11spy._ck_types", None)
    return ffibuilder


ffibuilder = build_ffi()
