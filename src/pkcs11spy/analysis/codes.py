"""Return-code tables as data: PKCS#11 CKR values (names and numbers from the catalog),
OpenSC's SC_ERROR_* codes and GSKit's return codes, each with our own explanation."""
from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Dict, List, Optional, Tuple

from .. import catalog

PKCS11 = "PKCS#11"
OPENSC = "OpenSC"
GSKIT = "GSKit"
UNSIGNED_32 = 1 << 32
UNSIGNED_64 = 1 << 64


@dataclass(frozen=True)
class Reading:
    """One table's reading of a code."""
    table: str
    name: str
    value: int
    meaning: str
    causes: str
    next_steps: str

    def numeric_forms(self) -> str:
        if self.table == PKCS11:
            return f"{self.value} = 0x{self.value:X} = 0x{self.value:08X}"
        return str(self.value)


def _data(name: str) -> str:
    return files(__package__).joinpath("data", name).read_text(encoding="utf-8")


def _rows(name: str, with_value: bool) -> List[Tuple[str, Optional[int], List[str]]]:
    rows = []
    for number, line in enumerate(_data(name).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) != 4:
            raise ValueError(f"{name}:{number}: expected 4 fields separated by ' | '")
        head = parts[0].split()
        value = int(head[1], 0) if with_value else None
        rows.append((head[0], value, parts[1:]))
    return rows


class Table:
    """One code table: number -> readings, name -> reading."""

    def __init__(self, label: str, readings: List[Reading]) -> None:
        self.label = label
        self.readings = readings
        self.by_value: Dict[int, List[Reading]] = {}
        self.by_name: Dict[str, Reading] = {}
        for r in readings:
            self.by_value.setdefault(r.value, []).append(r)
            self.by_name[r.name] = r


def _ckr_table() -> Table:
    help_rows = {name: texts for name, _, texts in _rows("ckr_help.txt", with_value=False)}
    family = catalog.family("CKR")
    readings = []
    for name, value in sorted(family.names().items(), key=lambda kv: kv[1]):
        texts = help_rows.get(name, ["A PKCS#11 return value.", "-", "See the PKCS#11 specification."])
        readings.append(Reading(PKCS11, name, value, *texts))
    return Table(PKCS11, readings)


def _plain_table(label: str, file_name: str) -> Table:
    return Table(label, [Reading(label, n, v, *t) for n, v, t in _rows(file_name, with_value=True)])


_TABLES: Optional[List[Table]] = None


def tables() -> List[Table]:
    global _TABLES
    if _TABLES is None:
        _TABLES = [_ckr_table(), _plain_table(OPENSC, "opensc.txt"), _plain_table(GSKIT, "gskit.txt")]
    return _TABLES


@dataclass
class Answer:
    query: str
    readings: List[Reading]
    notes: List[str]

    @property
    def known(self) -> bool:
        return bool(self.readings)

    @property
    def is_ok(self) -> bool:
        return self.known and all(r.value == 0 for r in self.readings)


def _parse_number(text: str) -> Optional[int]:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 16) if text.lower().startswith(("0x", "-0x")) else None
        except ValueError:
            return None


def lookup(query: str) -> Answer:
    """Every table's reading of a code given as a name, decimal, hex or negative number."""
    text = query.strip()
    notes: List[str] = []
    upper = text.upper()
    by_name = [t.by_name[upper] for t in tables() if upper in t.by_name]
    if by_name:
        return Answer(text, by_name, notes)
    number = _parse_number(text)
    if number is None:
        return Answer(text, [], [f"{text!r} is neither a known code name nor a number"])
    candidates = {number}
    if number < 0:
        # A CK_RV printed as a signed number (a 32- or 64-bit CK_ULONG read as negative).
        candidates |= {number + UNSIGNED_32, number + UNSIGNED_64}
    elif number >= 1 << 31 and number < UNSIGNED_32:
        candidates.add(number - UNSIGNED_32)  # an int error code printed unsigned
    readings = []
    for table in tables():
        for value in sorted(candidates):
            if table.label == PKCS11 and value < 0:
                continue
            readings.extend(table.by_value.get(value, []))
    if not readings:
        notes.append(f"{text} is not in the PKCS#11 3.2, OpenSC or GSKit tables")
    if number >= catalog.RV_VENDOR_DEFINED and number < UNSIGNED_64:
        offset = number - catalog.RV_VENDOR_DEFINED
        notes.append(f"0x{number:08X} lies in the PKCS#11 vendor-defined range "
                     f"(CKR_VENDOR_DEFINED+0x{offset:X}): its meaning is set by the module's vendor; "
                     "look it up in that vendor's documentation")
    return Answer(text, readings, notes)


def ckr_name(value: int) -> str:
    return catalog.family("CKR").name_of(value)
