"""What the two renderers share: a whole record part made from the record model, built
from per-argument fragments the same way the tracer builds it (tools and tests use these;
the tracer reuses fragments, see recorder.py)."""
from __future__ import annotations

from typing import Callable, List

from ..model import Call

THREE_DIGITS: List[str] = [f"{n:03d}" for n in range(1000)]  # "000" .. "999", for times


def enter_from_model(call: Call, enter_part: Callable[..., str], arg_fragment: Callable[..., str]) -> str:
    return enter_part(call.seq, call.function, call.pid, call.tid, call.wall_ns,
                      [arg_fragment("[in]", a) for a in call.inputs], call.notes)


def exit_from_model(call: Call, exit_part: Callable[..., str], arg_fragment: Callable[..., str]) -> str:
    return exit_part(call.seq, call.function, call.pid, call.tid, call.wall_ns, call.resumed,
                     call.rv if call.rv is not None else 0, call.rv_name, call.duration_ns,
                     [arg_fragment("[out]", a) for a in call.outputs], call.exit_notes)
