"""Streaming reader of text traces: ours (pkcs11spy) and OpenSC's pkcs11-spy, old form
(a timestamp line only) and new form (``P:<pid>; T:0x<tid> <time>``).

One pass, line by line; only calls that have not returned yet are kept, so memory does
not grow with the trace.  Damaged input (lines fused by threads writing without a lock,
a cut-off last record) is read as far as it makes sense, with a warning naming the line."""
from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Iterator, Optional, Tuple

from .codes import ckr_name
from .records import Event, TraceArg, TraceCall, Warning_

HEADER = re.compile(r"^(\d+): (C_\w+)( <resumed>)?\s*$")
TIMELINE_NEW = re.compile(r"^P:(\d+); T:(0x[0-9a-fA-F]+|\d+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*$")
TIMELINE_OLD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*$")
RETURNED = re.compile(r"^Returned:\s+(-?\d+)(?:\s+(\(null\)|[A-Za-z_0-9+]+))?(?:\s+\((\d+(?:\.\d+)?) ms\))?\s*$")
BANNER = re.compile(r"^\*{3,}\s*(.*?)\s*\*{3,}\s*$")
LOADED = re.compile(r'^Loaded: "(.*)"\s*$')
ARG = re.compile(r"^\[(in|out)\] (.*)$")
ARG_ASSIGN = re.compile(r"^(\S+) =(?: (.*))?$")
ARG_BLOCK = re.compile(r"^(\S+?):\s*(.*)$")
ARG_BUFFER = re.compile(r"^(\S+) ([0-9a-fA-F]{8,16} / -?\d+.*)$")
HEXROW = re.compile(r"^\s{4}[0-9A-Fa-f]{8}  ((?:[0-9A-Fa-f]{2} ?){1,16})")
# Pieces that begin a new record or line; OpenSC fuses them onto other lines when threads race.
FUSED = re.compile(r"(?<=.)(Returned:\s+-?\d|(?<![*\s])\*{5,} |P:\d+; T:|(?<![0-9A-Fa-fx\s])\d+: C_\w+\s*$)")
MAX_BYTES = 512
MAX_WARNINGS = 50

Warn = Callable[[Warning_], None]


