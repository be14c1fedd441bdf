"""The text trace, in the layout of OpenSC's pkcs11-spy.

People paste that layout into bug reports and know how to read it, so we keep it:
``N: C_Name``, ``P:<pid>; T:0x<tid> <local time>``, ``[in]``/``[out]`` lines and
``Returned:  <rv> <name>``.  We add the duration after the name on the Returned line,
name everything we can, and never print what is not valid (see the decoders).
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List

from .. import catalog
from ..model import (Arg, Attribute, Bool, Bytes, Call, Const, DecodeError, Flags, InOut, Items,
                     Mechanism, Null, Pointer, Redacted, Scalar, Struct, Template, Text,
                     Unavailable, Unreadable, Value, Version)

ATTR_NAME_WIDTH = 21
FIELD_INDENT = "      "
FLAG_INDENT = "        "


def banner(module: str, version: str, secrets_shown: bool) -> str:
    lines = [f"*************** pkcs11spy {version} *****************", f'Loaded: "{module}"']
    if secrets_shown:
        lines.append("WARNING: PKCS11SPY_SHOW_SECRETS is set: this trace contains PINs, keys and data in clear")
    return "\n".join(lines) + "\n"


def timestamp(wall_ns: int) -> str:
    seconds, ns = divmod(wall_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{ns // 1_000_000:03d}"


def header(call: Call) -> List[str]:
    marker = " <resumed>" if call.resumed else ""
    return ["", f"{call.seq}: {call.function}{marker}",
            f"P:{call.pid}; T:0x{call.tid:x} {timestamp(call.wall_ns)}"]


def render_enter(call: Call) -> str:
    lines = header(call)
    for arg in call.inputs:
        lines.extend(render_arg("[in]", arg))
    lines.extend(f"[note] {n}" for n in call.notes)
    return "\n".join(lines) + "\n"


def render_exit(call: Call) -> str:
    lines: List[str] = header(call) if call.resumed else []
    lines.extend(f"[note] {n}" for n in call.exit_notes)  # notes come before [out] lines
    for arg in call.outputs:
        lines.extend(render_arg("[out]", arg))
    lines.append(returned(call))
    return "\n".join(lines) + "\n"


def returned(call: Call) -> str:
    rv = call.rv if call.rv is not None else 0
    duration = ""
    if call.duration_ns is not None:
        duration = f" ({call.duration_ns / 1e6:.3f} ms)"
    return f"Returned:  {rv} {call.rv_name}{duration}"


def rv_name(rv: int) -> str:
    return catalog.family("CKR").name_of(rv)


# ---- values ----------------------------------------------------------------------------

def render_arg(side: str, arg: Arg) -> List[str]:
    v = arg.value
    renderer = BLOCK.get(type(v))
    if renderer is not None:
        return renderer(side, arg.label, v)
    return [f"{side} {arg.label} = {inline(v)}"]


def inline(v: Value) -> str:
    """A value on one line."""
    if isinstance(v, Scalar):
        return str(v.value) if v.decimal else f"0x{v.value:x}"
    if isinstance(v, Const):
        return v.name
    if isinstance(v, Bool):
        return {0: "CK_FALSE", 1: "CK_TRUE"}.get(v.value, f"0x{v.value:x} (not a CK_BBOOL)")
    if isinstance(v, Pointer):
        return f"0x{v.address:x}" if v.address else "NULL"
    if isinstance(v, Version):
        return f"{v.major}.{v.minor}"
    if isinstance(v, Text):
        return quote(v.value)
    if isinstance(v, Flags):
        return f"0x{v.value:x}"
    if isinstance(v, Null):
        return "NULL" if v.size is None else f"NULL [size : 0x{v.size:x} ({v.size})]"
    if isinstance(v, Unreadable):
        return f"0x{v.address:016x} / {v.length} <unreadable memory>"
    if isinstance(v, Redacted):
        facts = "".join(", " + f for f in v.facts)
        return f"<{v.what} hidden: {v.length} bytes{facts}>"
    if isinstance(v, Unavailable):
        return v.reason
    if isinstance(v, DecodeError):
        return f"<decode error: {v.message}>"
    if isinstance(v, InOut):
        return f"{inline(v.before)} => {inline(v.after)}"
    if isinstance(v, Bytes):
        return f"{v.length} bytes"
    if isinstance(v, Struct):
        return "{" + ", ".join(f"{f.name}: {inline(f.value)}" for f in v.fields) + "}"
    if isinstance(v, Items):
        return "[" + ", ".join(inline(i) for i in v.items) + "]"
    if isinstance(v, Template):
        return f"{len(v.attributes)} attributes"
    return repr(v)


def quote(s: str) -> str:
    """Quoted, with what is not printable escaped, so padding and garbage show."""
    out = []
    for ch in s:
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else ch.encode("unicode_escape").decode())
    return "'" + "".join(out) + "'"


def hexdump(data: bytes, length: int) -> List[str]:
    """OpenSC's rows: 4 spaces, offset, 16 upper-case hex bytes, printable ASCII."""
    rows = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexes = " ".join(f"{b:02X}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in chunk)
        rows.append(f"    {off:08X}  {hexes:<47}  {text}")
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
    lines = [f"{side} {label}: "]
    width = max((len(f.name) for f in v.fields), default=0) + 1
    for f in v.fields:
        lines.extend(_field_lines(f.name, f.value, width))
    return lines


def _field_lines(name: str, value: Value, width: int) -> List[str]:
    prefix = f"{FIELD_INDENT}{name + ':':<{width}} "
    if isinstance(value, Flags):
        return [f"{prefix}0x{value.value:x}"] + _flags_lines(value, FIELD_INDENT + "  ")
    if isinstance(value, Bytes):
        return [f"{prefix}{value.length} bytes"] + hexdump(value.data, value.length)
    return [prefix + inline(value)]


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
        head = f"{name}{v.address:016x} / {v.length}"
        if v.note:
            head += f" ({v.note})"
        return [head] + hexdump(v.data, v.length)
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
            for f in p.fields:
                lines.extend(render_arg(side, Arg(f"{label}->pParameter->{f.name}", f.value)))
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
