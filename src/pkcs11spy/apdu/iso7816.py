"""ISO/IEC 7816-4 command and response decoding, driven by the tables in ``data/``.

`decode_command(raw)` splits a command APDU into CLA, INS, P1, P2, Lc, data and Le and
names each part; `decode_response(raw)` splits the data from SW1 SW2 and names the
status word. Both always return something: an APDU too short or with lengths that do
not add up is kept as raw bytes with a `problem` text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from . import pin, tables


@dataclass
class ClassByte:
    value: int
    kind: str                       # interindustry | proprietary | reserved | invalid
    channel: Optional[int] = None
    chaining: bool = False
    secure_messaging: Optional[str] = None

    def describe(self) -> str:
        parts: List[str] = []
        if self.kind != "interindustry":
            parts.append(f"{self.kind} class")
        if self.chaining:
            parts.append("command chaining, more to follow")
        if self.secure_messaging:
            parts.append(f"secure messaging ({self.secure_messaging})")
        if self.channel:
            parts.append(f"logical channel {self.channel}")
        return ", ".join(parts)


_SM_FIRST = {0x0: None, 0x4: "proprietary", 0x8: "header not authenticated",
             0xC: "header authenticated"}


def decode_class(cla: int) -> ClassByte:
    """ISO 7816-4 5.4.1: first (0x0X/0x1X) and further (0x4X-0x7X) interindustry classes."""
    if cla == 0xFF:
        return ClassByte(cla, "invalid")
    if cla & 0x80:
        return ClassByte(cla, "proprietary")
    if cla & 0xE0 == 0x00:
        return ClassByte(cla, "interindustry", channel=cla & 0x03, chaining=bool(cla & 0x10),
                         secure_messaging=_SM_FIRST[cla & 0x0C])
    if cla & 0x40:
        return ClassByte(cla, "interindustry", channel=4 + (cla & 0x0F), chaining=bool(cla & 0x10),
                         secure_messaging="header not processed" if cla & 0x20 else None)
    return ClassByte(cla, "reserved")


@dataclass
class Data:
    raw: bytes
    redacted: bool = False
    format: Optional[str] = None    # of a redacted field: length and PIN format
    name: Optional[str] = None      # a known AID or file identifier


@dataclass
class Command:
    raw: bytes
    cla: Optional[ClassByte] = None
    ins: Optional[int] = None
    ins_name: Optional[str] = None
    p1: Optional[int] = None
    p2: Optional[int] = None
    p1_meaning: str = ""
    p2_meaning: str = ""
    p1p2_meaning: str = ""
    case: str = ""
    lc: Optional[int] = None
    le: Optional[int] = None
    data: Optional[Data] = None
    problem: Optional[str] = None

    @property
    def header(self) -> bytes:
        return self.raw[:4]

    @property
    def secret(self) -> bool:
        return bool(self.data and self.data.redacted)


@dataclass
class Response:
    raw: bytes
    sw: Optional[int] = None
    meaning: str = ""
    data: bytes = b""
    problem: Optional[str] = None
    redacted: Optional[str] = None  # why the data is hidden (the data is then empty)
    data_length: int = 0

    @property
    def sw_text(self) -> str:
        return f"{self.sw:04X}" if self.sw is not None else "----"


def _lengths(body: bytes) -> Dict[str, object]:
    """Parse what follows the 4 header bytes into case, Lc, data, Le (ISO 7816-3 12.1.3).
    Returns {'problem': text} when the lengths do not add up."""
    n = len(body)
    if n == 0:
        return {"case": "1", "lc": None, "data": b"", "le": None}
    b0 = body[0]
    if n == 1:
        return {"case": "2 short", "lc": None, "data": b"", "le": b0 or 256}
    if b0 != 0:
        if n == 1 + b0:
            return {"case": "3 short", "lc": b0, "data": body[1:], "le": None}
        if n == 2 + b0:
            return {"case": "4 short", "lc": b0, "data": body[1:1 + b0], "le": body[-1] or 256}
        return {"problem": f"Lc={b0} does not match the {n - 1} bytes that follow it"}
    # b0 == 0 and more bytes: extended length
    if n == 3:
        return {"case": "2 extended", "lc": None, "data": b"",
                "le": int.from_bytes(body[1:3], "big") or 65536}
    if n >= 3:
        lc = int.from_bytes(body[1:3], "big")
        if lc and n == 3 + lc:
            return {"case": "3 extended", "lc": lc, "data": body[3:], "le": None}
        if lc and n == 5 + lc:
            return {"case": "4 extended", "lc": lc, "data": body[3:3 + lc],
                    "le": int.from_bytes(body[-2:], "big") or 65536}
    return {"problem": f"extended lengths do not match the {n} bytes after the header"}


def _param_values(p1: int, p2: int) -> Dict[str, object]:
    p1p2 = (p1 << 8) | p2
    return {"p1": f"{p1:02X}", "p2": f"{p2:02X}", "ref": p2 & 0x1F, "sfi_p1": p1 & 0x1F,
            "sfi_p2": p2 >> 3, "offset": p1p2 & 0x7FFF, "tag": f"{p1p2:04X}"}


def _param_meanings(ins: int, p1: int, p2: int) -> Dict[str, str]:
    """{'P1': text, 'P2': text, 'P1P2': text} from the rules of params.txt."""
    values = {"P1": p1, "P2": p2, "P1P2": (p1 << 8) | p2}
    chosen: Dict[tuple, str] = {}
    fmt = _param_values(p1, p2)
    for rule in tables.param_rules().get(ins, []):
        key = (rule.field, rule.group)
        if key in chosen:
            continue
        if values[rule.field] & rule.mask == rule.value:
            chosen[key] = rule.meaning.format(**fmt)
    out: Dict[str, List[str]] = {}
    for (fieldname, _group), text in chosen.items():
        out.setdefault(fieldname, []).append(text)
    return {k: "; ".join(v) for k, v in out.items()}


def _name_data(ins: int, p1: int, data: bytes) -> Optional[str]:
    """A known AID or file identifier in the data of SELECT."""
    if ins != 0xA4 or not data:
        return None
    if p1 == 0x04:
        return tables.aid_name(data) or "unknown AID"
    if p1 in (0x00, 0x01, 0x02) and len(data) == 2:
        return tables.file_name(data)
    if p1 in (0x08, 0x09) and len(data) % 2 == 0:
        names = [tables.file_name(data[i:i + 2]) or data[i:i + 2].hex().upper()
                 for i in range(0, len(data), 2)]
        return "path " + " / ".join(names)
    return None


def decode_command(raw: bytes, show_secrets: bool = False) -> Command:
    cmd = Command(raw)
    if len(raw) < 4:
        cmd.problem = f"a command needs at least 4 bytes, got {len(raw)}"
        return cmd
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    cmd.cla, cmd.ins, cmd.p1, cmd.p2 = decode_class(cla), ins, p1, p2
    known = tables.instructions().get(ins)
    cmd.ins_name = known.name if known else f"unknown INS {ins:02X}"
    if cmd.cla.kind == "proprietary" and known:
        cmd.ins_name += " (if the card follows ISO 7816-4)"
    meanings = _param_meanings(ins, p1, p2)
    cmd.p1_meaning = meanings.get("P1", "")
    cmd.p2_meaning = meanings.get("P2", "")
    cmd.p1p2_meaning = meanings.get("P1P2", "")
    parsed = _lengths(raw[4:])
    secret = bool(known and known.secret)
    if "problem" in parsed:
        cmd.problem = str(parsed["problem"])
        body = raw[4:]
        # Lengths do not add up: still never show what may be a PIN.
        cmd.data = Data(body, redacted=secret and not show_secrets,
                        format=pin.describe(body) if secret else None)
        return cmd
    cmd.case, cmd.lc, cmd.le = str(parsed["case"]), parsed["lc"], parsed["le"]  # type: ignore[assignment]
    data = parsed["data"]
    assert isinstance(data, bytes)
    if data:
        cmd.data = Data(data, redacted=secret and not show_secrets,
                        format=pin.describe(data) if secret else None,
                        name=_name_data(ins, p1, data))
    return cmd


def status_meaning(sw: int) -> str:
    for pattern in tables.status_words():
        n = pattern.match(sw)
        if n is not None:
            if pattern.pattern in ("61XX", "6CXX") and n == 0:
                n = 256
            return pattern.meaning.format(n=n)
    return "unknown status word"


def decode_response(raw: bytes, command: Optional[Command] = None,
                    show_secrets: bool = False) -> Response:
    """`command` (the command answered) decides whether the data is secret."""
    if len(raw) < 2:
        return Response(raw, problem=f"a response needs SW1 SW2, got {len(raw)} bytes")
    sw = int.from_bytes(raw[-2:], "big")
    resp = Response(raw, sw=sw, meaning=status_meaning(sw), data=raw[:-2], data_length=len(raw) - 2)
    why = None
    if command is not None and command.ins is not None and not show_secrets:
        why = tables.secret_responses().get((command.ins, (command.p1 << 8) | command.p2))  # type: ignore[operator]
    if why and resp.data:
        resp.raw, resp.data, resp.redacted = raw[-2:], b"", why
    return resp


def is_success(sw: Optional[int]) -> bool:
    return sw == 0x9000