class TextReader:
    def __init__(self, source: str, warn: Warn) -> None:
        self.source = source
        self.warn = warn
        self.fmt = "text"
        # Set by our banner only (a guess from the first call's layout is not enough: an
        # OpenSC log cut before its banner has the same P:/T: lines): our records are
        # whole, never fused.
        self.whole_records = False
        self.in_stats = False  # inside our statistics table (PKCS11SPY_STATS)
        self.banners = 0
        self.module: Optional[str] = None
        self.current: Optional[TraceCall] = None
        self.arg: Optional[TraceArg] = None
        self.pending: Dict[Tuple[str, int], TraceCall] = {}
        self.header: Optional[Tuple[int, str, bool, int]] = None  # seq, fn, resumed, line
        self.calls = 0
        self.warnings = 0
        self.lineno = 0

    # -- helpers -------------------------------------------------------------------------
    def _warn(self, line: int, message: str) -> None:
        self.warnings += 1
        if self.warnings <= MAX_WARNINGS:
            self.warn(Warning_(self.source, line, message))
        elif self.warnings == MAX_WARNINGS + 1:
            self.warn(Warning_(self.source, line, "more warnings in this file are not shown"))

    def _default_process(self) -> str:
        return f"#{max(self.banners, 1)}"

    def _enter(self, call: TraceCall) -> Iterator[Event]:
        if not call.entered:
            call.entered = True
            yield Event("enter", call)

    def _close_part(self) -> Iterator[Event]:
        """The current record part ends (a new header, a banner, the end of the file)."""
        call = self.current
        if call is not None:
            yield from self._enter(call)
            if not call.returned:
                self.pending[(call.process, call.seq)] = call
        self.current, self.arg = None, None

    # -- main loop ---------------------------------------------------------------------
    def events(self, lines: Iterable[str]) -> Iterator[Event]:
        last = ""
        for raw in lines:
            self.lineno += 1
            last = raw
            line = raw.rstrip("\r\n")
            for piece in self._split_fused(line):
                yield from self._line(piece)
        if self.header is not None:
            yield from self._start_call(None)
        if last and not last.endswith("\n"):
            self._warn(self.lineno, "the file ends in the middle of a line (truncated trace?)")
        yield from self._close_part()
        for call in list(self.pending.values()):
            yield Event("hang", call)
        self.pending.clear()

    def _split_fused(self, line: str) -> Iterator[str]:
        # Our own traces are never fused (each record part is one write, under a lock), and
        # splitting them would turn application bytes (a hex row, a name) into records.
        if self.whole_records:
            yield line
            return
        if not ("Returned:" in line[1:] or ": C_" in line or "*****" in line or "; T:" in line):
            yield line  # the common case, without a regular expression
            return
        m = FUSED.search(line)
        if m is None:
            yield line
            return
        self._warn(self.lineno, f"two records fused on one line (threads writing without a lock): {line[:80]!r}")
        yield line[:m.start()]
        yield from self._split_fused(line[m.start():])

    def _line(self, line: str) -> Iterator[Event]:
        if self.in_stats:  # the table ends at a blank line, or where a record or banner starts
            if line.strip() and not (line[:1].isdigit() and HEADER.match(line)) and line[:1] != "*":
                return
            self.in_stats = False
        if self.header is not None:
            t = TIMELINE_NEW.match(line)
            if t:
                yield from self._start_call((t.group(1), t.group(2), t.group(3)))
                return
            t = TIMELINE_OLD.match(line)
            if t:
                yield from self._start_call((None, None, t.group(1)))
                return
            yield from self._start_call(None)
        first = line[:1]
        if first == "[":
            a = ARG.match(line)
            if a:
                yield from self._argument(a.group(1), a.group(2))
                return
        elif first == " " and self.arg is not None:
            self._detail(line)
            return
        h = HEADER.match(line) if first.isdigit() else None
        if h:
            yield from self._close_part()
            self.header = (int(h.group(1)), h.group(2), bool(h.group(3)), self.lineno)
            return
        b = BANNER.match(line) if first == "*" else None
        if b and b.group(1).startswith("pkcs11spy statistics"):
            yield from self._close_part()
            self.in_stats = True
            return
        if b:
            yield from self._close_part()
            self.whole_records = "pkcs11spy" in b.group(1)
            self.banners += 1
            self.fmt = "opensc" if "OpenSC" in b.group(1) else "pkcs11spy" if "pkcs11spy" in b.group(1) else self.fmt
            self.banner_tool = b.group(1)
            return
        loaded = LOADED.match(line)
        if loaded:
            self.module = loaded.group(1)
            yield Event("banner", module=self.module, process=self._default_process(),
                        extra={"tool": getattr(self, "banner_tool", ""), "source": self.source})
            return
        if line.startswith("Tracing: "):  # our banner: calls were left out on purpose
            yield Event("partial", process=self._default_process(),
                        extra={"what": line[len("Tracing: "):].strip(), "source": self.source})
            return
        r = RETURNED.match(line)
        if r:
            yield from self._returned(r)
            return
        if line.startswith("Returned:"):
            self._warn(self.lineno, f"malformed Returned line: {line[:80]!r}")
            return
        a = ARG.match(line)
        if a:
            yield from self._argument(a.group(1), a.group(2))
            return
        if not line.strip():
            return
        if self.arg is not None:
            self._detail(line)
        elif self.current is None and not line.startswith("["):
            self._warn(self.lineno, f"line outside any call record ignored: {line[:80]!r}")

    def _start_call(self, timeline) -> Iterator[Event]:
        seq, fn, resumed, at = self.header
        self.header = None
        process = timeline[0] if timeline and timeline[0] else self._default_process()
        tid = timeline[1] if timeline else None
        key = (process, seq)
        if resumed:
            call = self.pending.pop(key, None)
            if call is None or call.function != fn:
                self._warn(at, f"'<resumed>' part of call {seq} {fn} whose start is not in this file")
                call = TraceCall(self.source, at, self.fmt, process, seq, fn, tid, timeline and timeline[2],
                                 module=self.module, entered=True)
                yield Event("enter", call)
            self.current = call
            self.arg = None
            return
        if key in self.pending:
            stale = self.pending.pop(key)
            if self.fmt == "opensc":
                # OpenSC's call counter is not atomic: two threads can get the same number.
                # Both calls are still waiting for their result.
                self._warn(at, f"call number {seq} given twice (OpenSC's counter races between threads)")
                self.pending[(process, seq, stale.line)] = stale  # type: ignore[index]
            else:
                self._warn(at, f"call number {seq} reused before {stale.function} (line {stale.line}) returned")
                yield Event("hang", stale)
        self.calls += 1
        if self.calls == 1 and self.fmt == "text":
            self.fmt = "pkcs11spy" if timeline and timeline[0] else "opensc"
        self.current = TraceCall(self.source, at, self.fmt, process, seq, fn, tid,
                                 timeline[2] if timeline else None, module=self.module)
        self.arg = None

    def _owner_for_output(self, what: str) -> Optional[TraceCall]:
        """The call an [out] or Returned line belongs to.  Normally the current record;
        when threads interleaved, the most recent call still waiting for its result."""
        if self.current is not None and not self.current.returned:
            return self.current
        waiting = [c for c in self.pending.values() if c.fmt != "pkcs11spy"]
        if not waiting:
            self._warn(self.lineno, f"{what} outside any call record ignored")
            return None
        call = waiting[-1]
        self._warn(self.lineno, f"{what} outside its record (threads interleaved); attributed to "
                                f"#{call.seq} {call.function} of line {call.line}")
        self.pending = {k: c for k, c in self.pending.items() if c is not call}
        self.current = call
        return call

    def _argument(self, side: str, rest: str) -> Iterator[Event]:
        call = self.current if side == "in" else self._owner_for_output("[out] line")
        if call is None:
            if side == "in":
                self._warn(self.lineno, "[in] line outside any call record ignored")
            return
        if side == "out":
            yield from self._enter(call)
        arg = _parse_arg(rest)
        if arg is None:
            return
        (call.ins if side == "in" else call.outs).append(arg)
        self.arg = arg

    def _detail(self, line: str) -> None:
        h = HEXROW.match(line)
        if h:
            data = bytes.fromhex(h.group(1).replace(" ", ""))
            have = getattr(self.arg, "data", None) or b""
            if len(have) < MAX_BYTES:
                self.arg.data = have + data  # type: ignore[attr-defined]
            return
        self.arg.add_detail(line.strip())

    def _returned(self, m: "re.Match") -> Iterator[Event]:
        call = self._owner_for_output("Returned line")
        if call is None:
            return
        yield from self._enter(call)
        rv = int(m.group(1))
        if rv < 0:
            rv += 1 << 64
        name = m.group(2)
        call.rv = rv
        call.rv_name = name if name and name != "(null)" and not name.startswith("0x") else ckr_name(rv)
        call.duration_ms = float(m.group(3)) if m.group(3) else None
        self.arg = None
        yield Event("exit", call)


def _parse_arg(rest: str) -> Optional[TraceArg]:
    rest = rest.rstrip()
    m = ARG_ASSIGN.match(rest)
    if m:
        return TraceArg(m.group(1), (m.group(2) or "").strip())
    m = ARG_BUFFER.match(rest)
    if m:
        return TraceArg(m.group(1), m.group(2).strip())
    m = ARG_BLOCK.match(rest)
    if m:
        return TraceArg(m.group(1), m.group(2).strip())
    parts = rest.split(None, 1)
    if not parts:
        return None
    return TraceArg(parts[0], parts[1].strip() if len(parts) > 1 else "")
