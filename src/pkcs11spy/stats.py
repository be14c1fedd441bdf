"""Per-function statistics (``PKCS11SPY_STATS=1``), like NSS's debug module.

C counts every call, traced or filtered out (``spy_stats_add`` in _shim.c: calls, errors
by return code, total and max time, sessions open at once); this module only copies the
counters and formats the table.  It is written at ``C_Finalize`` and at normal process
exit, each time only if calls were made since the table was last written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

from . import catalog
from .functions import FUNCTIONS


@dataclass
class FunctionStats:
    name: str
    calls: int
    errors: int
    total_ns: int
    max_ns: int
    by_rv: Dict[str, int] = field(default_factory=dict)

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.calls if self.calls else 0.0


@dataclass
class Snapshot:
    functions: List[FunctionStats]
    sessions_max: int
    unrecorded_errors: int  # errors beyond the C table's room (counted, not by code)
    dirty: bool

    @property
    def total_ns(self) -> int:
        return sum(f.total_ns for f in self.functions)

    @property
    def calls(self) -> int:
        return sum(f.calls for f in self.functions)


def collect(ffi, lib, clear_dirty: bool = True) -> Snapshot:
    """A consistent copy of the C counters."""
    fns = ffi.new("struct spy_fn_stats[]", len(FUNCTIONS))
    rvs = ffi.new("struct spy_rv_count[]", lib.SPY_RV_SLOTS)
    sessions = ffi.new("long *")
    overflow = ffi.new("unsigned long long *")
    dirty = ffi.new("int *")
    n = lib.spy_get_stats(fns, rvs, sessions, overflow, dirty, 1 if clear_dirty else 0)
    rv_family = catalog.family("CKR")
    by_fn: Dict[int, Dict[str, int]] = {}
    for i in range(n):
        entry = rvs[i]
        by_fn.setdefault(int(entry.fn), {})[rv_family.name_of(int(entry.rv))] = int(entry.count)
    functions = [FunctionStats(f.name, int(fns[f.index].calls), int(fns[f.index].errors),
                               int(fns[f.index].total_ns), int(fns[f.index].max_ns),
                               dict(sorted(by_fn.get(f.index, {}).items())))
                 for f in FUNCTIONS if fns[f.index].calls]
    return Snapshot(functions, int(sessions[0]), int(overflow[0]), bool(dirty[0]))


def as_dict(s: Snapshot) -> dict:
    """The table for the JSON ``stats`` event."""
    total = s.total_ns or 1
    return {
        "calls": s.calls,
        "total_us": round(s.total_ns / 1000, 3),
        "sessions_max": s.sessions_max,
        "unrecorded_errors": s.unrecorded_errors,
        "functions": [{
            "function": f.name, "calls": f.calls, "errors": f.errors, "errors_by_rv": f.by_rv,
            "total_us": round(f.total_ns / 1000, 3), "mean_us": round(f.mean_ns / 1000, 3),
            "max_us": round(f.max_ns / 1000, 3), "share": round(f.total_ns / total, 4),
        } for f in sorted(s.functions, key=lambda f: -f.total_ns)],
    }


def render_text(s: Snapshot, pid: int, when: str) -> str:
    """A fixed-width table, most time first."""
    total = s.total_ns or 1
    lines = ["", f"*************** pkcs11spy statistics ({when}, P:{pid}) ***************",
             f"{'function':<26} {'calls':>8} {'errors':>7} {'total ms':>11} {'mean us':>10} "
             f"{'max us':>10} {'share':>6}"]
    for f in sorted(s.functions, key=lambda f: -f.total_ns):
        lines.append(f"{f.name:<26} {f.calls:>8} {f.errors:>7} {f.total_ns / 1e6:>11.3f} "
                     f"{f.mean_ns / 1e3:>10.1f} {f.max_ns / 1e3:>10.1f} {100 * f.total_ns / total:>5.1f}%")
        for name, count in f.by_rv.items():
            lines.append(f"    {name:<40} {count:>8}")
    lines.append(f"{'total':<26} {s.calls:>8} {sum(f.errors for f in s.functions):>7} "
                 f"{s.total_ns / 1e6:>11.3f}")
    lines.append(f"most sessions open at once: {s.sessions_max}")
    if s.unrecorded_errors:
        lines.append(f"errors not broken down by return code (table full): {s.unrecorded_errors}")
    return "\n".join(lines) + "\n"
