"""The text trace, in the layout of OpenSC's pkcs11-spy.

People paste that layout into bug reports and know how to read it, so we keep it:
``N: C_Name``, ``P:<pid>; T:0x<tid> <local time>``, ``[in]``/``[out]`` lines and
``Returned:  <rv> <name>``.  We add the duration after the name on the Returned line,
name everything we can, and never print what is not valid (see the decoders).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from .. import catalog
from . import parts
from ..model import (Arg, Attribute, BigInt, Bool, Bytes, Call, Const, Date, DecodeError,
                     DistinguishedName, EcPoint, Flags, InOut, Items, Mechanism, Null, Oid, Pointer,
                     Redacted, Scalar, Struct, Template, Text, Unavailable, Unreadable, Value,
                     Version)

ATTR_NAME_WIDTH = 21
FIELD_INDENT = "      "
FLAG_INDENT = "        "
INLINE_HEX_MAX = 64      # bytes of a typed value (an IV, an id, a point) shown on its line
HEX_ROW_BYTES = 32       # bytes per line of a long integer


def banner(module: str, version: str, secrets_shown: bool, partial: str = "") -> str:
    lines = [f"*************** pkcs11spy {version} *****************", f'Loaded: "{module}"']
    if partial:  # readers must know calls are missing on purpose
        lines.append(f"Tracing: {partial}")
    if secrets_shown:
        lines.append("WARNING: PKCS11SPY_SHOW_SECRETS is set: this trace contains PINs, keys and data in clear")
    return "\n".join(lines) + "\n"


_THREE_DIGITS = parts.THREE_DIGITS
# (second or millisecond, its text), each replaced whole: another thread reads either
# the old pair or the new one, never a mix.
_last_second: tuple = (None, "")
_last_milli: tuple = (None, "")


def timestamp(wall_ns: int) -> str:
    """Local time with milliseconds; formatted once per millisecond (the seconds part once
    per second): calls come many per millisecond."""
    global _last_second, _last_milli
    milli = wall_ns // 1_000_000
    last = _last_milli
    if last[0] == milli:
        return last[1]
    seconds, ms = divmod(milli, 1000)
    second = _last_second
    if second[0] != seconds:
        second = _last_second = (seconds, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)))
    text = f"{second[1]}.{ms:03d}"
    _last_milli = (milli, text)
    return text


# A record part is built from fragments: the lines of one argument, made by
# arg_fragment.  The tracer reuses fragments (see recorder.py); render_enter and
# render_exit build every fragment anew, for tools and tests.
SEPARATOR = ""  # between fragments


def arg_fragment(side: str, arg: Arg) -> str:
    """The lines of one argument, each ending in a newline."""
    return "\n".join(render_arg(side, arg)) + "\n"


_whos: Dict[tuple, str] = {}  # (pid, tid) -> "P:<pid>; T:0x<tid> "


def _head(seq: int, function: str, pid: int, tid: int, wall_ns: int, resumed: bool) -> str:
    who = _whos.get((pid, tid))
    if who is None:
        who = f"P:{pid}; T:0x{tid:x} "
        if len(_whos) >= 4096:
            _whos.clear()
        _whos[(pid, tid)] = who
    marker = " <resumed>" if resumed else ""
    return f"\n{seq}: {function}{marker}\n{who}{timestamp(wall_ns)}\n"


def enter_part(seq: int, function: str, pid: int, tid: int, wall_ns: int, fragments: List[str],
               notes: List[str]) -> str:
    text = _head(seq, function, pid, tid, wall_ns, False) + "".join(fragments)
    return text + "".join([f"[note] {_note(n)}\n" for n in notes]) if notes else text


def exit_part(seq: int, function: str, pid: int, tid: int, wall_ns: int, resumed: bool, rv: int,
              rv_name: str, duration_ns: Optional[int], fragments: List[str], notes: List[str]) -> str:
    head = _head(seq, function, pid, tid, wall_ns, True) if resumed else ""
    if notes:  # notes come before [out] lines
        head += "".join([f"[note] {_note(n)}\n" for n in notes])
    duration = ""
    if duration_ns is not None:  # milliseconds, 3 decimals, rounded; by integer arithmetic
        micro = (duration_ns + 500) // 1000
        duration = f" ({micro // 1000}.{_THREE_DIGITS[micro % 1000]} ms)"
    return f"{head}{''.join(fragments)}Returned:  {rv} {rv_name}{duration}\n"


def render_enter(call: Call) -> str:
    return parts.enter_from_model(call, enter_part, arg_fragment)


def render_exit(call: Call) -> str:
    return parts.exit_from_model(call, exit_part, arg_fragment)


_rv_names: Dict[int, str] = {}


def rv_name(rv: int) -> str:
    name = _rv_names.get(rv)
    if name is None:
        name = catalog.family("CKR").name_of(rv)
        if len(_rv_names) < 1024:
            _rv_names[rv] = name
    return name


# ---- values ----------------------------------------------------------------------------

def render_arg(side: str, arg: Arg) -> List[str]:
    v = arg.value
    renderer = BLOCK.get(type(v))
    if renderer is not None:
        return renderer(side, arg.label, v)
    return [f"{side} {arg.label} = {inline(v)}"]


def inline(v: Value) -> str:
    """A value on one line."""
    show = INLINE.get(type(v))
    return repr(v) if show is None else show(v)


def _redacted(v: Redacted) -> str:
    facts = "".join([", " + f for f in v.facts])
    return f"<{v.what} hidden: {v.length} bytes{facts}>"


def _inline_bytes(v: Bytes) -> str:
    return short_bytes(v) if v.length <= INLINE_HEX_MAX and not v.cut else f"{v.length} bytes"


# One entry per value type of the model (a type lookup: the hot path renders these).
INLINE: Dict[type, Callable[[Any], str]] = {
    Scalar: lambda v: str(v.value) if v.decimal else f"0x{v.value:x}",
    Const: lambda v: v.name,
    Bool: lambda v: {0: "CK_FALSE", 1: "CK_TRUE"}.get(v.value, f"0x{v.value:x} (not a CK_BBOOL)"),
    Pointer: lambda v: f"0x{v.address:x}" if v.address else "NULL",
    Version: lambda v: f"{v.major}.{v.minor}",
    Text: lambda v: text_value(v),
    Flags: lambda v: f"0x{v.value:x}",
    Null: lambda v: "NULL" if v.size is None else f"NULL [size : 0x{v.size:x} ({v.size})]",
    Unreadable: lambda v: f"0x{v.address:016x} / {v.length} <unreadable memory>",
    Redacted: _redacted,
    Unavailable: lambda v: v.reason,
    DecodeError: lambda v: f"<decode error: {_note(v.message)}>",  # may quote the application's bytes
    InOut: lambda v: f"{inline(v.before)} => {inline(v.after)}",
    Bytes: _inline_bytes,
    BigInt: lambda v: big_int(v),
    Date: lambda v: escape(v.value),  # decoders check dates; escaped all the same
    Oid: lambda v: oid(v),
    DistinguishedName: lambda v: distinguished_name(v),
    EcPoint: lambda v: ec_point(v),
    Struct: lambda v: "{" + ", ".join(f"{f.name}: {inline(f.value)}" for f in v.fields) + "}",
    Items: lambda v: "[" + ", ".join(inline(i) for i in v.items) + "]",
    Template: lambda v: f"{len(v.attributes)} attributes",
}


def short_bytes(v: Bytes) -> str:
    note = f" ({v.note})" if v.note else ""
    if v.length == 0:
        return "0 bytes" + note
    return f"{v.length} bytes {v.data.hex().upper()}{note}"


def big_int(v: BigInt) -> str:
    if v.length == 0:
        return "empty integer"
    cut = f" ... {v.length} bytes, {len(v.data)} shown" if len(v.data) < v.length else ""
    return f"0x{v.data.hex().upper()}{cut} ({v.bits} bits)"


def oid(v: Oid) -> str:
    return f"{v.name} (OID {v.dotted})" if v.name else f"OID {v.dotted}"


def distinguished_name(v: DistinguishedName) -> str:
    if not v.parts:
        return "empty name"
    return ", ".join(f"{p.name}={_dn_value(p.value)}" for p in v.parts)


def _dn_value(v: Value) -> str:
    if isinstance(v, Text) and v.raw is not None:
        return text_value(v)
    text = v.value if isinstance(v, Text) else inline(v)
    special = any(c in text for c in ',+"\\<>;=') or text != text.strip()
    return quote(text) if special or not text.isprintable() else text


def ec_point(v: EcPoint) -> str:
    wrapped = " in a DER OCTET STRING" if v.der_wrapped else ", not DER-wrapped"
    return f"{v.form} point, {len(v.data)} bytes{wrapped}: {v.data.hex().upper()}"


def _escape(code: int) -> str:
    # Python's own escapes, written out: the unicode_escape codec is a module import the
    # first time, and nothing on the call path may import (see _runtime's fork notes).
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escaped(s: str, marked: str) -> str:
    """s with what is not printable escaped and each character of marked after a backslash."""
    if s.isprintable() and not any(c in s for c in marked):
        return s
    return "".join("\\" + ch if ch in marked else ch if ch.isprintable() else _escape(ord(ch)) for ch in s)


def escape(s: str) -> str:
    """What is not printable escaped (and quotes and backslashes), so that no value can
    start a line of its own or pass for another record."""
    return _escaped(s, "'\\")


def _note(note: str) -> str:
    """A note on one line whatever it quotes (a module's interface name, say): what is
    not printable is escaped, so no note can start a line of its own."""
    return _escaped(note, "")


def quote(s: str) -> str:
    """Quoted, with what is not printable escaped, so padding and garbage show."""
    return "'" + escape(s) + "'"


def text_value(v: Text) -> str:
    """Quoted; text whose bytes are not valid in its encoding says so and shows them (its
    \\xNN escapes could otherwise be a literal backslash)."""
    if v.raw is None:
        return quote(v.value)
    return f"{quote(v.value)} (not valid text; bytes {v.raw.hex().upper()})"


_SHOWN = bytes(b if 0x20 <= b <= 0x7E else 0x2E for b in range(256))  # printable ASCII, else "."


def hexdump(data: bytes, length: int) -> List[str]:
    """OpenSC's rows: 4 spaces, offset, 16 upper-case hex bytes, printable ASCII."""
    # Hex and ASCII are made for the whole buffer at once (bytes.hex and translate run
    # in C) and cut into rows: per-row conversions were the largest cost of data calls.
    hexed = data.hex(" ").upper()
    shown = data.translate(_SHOWN).decode("ascii")
    full = len(data) & ~15
    rows = [f"    {off:08X}  {hexed[3 * off:3 * off + 47]}  {shown[off:off + 16]}" for off in range(0, full, 16)]
    if full < len(data):
        rows.append(f"    {full:08X}  {hexed[3 * full:]:<47}  {shown[full:]}")
    if len(data) < length:
        rows.append(f"    ... {length} bytes, {len(data)} shown")
    return rows


def _bytes_block(side: str, label: str, v: Bytes) -> List[str]:
    head = f"{side} {label} {v.address:016x} / {v.length}"
    if v.note:
        head += f" ({v.note})"
    return [head] + hexdump(v.data, v.length)


def _flags_lines(v: Flags, indent: str) -> List[str]:
    lines = [indent + name for name in v.names]
    if v.remainder:
        lines.append(f"{indent}0x{v.remainder:x} (unknown bits)")
    return lines


def _flags_block(side: str, label: str, v: Flags) -> List[str]:
    return [f"{side} {label} = 0x{v.value:x}"] + _flags_lines(v, FLAG_INDENT)


def _struct_block(side: str, label: str, v: Struct) -> List[str]:
    return [f"{side} {label}: "] + struct_lines(v, FIELD_INDENT)


def struct_lines(v: Struct, indent: str) -> List[str]:
    width = max((len(f.name) for f in v.fields), default=0) + 1
    lines: List[str] = []
    for f in v.fields:
        lines.extend(_field_lines(f.name, f.value, width, indent))
    return lines


def _field_lines(name: str, value: Value, width: int, indent: str = FIELD_INDENT) -> List[str]:
    prefix = f"{indent}{name + ':':<{width}} "
    if isinstance(value, Flags):
        return [f"{prefix}0x{value.value:x}"] + _flags_lines(value, indent + "  ")
    if isinstance(value, Bytes) and (value.length > INLINE_HEX_MAX or value.cut):
        note = f" ({value.note})" if value.note else ""
        return [f"{prefix}{value.length} bytes{note}"] + hexdump(value.data, value.length)
    if isinstance(value, BigInt) and value.length > HEX_ROW_BYTES:
        return [f"{prefix}{value.bits}-bit integer"] + _hex_rows(value, indent + "  ")
    if isinstance(value, Struct):
        return [f"{prefix}{value.type_name}"] + struct_lines(value, indent + "  ")
    if isinstance(value, Items) and value.items and isinstance(value.items[0], Struct):
        lines = [f"{prefix}{value.count} x {value.kind}"]
        for i, item in enumerate(value.items):
            lines.append(f"{indent}  [{i}]")
            lines.extend(struct_lines(item, indent + "    ") if isinstance(item, Struct)
                         else [f"{indent}    {inline(item)}"])
        if len(value.items) < value.count:
            lines.append(f"{indent}  ... {value.count} items, {len(value.items)} shown")
        return lines
    if isinstance(value, Template):
        lines = [f"{prefix}{len(value.attributes)} attributes:"]
        for a in value.attributes:
            lines.extend(_attribute_lines(a, indent + "  "))
        return lines
    return [prefix + inline(value)]


def _hex_rows(v: BigInt, indent: str) -> List[str]:
    rows = [indent + v.data[i:i + HEX_ROW_BYTES].hex().upper()
            for i in range(0, len(v.data), HEX_ROW_BYTES)]
    if len(v.data) < v.length:
        rows.append(f"{indent}... {v.length} bytes, {len(v.data)} shown")
    return rows


def _items_block(side: str, label: str, v: Items) -> List[str]:
    lines = [f"{side} {label}[{v.count}]: "]
    if v.kind == "slot":
        lines += [f"Slot {inline(i)}" for i in v.items]
    elif v.kind == "object":
        lines += [f"Object {inline(i)} matches" for i in v.items]
    elif v.kind in ("mechanism", "ulong"):
        lines += [inline(i) for i in v.items]
    else:
        for i, item in enumerate(v.items):
            if isinstance(item, Struct):
                lines.append(f"  [{i}]")
                lines.extend(ln for f in item.fields for ln in _field_lines(f.name, f.value, 16))
            else:
                lines.append(f"  [{i}] {inline(item)}")
    if len(v.items) < v.count:
        lines.append(f"... {v.count} items, {len(v.items)} shown")
    return lines


def _attribute_lines(a: Attribute, indent: str) -> List[str]:
    name = f"{indent}{a.type.name:<{ATTR_NAME_WIDTH}} "
    v = a.value
    if v is None:
        return [f"{name}requested with {a.length} bytes" if a.length else f"{name}requested"]
    if isinstance(v, Bytes):
        if v.length <= INLINE_HEX_MAX and not v.cut:
            return [name + short_bytes(v)]
        head = f"{name}{v.address:016x} / {v.length}"
        if v.note:
            head += f" ({v.note})"
        return [head] + hexdump(v.data, v.length)
    if isinstance(v, BigInt) and v.length > HEX_ROW_BYTES:
        return [f"{name}{v.bits}-bit integer"] + _hex_rows(v, indent + "    ")
    if isinstance(v, Struct):
        return [f"{name}{v.type_name}"] + struct_lines(v, indent + "    ")
    if isinstance(v, Template):
        lines = [f"{name}{len(v.attributes)} attributes:"]
        for inner in v.attributes:
            lines.extend(_attribute_lines(inner, indent + "    "))
        return lines
    if isinstance(v, Flags):
        return [f"{name}0x{v.value:x}"] + _flags_lines(v, indent + "  ")
    if isinstance(v, Items):
        return [f"{name}" + ", ".join(inline(i) for i in v.items)]
    if isinstance(v, Null):
        return [f"{name}NULL [size : 0x{a.length:x} ({a.length})]"]
    return [name + inline(v)]


def _template_block(side: str, label: str, v: Template) -> List[str]:
    lines = [f"{side} {label}: "]
    for a in v.attributes:
        lines.extend(_attribute_lines(a, "    "))
    return lines


def _mechanism_block(side: str, label: str, v: Mechanism) -> List[str]:
    lines = [f"{side} {label}->type = {v.type.name}"]
    if v.parameter is not None:
        p = v.parameter
        plabel = f"{label}->pParameter[ulParameterLen]"
        if isinstance(p, Bytes):
            lines.extend(_bytes_block(side, plabel, p))
        elif isinstance(p, Struct):
            lines.append(f"{side} {label}->pParameter: {p.type_name}")
            lines.extend(struct_lines(p, FIELD_INDENT))
        else:
            lines.append(f"{side} {plabel} = {inline(p)}")
    return lines


BLOCK: Dict[type, Callable] = {
    Bytes: _bytes_block,
    Flags: _flags_block,
    Struct: _struct_block,
    Items: _items_block,
    Template: _template_block,
    Mechanism: _mechanism_block,
}
