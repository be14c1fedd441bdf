"""`pkcs11spy analyze TRACE...`: known mistakes in call sequences, each with its calls,
what happened and what to check."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from .rules import Analyzer
from .run_cli import EXIT_CLEAN, EXIT_FOUND, EXIT_UNUSABLE, add_trace_arguments, feed_all, quiet_broken_pipe


def register(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="find known mistakes in a trace",
                              description="Flag known mistakes in PKCS#11 call sequences (wrong PIN, "
                                          "context-specific login out of place, leaked sessions, ...).")
    add_trace_arguments(p)
    p.set_defaults(func=run)


@quiet_broken_pipe
def run(args: argparse.Namespace) -> int:
    analyzer = Analyzer()
    warnings: List[str] = []
    usable = feed_all(args.traces, analyzer.feed, warnings)
    analyzer.finish()
    findings = sorted(analyzer.findings, key=lambda f: (f.calls[0].source, f.calls[0].line) if f.calls else ("", 0))
    if args.json:
        json.dump({"findings": [f.as_dict() for f in findings], "not_listed": analyzer.suppressed,
                   "partial": [{"file": src, "traced": what} for src, what in analyzer.partial.items()],
                   "warnings": warnings}, sys.stdout, indent=2)
        print()
    else:
        for f in findings:
            print("\n".join(f.render()))
            print()
        for rule, n in analyzer.suppressed.items():
            print(f"[{rule}] {n} more findings not listed")
        for src, what in analyzer.partial.items():
            print(f"note: {src} was traced partially ({what}): rules that need every call were "
                  "not applied")
        print(f"{len(findings)} finding(s)" if findings else "no known mistakes found")
    if not usable:
        return EXIT_UNUSABLE
    return EXIT_FOUND if findings else EXIT_CLEAN
