"""`pkcs11spy summary TRACE...`: module, processes, calls per function, failures,
sessions, logins and calls that never returned."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from .run_cli import EXIT_CLEAN, EXIT_FOUND, EXIT_UNUSABLE, add_trace_arguments, feed_all, quiet_broken_pipe
from .summary import Summary


def register(subparsers) -> None:
    p = subparsers.add_parser("summary", help="summarise a trace (ours, JSON, or OpenSC pkcs11-spy)",
                              description="Summarise PKCS#11 traces: module, processes and threads, calls "
                                          "per function, non-OK returns, sessions, logins, unfinished calls.")
    add_trace_arguments(p)
    p.set_defaults(func=run)


@quiet_broken_pipe
def run(args: argparse.Namespace) -> int:
    summary = Summary()
    warnings: List[str] = []
    usable = feed_all(args.traces, summary.feed, warnings)
    if args.json:
        doc = summary.as_dict()
        doc["warnings"] = warnings
        json.dump(doc, sys.stdout, indent=2)
        print()
    elif summary.calls:
        print("\n".join(summary.render()))
    if not usable:
        return EXIT_UNUSABLE
    return EXIT_FOUND if summary.failures_total or summary.unreturned else EXIT_CLEAN
