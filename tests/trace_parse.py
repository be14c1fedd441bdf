"""A small strict reader of our text trace, for the tests: splits it into records and
checks the layout rules (this is deliberately independent of the renderer's code)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

HEADER = re.compile(r"^(\d+): (C_\w+)( <resumed>)?$")
TIMELINE = re.compile(r"^P:(\d+); T:0x([0-9a-f]+) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
RETURNED = re.compile(r"^Returned:  (\d+) (\S+) \((\d+\.\d{3}) ms\)$")


@dataclass
class Record:
    seq: int
    function: str
    pid: int
    tid: str
    lines: List[str] = field(default_factory=list)
    rv: Optional[int] = None
    rv_name: str = ""
    resumed_parts: int = 0

    @property
    def ins(self) -> List[str]:
        return [ln for ln in self.lines if ln.startswith("[in] ")]

    @property
    def outs(self) -> List[str]:
        return [ln for ln in self.lines if ln.startswith("[out] ")]

    def text(self) -> str:
        return "\n".join(self.lines)


def parse(text: str) -> List[Record]:
    """Every record, in file order; raises AssertionError on a layout violation."""
    records: dict = {}
    order: List[Record] = []
    current: Optional[Record] = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = HEADER.match(line)
        if m:
            seq, fn, resumed = int(m.group(1)), m.group(2), bool(m.group(3))
            t = TIMELINE.match(lines[i + 1])
            assert t, f"line {i + 2}: no P:/T: time line after {line!r}: {lines[i + 1]!r}"
            key = (int(t.group(1)), seq)  # numbers are per process; files may hold several
            if resumed:
                assert key in records, f"line {i + 1}: resumed call {seq} was never started"
                current = records[key]
                assert current.function == fn
                current.resumed_parts += 1
            else:
                assert key not in records, f"line {i + 1}: call number {seq} appears twice"
                current = Record(seq, fn, key[0], t.group(2))
                records[key] = current
                order.append(current)
            i += 2
            continue
        if line.startswith("*************** pkcs11spy ") or line.startswith("Loaded: "):
            current = None  # a new process's banner
        elif current is not None and line:
            r = RETURNED.match(line)
            if r:
                assert current.rv is None, f"line {i + 1}: second Returned line for call {current.seq}"
                current.rv, current.rv_name = int(r.group(1)), r.group(2)
            elif line.startswith("Returned:"):
                raise AssertionError(f"line {i + 1}: malformed Returned line {line!r}")
            else:
                assert current.rv is None, f"line {i + 1}: {line!r} after call {current.seq} returned"
                current.lines.append(line)
        i += 1
    return order
