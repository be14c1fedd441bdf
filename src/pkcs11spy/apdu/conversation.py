"""Turn log events into the card conversation: exchanges, who caused them, and
OpenSC's error chains.

Per thread it keeps
* a call stack rebuilt from OpenSC's ``func: called`` and ``func: returning with: N``
  lines (functions that log only one of the two are tolerated: a return pops down to
  the returning function if it is on the stack, and is ignored otherwise);
* the PKCS#11 function in progress: opened by a line logged from a ``C_*`` function,
  closed by its ``C_X(...) = CKR_...`` line. Work logged before the opening line (as
  in ``C_Initialize``, which logs only its result) is attributed when the result line
  comes.

An error chain is the run of ``returning with: -NNNN`` lines by which one failure
climbs the stack: an error return continues the open chain of its thread when the
returning function was a caller of the chain's last function, or when no new call
started in between. The first entry of a chain is where the error came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from . import iso7816, tables
from .logread import Dump, LogLine, ReadResult

RETURNING = re.compile(r"^returning with: (?P<code>-?\d+)(?: \((?P<text>[^)]*)\))?")
TRANSPORT_ERROR = re.compile(r"(?P<code>-\d+) \((?P<text>[^)]*)\)")
PKCS11_RESULT = re.compile(r"^(?P<func>C_\w+)\(.*\) = (?P<rv>CKR_\w+|0x[0-9A-Fa-f]+)")
PKCS11_FUNC = re.compile(r"^C_[A-Z]\w*$")


def _seconds(stamp: str) -> Optional[float]:
    """Seconds since midnight of "[YYYY-MM-DD ]HH:MM:SS.fff"."""
    try:
        hh, mm, ss = stamp.rsplit(" ", 1)[-1].split(":")
        return int(hh) * 3600 + int(mm) * 60 + float(ss)
    except ValueError:
        return None


@dataclass
class Exchange:
    number: int
    lineno: int                      # line of the "Outgoing APDU" header
    thread: str
    time: str
    command: iso7816.Command
    response: Optional[iso7816.Response] = None
    response_lineno: Optional[int] = None
    response_time: Optional[str] = None
    opensc: List[str] = field(default_factory=list)   # callers, outermost first
    pkcs11: Optional[str] = None
    pkcs11_rv: Optional[str] = None
    transport_error: Optional[str] = None
    continued: bool = False          # 61xx / 6Cxx answered by the next exchange

    @property
    def duration_ms(self) -> Optional[float]:
        """Command to response, from the log's times (millisecond resolution)."""
        start, end = _seconds(self.time), _seconds(self.response_time or "")
        if start is None or end is None:
            return None
        if end < start:                 # the exchange crossed midnight
            end += 86400
        return round((end - start) * 1000, 3)

    @property
    def final_error(self) -> bool:
        """An exchange the card or the reader did not complete with 9000."""
        if self.transport_error or self.response is None:
            return True
        return not self.continued and not iso7816.is_success(self.response.sw)


@dataclass
class ChainLink:
    lineno: int
    func: str
    where: str                       # file.c:line
    code: int
    text: str


@dataclass
class ErrorChain:
    thread: str
    links: List[ChainLink] = field(default_factory=list)
    pkcs11: Optional[str] = None

    @property
    def first(self) -> ChainLink:
        return self.links[0]


@dataclass
class Conversation:
    exchanges: List[Exchange] = field(default_factory=list)
    chains: List[ErrorChain] = field(default_factory=list)
    warnings: List[Tuple[int, str]] = field(default_factory=list)
    form: Optional[str] = None
    opensc_version: Optional[str] = None
    lines: int = 0
    pkcs11_calls: List[Tuple[int, str, str, str]] = field(default_factory=list)  # line, thread, func, rv


@dataclass
class _Thread:
    stack: List[str] = field(default_factory=list)
    pkcs11: Optional[str] = None
    unattributed: List[Exchange] = field(default_factory=list)
    unattributed_chains: List["ErrorChain"] = field(default_factory=list)
    pending: Optional[Exchange] = None
    chain: Optional[ErrorChain] = None
    chain_callers: List[str] = field(default_factory=list)
    called_since_error: bool = True


MAX_STACK = 64  # a log that never returns must not grow without bound


