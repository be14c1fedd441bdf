"""A finding: which calls, what happened, what to check."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from .records import TraceCall


@dataclass
class Finding:
    rule: str
    calls: List[TraceCall]
    what: str
    check: str
    details: List[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rule": self.rule, "what": self.what, "check": self.check, "details": self.details,
                "calls": [{"call": c.seq, "function": c.function, "process": c.process, "thread": c.tid,
                           "file": c.source, "line": c.line, "rv": c.rv, "rv_name": c.rv_name}
                          for c in self.calls]}

    def render(self) -> List[str]:
        refs = ", ".join(f"#{c.seq} {c.function}" for c in self.calls)
        where = self.calls[0] if self.calls else None
        loc = f" [process {where.process}, line {where.line}]" if where else ""
        lines = [f"[{self.rule}] {refs}{loc}", f"  what:  {self.what}", f"  check: {self.check}"]
        lines.extend(f"  {d}" for d in self.details)
        return lines
