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


MAX_LINE = 1 << 20  # longer lines are cut: a file with no newline must not fill memory


def _raise(message: str) -> None:
    raise UnusableInput(message)


def read_traces(paths: List[str], warn: Callable[[Warning_], None],
                unusable: Callable[[str], None] = _raise) -> Iterator[Event]:
    """Events of every file in turn.  A file that cannot be opened, is not a trace or
    holds no call is reported to unusable(message) and skipped, so the others are still
    read (by default it raises UnusableInput instead)."""
    for path in paths:
        try:
            yield from _read_one(path, warn)
        except UnusableInput as exc:
            unusable(str(exc))
        except (OSError, EOFError) as exc:  # a damaged or truncated .gz, an I/O error
            unusable(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}")


def _read_one(path: str, warn: Callable[[Warning_], None]) -> Iterator[Event]:
    try:
        handle = _open(path)
    except OSError as exc:
        raise UnusableInput(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        lines = _bounded_lines(handle)
        first = ""
        buffered: List[str] = []
        for line in lines:
            buffered.append(line)
            if "\0" in line:
                raise UnusableInput(f"{path}: binary data, not a trace")
            if line.strip():
                first = line
                break
        reader = JsonReader(path, warn) if _looks_like_json(first) else TextReader(path, warn)
        yield from reader.events(_chain(buffered, lines))
        if reader.calls == 0:
            raise UnusableInput(f"{path}: no PKCS#11 call found (is this a pkcs11spy, "
                                "OpenSC pkcs11-spy or pkcs11spy JSON trace?)")


def _bounded_lines(handle: TextIO) -> Iterator[str]:
    """The file's lines, each cut at MAX_LINE characters (the rest of it skipped)."""
    while True:
        line = handle.readline(MAX_LINE)
        if not line:
            return
        if len(line) == MAX_LINE and not line.endswith("\n"):
            while True:  # skip the rest of an overlong line
                rest = handle.readline(MAX_LINE)
                if not rest or rest.endswith("\n"):
                    break
            line += "\n"
        yield line


def _open(path: str) -> TextIO:
    """A trace file, '-' for standard input, or a gzip-compressed trace (*.gz)."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")  # type: ignore[return-value]
    return open(path, "r", encoding="utf-8", errors="replace", newline="")


def _chain(first: List[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest
