"""Search traces for secrets the tests used: PINs, key bytes, plaintexts.

Used by conftest.py after every test on every trace that test produced (files under its
tmp_path, and traces that went to a captured stderr), so "secrets stay out of default
traces" is checked on everything the suite writes, not on one chosen example.  A part of
a trace written with PKCS11SPY_SHOW_SECRETS=1 (its banner says so) is skipped: there the
secrets are supposed to be.

A secret is searched as bytes inside every hexdump (rows joined, so a secret split over
two rows is still found), as lower- and upper-case hex anywhere (for secrets of 16 bytes
or more also with all white space removed: big integers wrap their hex over indented
lines), and, when it is text of
8 characters or more, as text anywhere (shorter words, "secret", occur in the
trace's own wording).
"""
from __future__ import annotations

import re
from typing import Iterable, List, Set

BANNER = "*************** pkcs11spy "
SHOWN = "WARNING: PKCS11SPY_SHOW_SECRETS is set"
HEX_ROW = re.compile(r"^    [0-9A-F]{8}  ((?:[0-9A-F]{2} )*[0-9A-F]{2})")

# What every test run uses: the token fixture's PINs and the clients' plaintexts.
# (PINs: the token fixture's and the demo's; wrong PINs of the demo and test_pkcs11_tool.)
SECRETS: Set[bytes] = {b"1234", b"5678", b"0000", b"999999", b"sixteen byte msg", b"secret", b"sign me",
                      b"data", b"other"}


def remember(*secrets: bytes) -> None:
    """A test registers the secrets it used (keys it created, data it encrypted)."""
    SECRETS.update(s for s in secrets if s)


def sections(text: str) -> List[str]:
    """The trace split at each process's banner; text before any banner is its own part."""
    parts, current = [], []
    for line in text.split("\n"):
        if line.startswith(BANNER) and current:
            parts.append("\n".join(current))
            current = []
        current.append(line)
    parts.append("\n".join(current))
    return parts


def hexdump_streams(text: str) -> List[bytes]:
    streams, current = [], bytearray()
    for line in text.split("\n"):
        m = HEX_ROW.match(line)
        if m:
            current += bytes.fromhex(m.group(1).replace(" ", ""))
        elif current:
            streams.append(bytes(current))
            current = bytearray()
    if current:
        streams.append(bytes(current))
    return streams


def leaks(text: str, secrets: Iterable[bytes] = None) -> List[str]:
    """Every secret found in the default-mode parts of a trace, with where it was."""
    found = []
    secrets = list(SECRETS if secrets is None else secrets)
    for part in sections(text):
        if SHOWN in part:
            continue
        streams = hexdump_streams(part)
        lowered = part.lower()
        squeezed = re.sub(r"\s+", "", lowered)
        for s in secrets:
            if any(s in stream for stream in streams):
                found.append(f"{s!r} in a hexdump")
            elif len(s) >= 4 and s.hex() in lowered.replace(" ", ""):
                found.append(f"{s!r} as hex")
            elif len(s) >= 16 and s.hex() in squeezed:
                found.append(f"{s!r} as hex wrapped over lines")
            elif len(s) >= 8 and s.decode("latin-1") in part:
                found.append(f"{s!r} as text")
    return found


def is_trace(text: str) -> bool:
    return BANNER in text
