"""Which functions are traced, compiled once at start into the C side's mask.

``PKCS11SPY_FUNCTIONS`` is a comma-separated list of glob patterns over function names:
``C_Sign*,C_Login`` traces only those; ``-C_GetAttributeValue`` leaves one out;
includes and excludes mix (excludes win).  The answer is one small number per function
given to C (``lib.spy_set_traced``), so a call that is filtered out is forwarded by C
without entering Python at all.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Callable, Dict, Iterable, List, Tuple

from .decode.walker import entry_decoder
from .functions import FUNCTIONS, INOUT, Function

# The bits of spy_set_traced (_shim.c).
WANT_ENTER = 1
WANT_EXIT = 2
WANT_EXIT_ERROR = 4


def parse(spec: str) -> Tuple[List[str], List[str]]:
    """Split a PKCS11SPY_FUNCTIONS value into include and exclude patterns."""
    includes, excludes = [], []
    for item in spec.replace(" ", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("-"):
            excludes.append(item[1:].strip())
        else:
            includes.append(item[1:].strip() if item.startswith("+") else item)
    return includes, excludes


def select(spec: str, names: Iterable[str], warn: Callable[[str], None]) -> List[str]:
    """The names a PKCS11SPY_FUNCTIONS value selects, in table order.  A pattern that
    matches nothing is a typo: say so once (the others still apply)."""
    names = list(names)
    includes, excludes = parse(spec)
    for pattern in includes + excludes:
        if not any(fnmatchcase(n, pattern) for n in names):
            warn(f"pkcs11spy: PKCS11SPY_FUNCTIONS: {pattern!r} matches no function; names look like "
                 f"C_Sign, C_GetAttributeValue, and globs like C_Sign* are allowed")
    chosen = [n for n in names if not includes or any(fnmatchcase(n, p) for p in includes)]
    chosen = [n for n in chosen if not any(fnmatchcase(n, p) for p in excludes)]
    if not chosen:
        warn(f"pkcs11spy: PKCS11SPY_FUNCTIONS={spec.strip()} selects no function: no call will be "
             f"traced (unset it to trace every call)")
    return chosen


def decodes_inout_on_entry(function: Function) -> bool:
    """Whether an argument's in-side is only visible before the call (a count the
    module overwrites): errors-only mode must then look at the call on entry too."""
    return any(a.direction == INOUT and entry_decoder(a.kind) is not None for a in function.args)


def wants(function: Function, traced: bool, errors_only: bool) -> int:
    """The bits for one function.  Errors-only: Python sees only failed calls, after
    they returned, and decodes their inputs then (inputs are the caller's memory, still
    unchanged), except where an in/out value must be taken on entry."""
    if not traced:
        return 0
    if not errors_only:
        return WANT_ENTER | WANT_EXIT
    if decodes_inout_on_entry(function):
        return WANT_ENTER | WANT_EXIT
    return WANT_EXIT_ERROR


def masks(spec: str, errors_only: bool, warn: Callable[[str], None]) -> Dict[int, int]:
    """Function index -> bits for spy_set_traced, for every function."""
    chosen = set(select(spec, (f.name for f in FUNCTIONS), warn)) if spec.strip() else None
    return {f.index: wants(f, chosen is None or f.name in chosen, errors_only) for f in FUNCTIONS}
