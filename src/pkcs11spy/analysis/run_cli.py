"""What `summary` and `analyze` share: reading files, warnings on stderr, exit codes."""
from __future__ import annotations

import os
import sys
from typing import Callable, List

from .reader import read_traces
from .records import Event, Warning_

EXIT_CLEAN, EXIT_FOUND, EXIT_UNUSABLE = 0, 1, 2


def add_trace_arguments(p) -> None:
    p.add_argument("traces", nargs="+", metavar="TRACE",
                   help="pkcs11spy text or JSON trace, or an OpenSC pkcs11-spy log "
                        "('-' reads standard input; *.gz is decompressed)")
    p.add_argument("--json", action="store_true", help="one JSON document for scripts")


def feed_all(paths: List[str], consumer: Callable[[Event], None], warnings: List[str]) -> bool:
    """Stream every event to consumer; False when any input was unusable (those are
    skipped with one line each; the others are still read)."""
    bad: List[str] = []

    def warn(w: Warning_) -> None:
        warnings.append(str(w))
        print(f"pkcs11spy: warning: {w}", file=sys.stderr)

    def unusable(message: str) -> None:
        bad.append(message)
        warnings.append(message)
        print(f"pkcs11spy: {message}", file=sys.stderr)

    for event in read_traces(paths, warn, unusable):
        consumer(event)
    return not bad


def quiet_broken_pipe(run: Callable[..., int]) -> Callable[..., int]:
    """`pkcs11spy analyze big.txt | head` must not end in a traceback."""
    def wrapper(*args, **kwargs) -> int:
        try:
            return run(*args, **kwargs)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FOUND
    wrapper.__doc__ = run.__doc__
    return wrapper
