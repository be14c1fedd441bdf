"""Reading the constant tables shipped in ``data/``.

One family per file stem; a tier suffix says where the names come from:

* ``data/<stem>.txt``            PKCS#11 3.2 constants;
* ``data/<stem>.nss.txt``        NSS vendor constants, merged into the same family
                                 after the standard ones, so a standard name always
                                 wins for a shared value;
* ``data/<stem>.nss_legacy.txt`` historical NSS names whose values lie outside the
                                 NSS vendor range: accepted when parsing a name, never
                                 used to display a value (another vendor may own it).

All files sit in ``data/`` itself so a single ``data/*.txt`` package-data glob
ships them. Each line is ``NAME VALUE`` with VALUE in hex; ``#`` starts a comment.
"""

from __future__ import annotations

import os
from typing import Iterator, List, Tuple

STANDARD = ""
NSS = "nss"
NSS_LEGACY = "nss_legacy"

# Order matters: earlier tiers give the preferred (displayed) name of a value.
DISPLAY_TIERS = (STANDARD, NSS)
ALIAS_ONLY_TIERS = (NSS_LEGACY,)

Row = Tuple[str, int]


# A plain directory: the package is always installed as files (its shim is a shared
# object), and importlib.resources cost 9 ms of every traced process's start-up.
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _file_name(key: str, tier: str) -> str:
    return f"{key.lower()}.{tier}.txt" if tier else f"{key.lower()}.txt"


def family_keys() -> List[str]:
    """Family keys (upper-cased stems, tier suffix removed) of every data file, sorted."""
    stems = {
        name.split(".", 1)[0]
        for name in os.listdir(DATA_DIR)
        if name.endswith(".txt") and os.path.isfile(os.path.join(DATA_DIR, name))
    }
    return sorted(stem.upper() for stem in stems)


def read_rows(key: str, tier: str) -> List[Row]:
    """Rows of one family in one tier; an absent file is an empty table."""
    name = _file_name(key, tier)
    try:
        # Bytes, decoded by bytes.decode's built-in ascii: open(encoding=...) would import
        # a codec module on the first call that needs this table (see _runtime's fork notes).
        with open(os.path.join(DATA_DIR, name), "rb") as f:
            text = f.read().decode("ascii")
    except FileNotFoundError:
        return []
    return list(parse(text, name))


def parse(text: str, source: str = "<data>") -> Iterator[Row]:
    """Yield (name, value) pairs; raise ValueError naming the bad line."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{source}:{number}: expected 'NAME VALUE', got {raw!r}")
        name, value = parts
        try:
            yield name, int(value, 16)
        except ValueError:
            raise ValueError(f"{source}:{number}: bad hex value {value!r}") from None
