"""Reading the application's memory without ever faulting.

Arguments come from the application and may point anywhere.  Reading them directly
would crash the host on a bad pointer, so every read goes through ``/proc/self/mem``:
the kernel copies what is mapped and answers EIO for what is not.  After fork the
descriptor still refers to the parent's memory, so it is reopened in the child.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Optional

from .native import ffi

ULONG_SIZE = ffi.sizeof("CK_ULONG")
ULONG_MAX = (1 << (8 * ULONG_SIZE)) - 1
ADDRESS_LIMIT = 1 << 63  # /proc/self/mem takes offsets as signed 64-bit numbers


class Memory:
    def __init__(self) -> None:
        self._fd = -1
        self._pid = -1
        self._lock = threading.Lock()
        self._sizes = {}
        # getpid() per read is a syscall on the hot path: learn about forks instead.
        os.register_at_fork(after_in_child=self.forget)

    def forget(self) -> None:
        """After a fork (the tracer also calls this for forks Python did not see)."""
        # A fresh lock too: a thread of the parent may have been opening the descriptor
        # at fork; that thread does not exist here, and its lock would stay held for ever.
        self._lock = threading.Lock()
        self._pid = -2  # a fresh descriptor on the next read, in the child

    def _descriptor(self) -> int:
        if self._pid >= 0:
            return self._fd
        pid = os.getpid()
        if pid != self._pid:
            with self._lock:
                if pid != self._pid:
                    if self._fd >= 0:
                        try:
                            os.close(self._fd)
                        except OSError:
                            pass
                    self._fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
                    self._pid = pid
        return self._fd

    def read(self, address: int, length: int) -> Optional[bytes]:
        """The bytes at address, or None when any of them cannot be read."""
        if length <= 0 or address <= 0 or address + length > ADDRESS_LIMIT:
            return b"" if length == 0 else None
        try:
            data = os.pread(self._fd if self._pid >= 0 else self._descriptor(), length, address)
        except (OSError, OverflowError, ValueError):
            return None
        return data if len(data) == length else None

    def ulong(self, address: int) -> Optional[int]:
        if address <= 0 or address + ULONG_SIZE > ADDRESS_LIMIT:
            return None
        try:
            data = os.pread(self._fd if self._pid >= 0 else self._descriptor(), ULONG_SIZE, address)
        except (OSError, OverflowError, ValueError):
            return None
        return int.from_bytes(data, sys.byteorder) if len(data) == ULONG_SIZE else None

    def struct(self, ctype: str, address: int):
        """A private copy of a C structure (a cffi object), or None if unreadable."""
        known = self._sizes.get(ctype)
        if known is None:
            # Resolved once: a type string is otherwise looked up on every call.
            known = self._sizes[ctype] = (ffi.sizeof(ctype), ffi.typeof(ctype + " *"))
        size, pointer_type = known
        data = self.read(address, size)
        if data is None:
            return None
        copy = ffi.new(pointer_type)
        ffi.memmove(copy, data, size)
        return copy

    def array(self, ctype: str, address: int, count: int):
        size = ffi.sizeof(ctype) * count
        data = self.read(address, size)
        if data is None:
            return None
        copy = ffi.new(ctype + "[]", count)
        ffi.memmove(copy, data, size)
        return copy

    def cstring(self, address: int, limit: int = 256) -> Optional[bytes]:
        """A NUL-terminated string, read a byte at a time up to limit (never past a
        terminator: the next page may be unmapped)."""
        if address == 0:
            return None
        out = bytearray()
        while len(out) < limit:
            chunk = self.read(address + len(out), 1)
            if chunk is None:
                return None
            if chunk == b"\0":
                return bytes(out)
            out += chunk
        return bytes(out)


memory = Memory()
