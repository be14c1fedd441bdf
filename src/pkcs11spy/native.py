"""The PKCS#11 C types, for decoding: a pure-Python cffi parser of ck_types.h.

No compiler: cffi computes the layouts with the platform's rules, which are those the
shim is compiled with.  Tests build C structures with this same ``ffi``.
"""
from __future__ import annotations

import os

import cffi


def _declarations() -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ck_types.h")
    with open(path, encoding="utf-8") as f:
        return "\n".join(line for line in f if not line.lstrip().startswith("#"))


ffi = cffi.FFI()
ffi.cdef(_declarations())
