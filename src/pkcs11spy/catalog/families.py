"""Families of constants (CKR, CKM, ...) and flag sets (CKF_* per context).

Plain dictionaries rather than enums: a tracer sees vendor and future values
all the time, and every lookup here must answer instead of raising.
"""

from __future__ import annotations

import operator
from typing import Dict, List, Optional, Tuple

from . import _datafiles

VENDOR_SUFFIX = "_VENDOR_DEFINED"


def _as_int(value: object) -> Optional[int]:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def format_hex(value: int) -> str:
    """'0x%08lx': lower-case hex, at least 8 digits (64-bit values keep all)."""
    if value < 0:
        return f"-0x{-value:08x}"
    return f"0x{value:08x}"


class Family:
    """One enumeration of the spec, e.g. CKR (return values) or CKG_MGF."""

    def __init__(self, key: str) -> None:
        self.key = key
        # CK_* families (CK_OTP_FORMAT, ...) have no short prefix of their own.
        self.prefix = key if key.startswith("CK_") else key.split("_", 1)[0]
        self._by_value: Optional[Dict[int, str]] = None
        self._by_name: Dict[str, int] = {}
        self._vendor_name: Optional[str] = None
        self._vendor_base: Optional[int] = None

    def __repr__(self) -> str:
        return f"Family({self.key!r})"

    def _table(self) -> Dict[int, str]:
        # Loading is idempotent, so a race between threads only costs a re-read.
        if self._by_value is None:
            by_value: Dict[int, str] = {}
            by_name: Dict[str, int] = {}
            for tier in _datafiles.DISPLAY_TIERS:
                for name, value in _datafiles.read_rows(self.key, tier):
                    by_value.setdefault(value, name)
                    by_name.setdefault(name, value)
            for tier in _datafiles.ALIAS_ONLY_TIERS:
                for name, value in _datafiles.read_rows(self.key, tier):
                    by_name.setdefault(name, value)
            # The spec's FOO_VENDOR_DEFINED constant marks where vendor space starts.
            for name, value in by_name.items():
                if name.endswith(VENDOR_SUFFIX):
                    self._vendor_name, self._vendor_base = name, value
                    break
            self._by_name = by_name
            self._by_value = by_value
        return self._by_value

    @property
    def vendor_base(self) -> Optional[int]:
        self._table()
        return self._vendor_base

    def find(self, value: int) -> Optional[str]:
        """Preferred name of value (standard before NSS), or None."""
        return self._table().get(value)

    def is_vendor(self, value: int) -> bool:
        base = self.vendor_base
        return base is not None and value >= base

    def name_of(self, value: int) -> str:
        """Never fails: a name, 'CKM_VENDOR_DEFINED+0x123', or '0x00000123'."""
        number = _as_int(value)
        if number is None:
            return str(value)
        name = self.find(number)
        if name is not None:
            return name
        if self.is_vendor(number):
            return f"{self._vendor_name}+0x{number - self._vendor_base:x}"
        return format_hex(number)

    def value_of(self, name: str) -> Optional[int]:
        """Value of a name or alias; also reverses name_of's vendor and hex forms."""
        text = name.strip()
        self._table()
        if text in self._by_name:
            return self._by_name[text]
        if self._vendor_name and text.startswith(self._vendor_name + "+"):
            offset = _parse_number(text[len(self._vendor_name) + 1 :])
            return None if offset is None else self._vendor_base + offset
        return _parse_number(text)

    def items(self) -> List[Tuple[int, str]]:
        """(value, preferred name) pairs sorted by value."""
        return sorted(self._table().items())

    def names(self) -> Dict[str, int]:
        """Every accepted name (aliases and legacy NSS names too) -> value."""
        self._table()
        return dict(self._by_name)


def _parse_number(text: str) -> Optional[int]:
    try:
        number = int(text, 0)
    except ValueError:
        return None
    return number if number >= 0 else None


class FlagSet:
    """The CKF_* bits valid in one context, e.g. 'session' or 'mechanism'."""

    def __init__(self, context: str, family: Family) -> None:
        self.context = context
        self.family = family
        self._bits: Optional[List[Tuple[int, str]]] = None

    def __repr__(self) -> str:
        return f"FlagSet({self.context!r})"

    def _known_bits(self) -> List[Tuple[int, str]]:
        if self._bits is None:
            self._bits = [(bit, name) for bit, name in self.family.items() if bit]
        return self._bits

    def split(self, value: int) -> Tuple[List[str], int]:
        """Names of the known bits set in value (lowest bit first), and the rest."""
        names: List[str] = []
        rest = value
        for bit, name in self._known_bits():
            if value & bit == bit:
                names.append(name)
                rest &= ~bit
        return names, rest

    def describe(self, value: int) -> str:
        """'CKF_RW_SESSION | CKF_SERIAL_SESSION'; unknown bits as '0x00000100'."""
        number = _as_int(value)
        if number is None:
            return str(value)
        if number == 0:
            return "0"
        names, rest = self.split(number)
        if rest:
            names.append(format_hex(rest))
        return " | ".join(names)

    def value_of(self, name: str) -> Optional[int]:
        return self.family.value_of(name)


FLAG_FILE_PREFIX = "CKF_"

FAMILIES: Dict[str, Family] = {key: Family(key) for key in _datafiles.family_keys()}
# Flag files (ckf_<context>.txt) are families too; FLAGSETS views them by context.
FLAGSETS: Dict[str, FlagSet] = {
    key[len(FLAG_FILE_PREFIX) :].lower(): FlagSet(key[len(FLAG_FILE_PREFIX) :].lower(), fam)
    for key, fam in FAMILIES.items()
    if key.startswith(FLAG_FILE_PREFIX)
}


def family(key: str) -> Family:
    """The family for a key such as 'CKR' or 'CKG_MGF'; KeyError if unknown."""
    return FAMILIES[key]


def flagset(context: str) -> FlagSet:
    """The flag set for a context such as 'session'; KeyError if unknown."""
    return FLAGSETS[context]


_GLOBAL_NAMES: Optional[Dict[str, int]] = None


def lookup(name: str) -> Optional[int]:
    """Value of a constant name searched across every family (loads them all)."""
    global _GLOBAL_NAMES
    if _GLOBAL_NAMES is None:
        index: Dict[str, int] = {}
        for fam in FAMILIES.values():
            for known, value in fam.names().items():
                index.setdefault(known, value)
        _GLOBAL_NAMES = index
    return _GLOBAL_NAMES.get(name.strip())
