"""Where the trace goes: one descriptor, appended to with one write per record part.

No buffered io: the process may end without interpreter shutdown (C hosts never
finalise Python), and a buffer would lose what it held.  If the file cannot be opened
or later stops being writable (a full disk, or the file or its directory removed, which
would otherwise swallow the trace silently), the trace continues on stderr after one
warning.  With ``%p`` in PKCS11SPY_OUTPUT a forked child gets a file of its own.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Callable, Optional

STDERR = 2


def write_part(fd: int, data: bytes, length: int) -> int:
    """Write all of data, then check that a file's name was not removed.  0, or the errno
    that stopped it.  The shim offers the same in C (spy_write), which the tracer uses:
    this one serves tools and tests that run without the shim."""
    try:
        n = os.write(fd, data)
        if n != len(data):
            view = memoryview(data)[n:]
            while view:
                n = os.write(fd, view)
                view = view[n:]
        if fd != STDERR:
            st = os.fstat(fd)
            if st.st_nlink == 0 and stat.S_ISREG(st.st_mode):
                return errno.ENOENT
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


class Sink:
    def __init__(self, path: Optional[str], warn: Callable[[str], None],
                 expand: Optional[Callable[[int], str]] = None,
                 writer: Callable[[int, bytes, int], int] = write_part) -> None:
        """expand: the output path for a pid, when the path depends on it (``%p``).
        writer: how a part is written (see write_part)."""
        self.path = path
        self._writer = writer
        self._warn = warn
        self._expand = expand
        self._pid = os.getpid()
        self.fd = STDERR
        if path:
            self.fd = self._open(path)

    def _open(self, path: str) -> int:
        try:
            return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._warn(f"pkcs11spy: cannot write the trace to PKCS11SPY_OUTPUT={path}: {exc.strerror}; "
                       f"tracing to stderr instead (set PKCS11SPY_OUTPUT to a writable file)")
            return STDERR

    def per_process(self) -> bool:
        """True when a forked child writes to a file of its own (``%p``)."""
        return self.fd != STDERR and self._expand is not None and self._expand(-1) != self.path

    def reopen_if_forked(self) -> bool:
        """In a forked child whose output names its pid: switch to the child's own file.
        True when it did (the caller writes a banner there)."""
        pid = os.getpid()
        if pid == self._pid:
            return False
        self._pid = pid
        if not self.per_process():
            return False
        path = self._expand(pid)
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.path = path
        self.fd = self._open(path)
        return True

    def write(self, text: str) -> None:
        """One record part, checked after the write: a part that went to a removed file
        is written again on stderr (the entry part of a call that then crashes the module
        must be readable somewhere).  Callers hold the tracer's lock."""
        data = text.encode("utf-8", "backslashreplace")
        failed = self._writer(self.fd, data, len(data))
        if not failed or self.fd == STDERR:
            return  # written, or nowhere left to say it
        reason = "the file was removed" if failed == errno.ENOENT else os.strerror(failed)
        self._warn(f"pkcs11spy: writing the trace to {self.path} failed: {reason}; "
                   f"tracing continues on stderr")
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = STDERR
        self._writer(STDERR, data, len(data))


def warn_stderr(message: str) -> None:
    try:
        os.write(STDERR, (message + "\n").encode("utf-8", "backslashreplace"))
    except OSError:
        pass
