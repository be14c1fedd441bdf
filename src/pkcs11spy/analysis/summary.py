"""`pkcs11spy summary`: what a trace contains, gathered in one pass with bounded memory."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from .records import Event, TraceCall

MAX_LISTED = 200  # non-OK returns and logins listed; the rest are counted


@dataclass
class FunctionStats:
    calls: int = 0
    errors: int = 0
    timed: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


@dataclass
class ProcessInfo:
    module: Optional[str] = None
    threads: Set[str] = field(default_factory=set)
    calls: int = 0
    first: Optional[str] = None
    last: Optional[str] = None
    open_sessions: Set[int] = field(default_factory=set)


def _entry(call: TraceCall, **extra) -> dict:
    d = {"call": call.seq, "function": call.function, "process": call.process, "file": call.source,
         "line": call.line}
    d.update(extra)
    return d


class Summary:
    def __init__(self) -> None:
        self.modules: Dict[str, str] = {}
        self.processes: Dict[str, ProcessInfo] = {}
        self.functions: Dict[str, FunctionStats] = {}
        self.failures: List[dict] = []
        self.failures_total = 0
        self.logins: List[dict] = []
        self.logins_total = 0
        self.sessions_opened = 0
        self.sessions_closed = 0
        self.unreturned: List[dict] = []
        self.calls = 0

    def _process(self, key: str) -> ProcessInfo:
        return self.processes.setdefault(key, ProcessInfo())

    def feed(self, event: Event) -> None:
        if event.kind == "banner":
            self.modules[event.module or "?"] = event.extra.get("tool", "")
            return
        call = event.call
        if event.kind == "enter":
            self.calls += 1
            p = self._process(call.process)
            p.calls += 1
            if call.module:
                p.module = call.module
            if call.tid:
                p.threads.add(call.tid)
            if call.time:
                p.first = p.first or call.time
                p.last = call.time
            self.functions.setdefault(call.function, FunctionStats()).calls += 1
        elif event.kind == "exit":
            self._exit(call)
        elif event.kind == "hang":
            self.unreturned.append(_entry(call, thread=call.tid))

    def _exit(self, call: TraceCall) -> None:
        stats = self.functions.setdefault(call.function, FunctionStats())
        if call.duration_ms is not None:
            stats.timed += 1
            stats.total_ms += call.duration_ms
            stats.max_ms = max(stats.max_ms, call.duration_ms)
        if not call.ok:
            stats.errors += 1
            self.failures_total += 1
            if len(self.failures) < MAX_LISTED:
                self.failures.append(_entry(call, rv=call.rv, rv_name=call.rv_name))
        p = self._process(call.process)
        if call.function == "C_OpenSession" and call.ok:
            self.sessions_opened += 1
            h = call.number("phSession", "out")
            if h is not None:
                p.open_sessions.add(h)
        elif call.function == "C_CloseSession" and call.ok:
            self.sessions_closed += 1
            p.open_sessions.discard(call.session or -1)
        elif call.function == "C_CloseAllSessions" and call.ok:
            self.sessions_closed += len(p.open_sessions)
            p.open_sessions.clear()
        elif call.function == "C_Finalize" and call.ok:
            p.open_sessions.clear()
        elif call.function == "C_Login":
            self.logins_total += 1
            if len(self.logins) < MAX_LISTED:
                self.logins.append(_entry(call, user=call.text("userType") or "?", rv=call.rv,
                                          rv_name=call.rv_name))

    def as_dict(self) -> dict:
        return {
            "modules": [{"module": m, "tool": t} for m, t in self.modules.items()],
            "calls": self.calls,
            "processes": [{"process": k, "module": p.module, "threads": sorted(p.threads), "calls": p.calls,
                           "first": p.first, "last": p.last, "sessions_left_open": sorted(p.open_sessions)}
                          for k, p in self.processes.items()],
            "functions": [{"function": f, "calls": s.calls, "errors": s.errors,
                           "total_ms": round(s.total_ms, 3) if s.timed else None,
                           "average_ms": round(s.total_ms / s.timed, 3) if s.timed else None,
                           "max_ms": round(s.max_ms, 3) if s.timed else None}
                          for f, s in sorted(self.functions.items(), key=lambda kv: -kv[1].calls)],
            "failures": self.failures, "failures_total": self.failures_total,
            "sessions": {"opened": self.sessions_opened, "closed": self.sessions_closed},
            "logins": self.logins, "logins_total": self.logins_total,
            "unreturned": self.unreturned,
        }

    def render(self) -> List[str]:
        d = self.as_dict()
        out = []
        for m in d["modules"]:
            out.append(f"module: {m['module']}" + (f"  (traced by {m['tool']})" if m["tool"] else ""))
        out.append(f"calls: {d['calls']} in {len(d['processes'])} process(es)")
        for p in d["processes"]:
            span = f", {p['first']} .. {p['last']}" if p["first"] else ""
            threads = f"{len(p['threads'])} thread(s): {', '.join(p['threads'][:8])}" if p["threads"] else "threads not recorded"
            out.append(f"  process {p['process']}: {p['calls']} calls, {threads}{span}")
        out.append("")
        out.append(f"{'function':<28} {'calls':>7} {'errors':>7} {'total ms':>10} {'avg ms':>9} {'max ms':>9}")
        for f in d["functions"]:
            def ms(v):
                return "-" if v is None else f"{v:.3f}"
            out.append(f"{f['function']:<28} {f['calls']:>7} {f['errors']:>7} {ms(f['total_ms']):>10} "
                       f"{ms(f['average_ms']):>9} {ms(f['max_ms']):>9}")
        out.append("")
        out.append(f"non-OK returns: {d['failures_total']}")
        for e in d["failures"]:
            out.append(f"  #{e['call']} {e['function']} -> {e['rv_name']} ({e['rv']}, 0x{e['rv']:X})  "
                       f"[process {e['process']}, line {e['line']}]")
        if d["failures_total"] > len(d["failures"]):
            out.append(f"  ... {d['failures_total'] - len(d['failures'])} more not listed")
        left = sum(len(p["sessions_left_open"]) for p in d["processes"])
        out.append(f"sessions: {d['sessions']['opened']} opened, {d['sessions']['closed']} closed, "
                   f"{left} left open when the trace ends (C_Finalize closes the rest)")
        out.append(f"logins: {d['logins_total']}")
        for e in d["logins"]:
            out.append(f"  #{e['call']} C_Login {e['user']} -> {e['rv_name']}  [process {e['process']}, line {e['line']}]")
        out.append(f"calls that never returned: {len(d['unreturned'])}")
        for e in d["unreturned"]:
            out.append(f"  #{e['call']} {e['function']} [process {e['process']}, thread {e['thread']}, line {e['line']}]")
        return out
