"""Open trace files, tell the formats apart, and stream their events in file order."""
from __future__ import annotations

import gzip
import io
import sys
from typing import Callable, Iterator, List, TextIO

from .read_json import JsonReader
from .read_text import TextReader
from .records import Event, Warning_


class UnusableInput(Exception):
    """Nothing in the input can be read as a trace (exit code 2)."""


def _looks_like_json(first: str) -> bool:
    return first.lstrip().startswith("{")


def read_traces(paths: List[str], warn: Callable[[Warning_], None]) -> Iterator[Event]:
    """Events of every file in turn.  Raises UnusableInput when a file cannot be opened
    or holds no call at all."""
    for path in paths:
        try:
            handle = _open(path)
        except OSError as exc:
            raise UnusableInput(f"{path}: cannot open: {exc.strerror or exc}") from None
        with handle:
            first = ""
            buffered: List[str] = []
            for line in handle:
                buffered.append(line)
                if line.strip():
                    first = line
                    break
            if "\0" in first:
                raise UnusableInput(f"{path}: binary data, not a trace")
            reader = JsonReader(path, warn) if _looks_like_json(first) else TextReader(path, warn)
            lines = _chain(buffered, handle)
            yield from reader.events(lines)
            if reader.calls == 0:
                raise UnusableInput(f"{path}: no PKCS#11 call found (is this a pkcs11spy, "
                                    "OpenSC pkcs11-spy or pkcs11spy JSON trace?)")


def _open(path: str) -> TextIO:
    """A trace file, '-' for standard input, or a gzip-compressed trace (*.gz)."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")  # type: ignore[return-value]
    return open(path, "r", encoding="utf-8", errors="replace", newline="")


def _chain(first: List[str], rest: io.TextIOBase) -> Iterator[str]:
    yield from first
    yield from rest
