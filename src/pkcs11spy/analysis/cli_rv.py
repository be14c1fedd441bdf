"""`pkcs11spy rv CODE...`: what a return code means, in every table that knows it."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from .codes import Answer, lookup
from .run_cli import quiet_broken_pipe


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rv", help="explain PKCS#11, OpenSC and GSKit return codes",
        description="Explain return codes: 160, 0xA0, CKR_PIN_INCORRECT, -1214, "
                    "SC_ERROR_PIN_CODE_INCORRECT, 408, GSK_ERROR_BAD_KEYFILE_PASSWORD.")
    p.add_argument("codes", nargs="+", metavar="CODE")
    p.add_argument("--json", action="store_true", help="one JSON document for scripts")
    p.set_defaults(func=run)


def printable(text: str) -> str:
    """The query as typed, with control characters escaped (a pasted escape sequence must
    not drive the terminal)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def render(answer: Answer) -> List[str]:
    lines = []
    several = len(answer.readings) > 1
    shown = printable(answer.query)
    if several:
        lines.append(f"{shown}: {len(answer.readings)} readings")
    for r in answer.readings:
        lines.append(f"{'[' + r.table + '] ' if several else ''}{r.name}  ({r.table}: {r.numeric_forms()})")
        lines.append(f"  meaning: {r.meaning}")
        if r.causes != "-":
            lines.append(f"  causes:  {r.causes}")
        lines.append(f"  next:    {r.next_steps}")
    if not answer.known:
        lines.append(f"{shown}: unknown code")
    lines.extend(f"  note: {n}" for n in answer.notes)
    return lines


def as_json(answer: Answer) -> dict:
    return {"query": answer.query, "known": answer.known, "notes": answer.notes,
            "readings": [{"table": r.table, "name": r.name, "value": r.value,
                          "hex": f"0x{r.value:08X}" if r.value >= 0 else None,
                          "meaning": r.meaning, "causes": r.causes, "next": r.next_steps}
                         for r in answer.readings]}


@quiet_broken_pipe
def run(args: argparse.Namespace) -> int:
    answers = [lookup(c) for c in args.codes]
    if args.json:
        json.dump([as_json(a) for a in answers], sys.stdout, indent=2)
        print()
    else:
        print("\n\n".join("\n".join(render(a)) for a in answers))
    return 0 if all(a.is_ok for a in answers) else 1