class _Builder:
    def __init__(self, show_secrets: bool) -> None:
        self.show_secrets = show_secrets
        self.conv = Conversation()
        self.threads: Dict[str, _Thread] = {}
        self.transport = tables.transport_functions()

    def thread(self, name: str) -> _Thread:
        return self.threads.setdefault(name, _Thread())

    # -- log lines -------------------------------------------------------------------
    def line(self, line: LogLine) -> None:
        t = self.thread(line.thread)
        func, msg = line.func, line.msg
        if func and self.conv.opensc_version is None and msg.startswith("opensc version: "):
            self.conv.opensc_version = msg.split(": ", 1)[1].strip()
        if func and PKCS11_FUNC.match(func):
            self.pkcs11_line(t, line)
        if not func:
            return
        if func in t.stack and not msg.startswith("called"):
            # G logs, so every function above G on the stack has returned (many
            # return without a "returning with" line)
            del t.stack[len(t.stack) - t.stack[::-1].index(func):]
        if msg.startswith("called"):
            t.stack.append(func)
            del t.stack[:-MAX_STACK]
            t.called_since_error = True
            return
        m = RETURNING.match(msg)
        if m:
            self.returning(t, line, int(m.group("code")), m.group("text") or "")
            return
        if t.pending is not None and func in self.transport:
            err = TRANSPORT_ERROR.search(msg)
            if err and "transmit" in msg:
                t.pending.transport_error = f"{err.group('code')} ({err.group('text')})"

    def pkcs11_line(self, t: _Thread, line: LogLine) -> None:
        result = PKCS11_RESULT.match(line.msg)
        if result and result.group("func") == line.func:
            for ex in t.unattributed:
                ex.pkcs11, ex.pkcs11_rv = line.func, result.group("rv")
            for chain in t.unattributed_chains:
                chain.pkcs11 = line.func
            t.unattributed, t.unattributed_chains = [], []
            t.pkcs11 = None
            self.conv.pkcs11_calls.append((line.lineno, line.thread, line.func or "", result.group("rv")))
            return
        if t.pkcs11 != line.func:
            # a new call: what came before it stays with no PKCS#11 function
            t.pkcs11 = line.func
            t.unattributed, t.unattributed_chains = [], []

    def returning(self, t: _Thread, line: LogLine, code: int, text: str) -> None:
        func = line.func or ""
        callers = list(t.stack)
        if func in t.stack:
            index = len(t.stack) - 1 - t.stack[::-1].index(func)
            callers = t.stack[:index]
            del t.stack[index:]
        if code >= 0:
            return
        link = ChainLink(line.lineno, func, f"{line.file}:{line.srcline}", code, text)
        continues = t.chain is not None and (func in t.chain_callers or not t.called_since_error)
        if continues and t.chain is not None:
            t.chain.links.append(link)
        else:
            t.chain = ErrorChain(line.thread, [link], pkcs11=t.pkcs11)
            self.conv.chains.append(t.chain)
            t.unattributed_chains.append(t.chain)
        t.chain_callers = callers
        t.called_since_error = False

    # -- APDU dumps ------------------------------------------------------------------
    def dump(self, dump: Dump) -> None:
        ctx = dump.context
        name = ctx.thread if ctx else "-"
        t = self.thread(name)
        time = ctx.time if ctx else ""
        if dump.outgoing:
            self.finish(t)
            ex = Exchange(len(self.conv.exchanges) + 1, dump.lineno, name, time,
                          iso7816.decode_command(dump.data, self.show_secrets),
                          opensc=[f for f in t.stack if f not in self.transport],
                          pkcs11=t.pkcs11)
            self.conv.exchanges.append(ex)
            t.unattributed.append(ex)
            t.pending = ex
            t.called_since_error = True
            return
        if t.pending is None:
            self.conv.warnings.append((dump.lineno, "a response with no command before it on its thread"))
            return
        t.pending.response = iso7816.decode_response(dump.data, t.pending.command, self.show_secrets)
        t.pending.response_lineno = dump.lineno
        t.pending.response_time = time
        t.pending = None

    def finish(self, t: _Thread) -> None:
        if t.pending is not None and t.pending.transport_error is None:
            t.pending.transport_error = "no response in the log"
        t.pending = None

    def done(self) -> Conversation:
        for t in self.threads.values():
            self.finish(t)
        _mark_continued(self.conv.exchanges)
        return self.conv


def _mark_continued(exchanges: List[Exchange]) -> None:
    """61xx followed by GET RESPONSE, 6Cxx followed by the same command again (on the
    same thread): the later exchange carries the final status."""
    last: Dict[str, Exchange] = {}
    for ex in exchanges:
        prev = last.get(ex.thread)
        last[ex.thread] = ex
        if prev is None or prev.response is None or prev.response.sw is None:
            continue
        sw1 = prev.response.sw >> 8
        if sw1 == 0x61 and ex.command.ins == 0xC0:
            prev.continued = True
        elif sw1 == 0x6C and ex.command.header == prev.command.header:
            prev.continued = True


def build(read: ReadResult, show_secrets: bool = False) -> Conversation:
    builder = _Builder(show_secrets)
    for event in read.events:
        if isinstance(event, Dump):
            builder.dump(event)
        else:
            builder.line(event)
    conv = builder.done()
    conv.warnings = sorted(read.warnings + conv.warnings)
    conv.form = read.form
    conv.lines = read.lines
    return conv
