"""The PKCS#11 C types, for decoding: a pure-Python cffi parser of our headers.

``ck_types.h`` (shared with the C shim) and every ``ck_params_*.h`` (structures only the
decoders need: mechanism and message parameters) are read, in name order.  No
compiler: cffi computes the layouts with the platform's rules, which are those the shim
is compiled with.  Tests build C structures with this same ``ffi``.
"""
from __future__ import annotations

import glob
import os

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))


def header_files() -> list:
    return [os.path.join(HERE, "ck_types.h")] + sorted(glob.glob(os.path.join(HERE, "ck_params_*.h")))


def _declarations(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return "\n".join(line for line in f if not line.lstrip().startswith("#"))


ffi = cffi.FFI()
for _path in header_files():
    ffi.cdef(_declarations(_path))


def _renew_locks_in_child() -> None:
    # cffi parses a type string the first time it is used (milliseconds each) under a
    # lock of this ffi and a module lock of its parser.  A thread of the parent may hold
    # them at fork: the child, which lacks that thread, would wait for ever (seen in
    # tests: fork while another thread decodes its first C_GetInfo).  The child gets
    # fresh locks.
    from cffi import cparser
    from cffi.lock import allocate_lock
    if hasattr(ffi, "_lock"):
        ffi._lock = allocate_lock()
    if getattr(cparser, "lock", None) is not None:
        cparser.lock = allocate_lock()


os.register_at_fork(after_in_child=_renew_locks_in_child)
