"""The ISO 7816-4 tables shipped in ``data/``, read once.

Every name the decoder prints comes from these files; the decoder holds no names of
its own. Each parser raises ValueError naming the file and line of a bad row, and a
test loads every table so a bad edit fails the suite rather than a user's run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Dict, FrozenSet, Iterator, List, Optional, Tuple


def _rows(name: str, columns: int) -> Iterator[Tuple[int, List[str]]]:
    """(line number, fields) of a data file; the last field takes the rest of the line."""
    text = files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, columns - 1)
        if len(fields) != columns:
            raise ValueError(f"{name}:{number}: expected {columns} fields, got {raw!r}")
        yield number, fields


def _hex(name: str, number: int, text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ValueError(f"{name}:{number}: bad hex value {text!r}") from None


@dataclass(frozen=True)
class Instruction:
    code: int
    name: str
    flags: FrozenSet[str]

    @property
    def secret(self) -> bool:
        return "secret" in self.flags


@lru_cache(maxsize=None)
def instructions() -> Dict[int, Instruction]:
    table: Dict[int, Instruction] = {}
    for number, (code, flags, name) in _rows("ins.txt", 3):
        value = _hex("ins.txt", number, code)
        if value in table:
            raise ValueError(f"ins.txt:{number}: INS {code} listed twice")
        table[value] = Instruction(value, name, frozenset() if flags == "-" else frozenset(flags.split(",")))
    return table


@dataclass(frozen=True)
class StatusPattern:
    pattern: str          # e.g. "63CX"
    meaning: str

    @property
    def specificity(self) -> int:
        return sum(1 for c in self.pattern if c != "X")

    def match(self, sw: int) -> Optional[int]:
        """The value of the wildcard digits if `sw` matches, else None."""
        digits = f"{sw:04X}"
        wild = ""
        for want, have in zip(self.pattern, digits):
            if want == "X":
                wild += have
            elif want != have:
                return None
        return int(wild, 16) if wild else 0


@lru_cache(maxsize=None)
def status_words() -> List[StatusPattern]:
    """Most specific first, so the first match is the best one."""
    patterns = []
    for number, (pattern, meaning) in _rows("sw.txt", 2):
        pattern = pattern.upper()
        if len(pattern) != 4 or any(c not in "0123456789ABCDEFX" for c in pattern):
            raise ValueError(f"sw.txt:{number}: bad pattern {pattern!r}")
        patterns.append(StatusPattern(pattern, meaning))
    return sorted(patterns, key=lambda p: -p.specificity)


@lru_cache(maxsize=None)
def _named_prefixes(name: str) -> List[Tuple[bytes, str]]:
    rows = []
    for number, (hexa, label) in _rows(name, 2):
        try:
            rows.append((bytes.fromhex(hexa), label))
        except ValueError:
            raise ValueError(f"{name}:{number}: bad hex {hexa!r}") from None
    return sorted(rows, key=lambda r: -len(r[0]))


def aid_name(aid: bytes) -> Optional[str]:
    """The longest known AID prefix of `aid` (OpenSC often selects a truncated AID,
    so a known AID that starts with `aid` counts too when `aid` has 5 bytes or more)."""
    for prefix, label in _named_prefixes("aids.txt"):
        if aid.startswith(prefix) or (len(aid) >= 5 and prefix.startswith(aid)):
            return label
    return None


def file_name(fid: bytes) -> Optional[str]:
    for known, label in _named_prefixes("fids.txt"):
        if fid == known:
            return label
    return None


@lru_cache(maxsize=None)
def transport_functions() -> FrozenSet[str]:
    return frozenset(fields[0] for _, fields in _rows("transport.txt", 1))


@dataclass(frozen=True)
class ParamRule:
    field: str            # P1, P2 or P1P2
    group: str
    mask: int
    value: int
    meaning: str


@lru_cache(maxsize=None)
def param_rules() -> Dict[int, List[ParamRule]]:
    """INS -> rules in file order."""
    table: Dict[int, List[ParamRule]] = {}
    for number, (ins_list, field, mask, value, meaning) in _rows("params.txt", 5):
        base, _, group = field.partition("/")
        if base not in ("P1", "P2", "P1P2"):
            raise ValueError(f"params.txt:{number}: field must be P1, P2 or P1P2, got {base!r}")
        rule = ParamRule(base, group, _hex("params.txt", number, mask),
                         _hex("params.txt", number, value), meaning)
        for ins in ins_list.split(","):
            table.setdefault(_hex("params.txt", number, ins), []).append(rule)
    return table


@lru_cache(maxsize=None)
def secret_responses() -> Dict[Tuple[int, int], str]:
    """(INS, P1P2) -> why the response data of that command is redacted."""
    table: Dict[Tuple[int, int], str] = {}
    for number, (ins, p1p2, why) in _rows("secret_responses.txt", 3):
        table[(_hex("secret_responses.txt", number, ins), _hex("secret_responses.txt", number, p1p2))] = why
    return table


def load_all() -> None:
    """Parse every table (used by tests: a bad row fails there first)."""
    instructions()
    status_words()
    _named_prefixes("aids.txt")
    _named_prefixes("fids.txt")
    transport_functions()
    param_rules()
    secret_responses()
