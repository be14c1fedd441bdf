"""Where the trace goes: one descriptor, appended to with one write per record part.

No buffered io: the process may end without interpreter shutdown (C hosts never
finalise Python), and a buffer would lose what it held.  If the file cannot be opened
or later stops being writable (a full disk, or the file or its directory removed, which
would otherwise swallow the trace silently), the trace continues on stderr after one
warning.  With ``%p`` in PKCS11SPY_OUTPUT a forked child gets a file of its own.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

STDERR = 2


class Sink:
    def __init__(self, path: Optional[str], warn: Callable[[str], None],
                 expand: Optional[Callable[[int], str]] = None) -> None:
        """expand: the output path for a pid, when the path depends on it (``%p``)."""
        self.path = path
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
        data = text.encode("utf-8", "backslashreplace")
        try:
            self._write_all(self.fd, data)
            if self.fd != STDERR and os.fstat(self.fd).st_nlink == 0:
                raise FileNotFoundError(2, "the file was removed")
        except OSError as exc:
            if self.fd == STDERR:
                return  # nowhere left to say it
            self._warn(f"pkcs11spy: writing the trace to {self.path} failed: {exc.strerror}; "
                       f"tracing continues on stderr")
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = STDERR
            try:
                self._write_all(STDERR, data)
            except OSError:
                pass

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        n = os.write(fd, data)
        if n == len(data):
            return  # the usual case: one write
        view = memoryview(data)[n:]
        while view:
            n = os.write(fd, view)
            view = view[n:]


def warn_stderr(message: str) -> None:
    try:
        os.write(STDERR, (message + "\n").encode("utf-8", "backslashreplace"))
    except OSError:
        pass
