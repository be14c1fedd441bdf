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

from importlib.resources import files
from typing import Iterator, List, Tuple

STANDARD = ""
NSS = "nss"
NSS_LEGACY = "nss_legacy"

# Order matters: earlier tiers give the preferred (displayed) name of a value.
DISPLAY_TIERS = (STANDARD, NSS)
ALIAS_ONLY_TIERS = (NSS_LEGACY,)

Row = Tuple[str, int]


def _data_dir():
    return files(__package__).joinpath("data")


def _file_name(key: str, tier: str) -> str:
    return f"{key.lower()}.{tier}.txt" if tier else f"{key.lower()}.txt"


def family_keys() -> List[str]:
    """Family keys (upper-cased stems, tier suffix removed) of every data file, sorted."""
    stems = {
        entry.name.split(".", 1)[0]
        for entry in _data_dir().iterdir()
        if entry.is_file() and entry.name.endswith(".txt")
    }
    return sorted(stem.upper() for stem in stems)


def read_rows(key: str, tier: str) -> List[Row]:
    """Rows of one family in one tier; an absent file is an empty table."""
    name = _file_name(key, tier)
    path = _data_dir().joinpath(name)
    if not path.is_file():
        return []
    return list(parse(path.read_text(encoding="ascii"), name))


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
