"""The PKCS#11 C types, for decoding: ``ffi`` knows every declaration of our headers
(see _ck_headers.py).  Tests build C structures with this same ``ffi``.

The install builds them into ``pkcs11spy._ck_types`` (setup.py, _build_types.py), which
loads without parsing.  A source tree that was never built parses the headers here
instead (45 ms more at start): same declarations, same layouts.
"""
from __future__ import annotations

import os
import sys

try:
    from ._ck_types import ffi
    PREBUILT = True
except ImportError:
    import cffi

    from ._ck_headers import declarations

    ffi = cffi.FFI()
    for _declarations in declarations():
        ffi.cdef(_declarations)
    PREBUILT = False


def _renew_locks_in_child() -> None:
    # A parsing ffi parses a type string the first time it is used (milliseconds each)
    # under a lock of its own and a module lock of cffi's parser.  A thread of the parent
    # may hold them at fork: the child, which lacks that thread, would wait for ever
    # (seen in tests: fork while another thread decodes its first C_GetInfo).  The child
    # gets fresh locks.  (The prebuilt ffi parses type strings in C, without either.)
    holders = [(ffi, "_lock"), (sys.modules.get("cffi.cparser"), "lock")]
    stale = [(holder, name) for holder, name in holders if getattr(holder, name, None) is not None]
    if stale:
        from cffi.lock import allocate_lock
        for holder, name in stale:
            setattr(holder, name, allocate_lock())


os.register_at_fork(after_in_child=_renew_locks_in_child)
