"""Read an OpenSC debug log (OPENSC_DEBUG / `debug_file`) into events.

Two line prefixes exist in the wild:

* current (OpenSC >= 0.20): ``P:1234; T:0x7f12.. 17:26:04.855 [app] file.c:367:func: msg``
  (on Windows the thread is decimal and a date may precede the time);
* older: ``0x7f12.. 17:26:04.855 [app] file.c:367:func: msg`` (thread address and time
  only; some builds print a date instead of the thread).

APDUs are hex dumps on lines of their own after a prefixed line:
``Outgoing APDU (12 bytes):`` (current) or ``Outgoing APDU data [   12 bytes] =====``
closed by a line of ``=`` (older), then 16 bytes a line as ``00 A4 .. ascii``.

The reader never stops at a bad line: it records a warning naming the line and reads on.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple, Union

_TIME = r"(?:(?P<date>\d{4}-\d\d-\d\d) )?(?P<time>\d\d:\d\d:\d\d\.\d+)"
_TAIL = r" \[(?P<app>[^\]]*)\] (?:(?P<file>[^\s:]+):(?P<srcline>\d+):(?P<func>[A-Za-z_]\w*): ?)?(?P<msg>.*)$"
CURRENT = re.compile(r"^P:(?P<pid>\d+); T:(?P<tid>0x[0-9A-Fa-f]+|\d+) " + _TIME + _TAIL)
OLDER = re.compile(r"^(?:(?P<tid>0x[0-9A-Fa-f]+) )?" + _TIME + _TAIL)
DUMP_HEADER = re.compile(r"^(?P<dir>Outgoing|Incoming) APDU(?: data)? *[\(\[] *(?P<n>\d+) bytes[\)\]]")
HEX_BYTE = re.compile(r"^[0-9A-Fa-f]{2}$")


@dataclass
class LogLine:
    lineno: int
    thread: str                 # "P:<pid> T:<tid>" or "T:<tid>" or "-" when the log has none
    time: str
    app: str
    file: Optional[str]
    srcline: Optional[int]
    func: Optional[str]
    msg: str


@dataclass
class Dump:
    lineno: int                 # the "Outgoing APDU" line
    outgoing: bool
    declared: int
    data: bytes
    context: Optional[LogLine]  # the prefixed line just before: thread and time


Event = Union[LogLine, Dump]


@dataclass
class ReadResult:
    events: List[Event] = field(default_factory=list)
    warnings: List[Tuple[int, str]] = field(default_factory=list)
    form: Optional[str] = None  # "current", "older" or None: no OpenSC line seen
    lines: int = 0


def _thread_id(tid: str) -> str:
    """OpenSC prints the thread as "0x" + the decimal value of pthread_self()
    ("T:0x%lu"); shown in hex, it matches the spy trace's "T:0x7f.." of the same thread."""
    if tid.startswith("0x") and tid[2:].isdigit() and len(tid) > 12:
        return hex(int(tid[2:]))
    return tid


def _prefixed(lineno: int, text: str) -> Tuple[Optional[LogLine], Optional[str]]:
    for form, pattern in (("current", CURRENT), ("older", OLDER)):
        m = pattern.match(text)
        if m:
            d = m.groupdict()
            if form == "current":
                thread = f"P:{d['pid']} T:{_thread_id(d['tid'])}"
            else:
                thread = f"T:{d['tid']}" if d.get("tid") else "-"
            time = f"{d['date']} {d['time']}" if d.get("date") else d["time"]
            return LogLine(lineno, thread, time, d["app"], d["file"],
                           int(d["srcline"]) if d["srcline"] else None, d["func"], d["msg"]), form
    return None, None


def _hex_tokens(text: str, wanted: int) -> Tuple[List[int], bool]:
    """Up to `wanted` leading hex byte tokens of a dump line; False if a token is bad
    before `wanted` were read (the ASCII column after them is never parsed)."""
    out: List[int] = []
    for token in text.split():
        if len(out) == wanted:
            break
        if not HEX_BYTE.match(token):
            return out, False
        out.append(int(token, 16))
    return out, True


def read_lines(lines: Iterable[str]) -> ReadResult:
    result = ReadResult()
    context: Optional[LogLine] = None
    dump: Optional[Dump] = None
    got: List[int] = []

    def close_dump(lineno: int, reason: str = "") -> None:
        nonlocal dump, got
        if dump is None:
            return
        if len(got) != dump.declared:
            result.warnings.append((dump.lineno, f"APDU dump declares {dump.declared} bytes but "
                                                 f"{len(got)} were read{reason}"))
        dump.data = bytes(got)
        result.events.append(dump)
        dump, got = None, []

    for lineno, raw in enumerate(lines, 1):
        result.lines = lineno
        text = raw.rstrip("\r\n")
        if dump is not None:
            stripped = text.strip()
            if not stripped or stripped.startswith("====="):
                close_dump(lineno, f" (dump ended at line {lineno})")
                continue
            cut = _prefixed(lineno, text)[0] is not None
            if cut:                 # a log line inside the dump: the dump was cut short
                close_dump(lineno, f" (a log line follows at line {lineno})")
            elif len(got) < dump.declared and not DUMP_HEADER.match(stripped):
                wanted = min(16, dump.declared - len(got))
                values, ok = _hex_tokens(stripped, wanted)
                got.extend(values)
                if not ok or len(values) < wanted:
                    result.warnings.append((lineno, "unreadable hex in an APDU dump "
                                                    f"(kept {len(got)} of {dump.declared} bytes): "
                                                    f"{stripped[:40]!r}"))
                    dump.declared = len(got)  # warned once; keep what was read
                    close_dump(lineno)
                continue
            else:
                close_dump(lineno)
        header = DUMP_HEADER.match(text.strip())
        if header:
            dump = Dump(lineno, header.group("dir") == "Outgoing", int(header.group("n")), b"", context)
            got = []
            if dump.declared == 0:
                close_dump(lineno)
            continue
        line, form = _prefixed(lineno, text)
        if line is not None:
            result.form = result.form or form
            context = line
            result.events.append(line)
        # any other line (tool output on the same stderr, message continuations) is not ours
    close_dump(result.lines + 1, " (log ends inside the dump)")
    return result


def read_file(path: str) -> ReadResult:
    """Read a log file ("-": standard input); raises OSError if it cannot be opened and ValueError if it is
    not text."""
    if path == "-":
        blob = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            blob = f.read()
    if b"\x00" in blob[:65536]:
        raise ValueError("it is a binary file, not an OpenSC debug log")
    return read_lines(blob.decode("utf-8", errors="replace").splitlines())
