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
from typing import Callable, List, Optional

STDERR = 2


def write_part(fd: int, data: bytes, length: int, check: int = 1) -> int:
    """Write all of data, then (check) see that a file's name was not removed.  0, or the
    errno that stopped it.  The shim offers the same in C (spy_write), which the tracer
    uses: this one serves tools and tests that run without the shim."""
    try:
        n = os.write(fd, data)
        if n != len(data):
            view = memoryview(data)[n:]
            while view:
                n = os.write(fd, view)
                view = view[n:]
        if check and fd != STDERR:
            st = os.fstat(fd)
            if st.st_nlink == 0 and stat.S_ISREG(st.st_mode):
                return errno.ENOENT
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


class Sink:
    def __init__(self, path: Optional[str], warn: Callable[[str], None],
                 expand: Optional[Callable[[int], str]] = None,
                 writer: Callable[[int, bytes, int, int], int] = write_part) -> None:
        """expand: the output path for a pid, when the path depends on it (``%p``).
        writer: how a part is written (see write_part)."""
        self.path = path
        self._writer = writer
        # Parts written since the last check that the file still has a name: if it turns
        # out removed, they went where nobody can read them and are written again.
        self._unchecked: List[bytes] = []
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
        self._unchecked = []  # the parent's parts: not this process's to write again
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

    def write(self, text: str, check: bool = True) -> None:
        """One record part.  check=False skips the removed-file check (a system call)
        for a part a checked one follows soon: the tracer's entry parts, each followed by
        its exit part.  Callers hold the tracer's lock."""
        data = text.encode("utf-8", "backslashreplace")
        failed = self._writer(self.fd, data, len(data), check)
        if not failed:
            if not check:
                self._unchecked.append(data)
            elif self._unchecked:
                self._unchecked.clear()
            return
        if self.fd == STDERR:
            return  # nowhere left to say it
        reason = "the file was removed" if failed == errno.ENOENT else os.strerror(failed)
        self._warn(f"pkcs11spy: writing the trace to {self.path} failed: {reason}; "
                   f"tracing continues on stderr")
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = STDERR
        lost = self._unchecked if failed == errno.ENOENT else []
        for part in lost + [data]:
            self._writer(STDERR, part, len(part), 0)
        self._unchecked = []


def warn_stderr(message: str) -> None:
    try:
        os.write(STDERR, (message + "\n").encode("utf-8", "backslashreplace"))
    except OSError:
        pass
