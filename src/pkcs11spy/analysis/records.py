"""What the readers produce: one TraceCall per PKCS#11 call, whatever the trace format.

Arguments keep their text (``0x1``, ``CKU_USER``, ``<PIN hidden: 4 bytes, printable
text>``) plus the indented lines that follow them (fields, flags, attributes, a few
hexdump rows), so rules read the same thing from our traces and from OpenSC's."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

MAX_DETAIL_LINES = 64  # per argument: enough for token info and templates, bounded for 1 GB traces

BRACKETS = re.compile(r"\[[^\]]*\]")
HEX_OR_DEC = re.compile(r"^(-?0x[0-9a-fA-F]+|-?\d+)\b")


@dataclass
class TraceArg:
    name: str          # as written, e.g. "pPin[ulPinLen]", "*pulCount", "pMechanism->type"
    value: str         # the text after "=" (or the buffer head), stripped
    details: List[str] = field(default_factory=list)
    dropped: int = 0   # detail lines not kept
    data: Optional[bytes] = None  # buffer bytes when the trace shows them (first few hundred)
    key: str = ""      # the name without '*' and '[len]': 'pPin', 'pulCount', 'pMechanism->type'

    def __post_init__(self) -> None:
        name = self.name
        if "[" in name:
            name = BRACKETS.sub("", name)
        self.key = name.lstrip("*").rstrip(":")

    def add_detail(self, line: str) -> None:
        if len(self.details) < MAX_DETAIL_LINES:
            self.details.append(line)
        else:
            self.dropped += 1


@dataclass(eq=False)  # calls are compared by identity
class TraceCall:
    source: str
    line: int                  # line of the call's header in its file
    fmt: str                   # "pkcs11spy", "opensc" or "json"
    process: str               # pid, or "#N" (N-th banner) when the trace has no pid
    seq: int
    function: str
    tid: Optional[str] = None
    time: Optional[str] = None
    ins: List[TraceArg] = field(default_factory=list)
    outs: List[TraceArg] = field(default_factory=list)
    rv: Optional[int] = None
    rv_name: Optional[str] = None
    duration_ms: Optional[float] = None
    module: Optional[str] = None
    entered: bool = False      # the reader has announced it (an 'enter' event)

    @property
    def ref(self) -> str:
        """How findings name a call: '#7 C_Login (pid 123)'."""
        where = f"pid {self.process}" if not self.process.startswith("#") else f"process {self.process}"
        return f"#{self.seq} {self.function} ({where}, line {self.line})"

    @property
    def returned(self) -> bool:
        return self.rv is not None

    @property
    def ok(self) -> bool:
        return self.rv == 0

    def arg(self, key: str, side: str = "in") -> Optional[TraceArg]:
        args = self.ins if side == "in" else self.outs
        if len(args) > 4:  # long argument lists: one dictionary instead of repeated scans
            index = self.__dict__.get("_index_" + side)
            if index is None or index[0] != len(args):
                index = (len(args), {a.key: a for a in reversed(args)})
                self.__dict__["_index_" + side] = index
            return index[1].get(key)
        for a in args:
            if a.key == key:
                return a
        return None

    def number(self, key: str, side: str = "in") -> Optional[int]:
        """An argument's value as a number; for 'a => b' the value after the call."""
        a = self.arg(key, side)
        if a is None:
            return None
        text = a.value.split("=>")[-1].strip()
        return parse_number(text)

    def text(self, key: str, side: str = "in") -> Optional[str]:
        a = self.arg(key, side)
        return None if a is None else a.value

    @property
    def session(self) -> Optional[int]:
        return self.number("hSession")


def parse_number(text: str) -> Optional[int]:
    m = HEX_OR_DEC.match(text.strip())
    if not m:
        return None
    return int(m.group(1), 0) if m.group(1).lstrip("-").startswith("0x") else int(m.group(1))


@dataclass
class Warning_:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class Event:
    """'enter' when a call's inputs are known, 'exit' when it returned, 'banner' when a
    process's trace starts."""
    kind: str
    call: Optional[TraceCall] = None
    module: Optional[str] = None
    process: Optional[str] = None
    extra: Dict[str, str] = field(default_factory=dict)
