"""Where the trace goes: one descriptor, appended to with one write per record part.

No buffered io: the process may end without interpreter shutdown (C hosts never
finalise Python), and a buffer would lose what it held.  If the file cannot be opened
or later stops being writable, the trace continues on stderr after one warning.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

STDERR = 2


class Sink:
    def __init__(self, path: Optional[str], warn: Callable[[str], None]) -> None:
        self.path = path
        self._warn = warn
        self.fd = STDERR
        if path:
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                warn(f"pkcs11spy: cannot write the trace to PKCS11SPY_OUTPUT={path}: {exc.strerror}; "
                     f"tracing to stderr instead (set PKCS11SPY_OUTPUT to a writable file)")

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        try:
            self._write_all(self.fd, data)
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
