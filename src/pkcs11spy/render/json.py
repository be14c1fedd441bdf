"""JSON lines: one JSON object per line, for tools (schema: docs/json-schema.json).

Each record part is one line: ``start`` (the banner), ``enter`` (written before the call
is forwarded, so a call that crashes the module is still seen), ``exit`` (joined to its
``enter`` by ``id``) and ``stats``.  Every value of the record model maps to an object
with a ``"type"`` key; readers must tolerate types they do not know.

Addresses are hex strings (a 64-bit address does not fit a JSON reader's double);
numbers the application passed (handles, counts, constants) are integers.  Text is
escaped by ``json.dumps`` (``ensure_ascii``), so every line is valid JSON whatever bytes a
label holds.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, List, Optional

from . import parts
from ..model import (Arg, Attribute, BigInt, Bool, Bytes, Call, Const, Date, DecodeError,
                     DistinguishedName, EcPoint, Flags, InOut, Items, Mechanism, Null, Oid, Pointer,
                     Redacted, Scalar, Struct, Template, Text, Unavailable, Unreadable, Value,
                     Version)

SCHEMA_VERSION = 1


def _make_encoder() -> Callable[[Any], str]:
    """json.dumps builds its C encoder on every call; build it once (it keeps no state
    between calls without a circular check)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False).encode
    encoder = make(None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None,
                   ":", ",", False, False, True)
    return lambda obj: "".join(encoder(obj, 0))


_encode = _make_encoder()


# ---- time ------------------------------------------------------------------------------

# (second or millisecond, its text), each replaced whole: another thread reads either
# the old pair or the new one, never a mix.
_last_second: tuple = (None, "")
_last_milli: tuple = (None, "")
_THREE_DIGITS = parts.THREE_DIGITS


def iso_time(wall_ns: int) -> str:
    """ISO 8601 UTC with microseconds.  The text up to the milliseconds is made once
    per millisecond (the seconds once per second); calls come many per millisecond."""
    global _last_second, _last_milli
    milli = wall_ns // 1_000_000
    upto = _last_milli
    if upto[0] != milli:
        seconds = milli // 1000
        second = _last_second
        if second[0] != seconds:
            second = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        upto = _last_milli = (milli, f"{second[1]}.{_THREE_DIGITS[milli % 1000]}")
    return f"{upto[1]}{_THREE_DIGITS[wall_ns // 1000 % 1000]}Z"


# ---- values ----------------------------------------------------------------------------

def _address(address: int) -> str:
    return f"0x{address:x}"


def _scalar(v: Scalar) -> dict:
    return {"type": "ulong", "value": v.value}


# Constants and flag words recur on every call: convert each once (the dicts are only
# ever encoded, never changed).
_CACHE_LIMIT = 4096
_const_cache: Dict[tuple, dict] = {}
_flags_cache: Dict[tuple, dict] = {}


def _const(v: Const) -> dict:
    key = (v.family, v.value, v.name)
    out = _const_cache.get(key)
    if out is None:
        out = {"type": "const", "family": v.family, "value": v.value, "name": v.name}
        if len(_const_cache) < _CACHE_LIMIT:
            _const_cache[key] = out
    return out


def _flags(v: Flags) -> dict:
    key = (v.value, tuple(v.names), v.remainder)
    out = _flags_cache.get(key)
    if out is None:
        out = {"type": "flags", "value": v.value, "names": v.names}
        if v.remainder:
            out["unknown"] = v.remainder
        if len(_flags_cache) < _CACHE_LIMIT:
            _flags_cache[key] = out
    return out


def _bool(v: Bool) -> dict:
    return {"type": "bool", "value": bool(v.value), "raw": v.value}


def _pointer(v: Pointer) -> dict:
    return {"type": "pointer", "address": _address(v.address) if v.address else None}


def _version(v: Version) -> dict:
    return {"type": "version", "major": v.major, "minor": v.minor}


def _text(v: Text) -> dict:
    if v.raw is None:
        return {"type": "text", "value": v.value, "fixed": v.fixed}
    return {"type": "text", "value": v.value, "fixed": v.fixed, "hex": v.raw.hex()}


def _bytes(v: Bytes) -> dict:
    out = {"type": "bytes", "address": _address(v.address), "length": v.length,
           "hex": v.data.hex(), "cut": len(v.data) < v.length}
    if v.note:
        out["note"] = v.note
    return out


def _null(v: Null) -> dict:
    return {"type": "null", "size": v.size}


def _unreadable(v: Unreadable) -> dict:
    return {"type": "unreadable", "address": _address(v.address), "length": v.length}


def _redacted(v: Redacted) -> dict:
    return {"type": "redacted", "what": v.what, "length": v.length, "facts": v.facts}


def _unavailable(v: Unavailable) -> dict:
    return {"type": "unavailable", "reason": v.reason}


def _decode_error(v: DecodeError) -> dict:
    return {"type": "decode_error", "message": v.message}


def _struct(v: Struct) -> dict:
    return {"type": "struct", "struct": v.type_name,
            "fields": {f.name: value(f.value) for f in v.fields}}


def _items(v: Items) -> dict:
    return {"type": "list", "kind": v.kind, "count": v.count, "items": [value(i) for i in v.items]}


def _attribute(v: Attribute) -> dict:
    return {"type": "attribute", "attribute": _const(v.type), "length": v.length,
            "value": None if v.value is None else value(v.value)}


def _template(v: Template) -> dict:
    return {"type": "template", "attributes": [_attribute(a) for a in v.attributes]}


def _mechanism(v: Mechanism) -> dict:
    return {"type": "mechanism", "mechanism": _const(v.type),
            "parameter": None if v.parameter is None else value(v.parameter),
            "parameter_length": v.parameter_length}


def _bigint(v: BigInt) -> dict:
    return {"type": "bigint", "length": v.length, "bits": v.bits, "hex": v.data.hex(),
            "cut": len(v.data) < v.length}


def _date(v: Date) -> dict:
    return {"type": "date", "value": v.value}


def _oid(v: Oid) -> dict:
    return {"type": "oid", "dotted": v.dotted, "name": v.name or None}


def _dn(v: DistinguishedName) -> dict:
    return {"type": "dn", "parts": [{"name": f.name, "value": value(f.value)} for f in v.parts]}


def _ec_point(v: EcPoint) -> dict:
    return {"type": "ec_point", "form": v.form, "hex": v.data.hex(), "der_wrapped": v.der_wrapped}


def _inout(v: InOut) -> dict:
    return {"type": "inout", "before": value(v.before), "after": value(v.after)}


CONVERT: Dict[type, Callable[[Any], dict]] = {
    Scalar: _scalar, Const: _const, Flags: _flags, Bool: _bool, Pointer: _pointer,
    Version: _version, Text: _text, Bytes: _bytes, Null: _null, Unreadable: _unreadable,
    Redacted: _redacted, Unavailable: _unavailable, DecodeError: _decode_error,
    Struct: _struct, Items: _items, Attribute: _attribute, Template: _template,
    Mechanism: _mechanism, InOut: _inout, BigInt: _bigint, Date: _date, Oid: _oid,
    DistinguishedName: _dn, EcPoint: _ec_point,
}


def value(v: Value) -> dict:
    convert = CONVERT.get(type(v))
    if convert is None:
        return {"type": "unknown", "repr": repr(v)}
    return convert(v)


def _args(args: List[Arg]) -> List[dict]:
    return [{"name": a.label, "value": value(a.value)} for a in args]


# ---- record parts ------------------------------------------------------------------------

def banner(module: str, version: str, secrets_shown: bool, pid: int, partial: str = "") -> str:
    out = {"v": SCHEMA_VERSION, "event": "start", "pid": pid, "module": module,
           "version": version, "secrets_shown": secrets_shown}
    if partial:
        out["partial"] = partial
    return _encode(out) + "\n"


def _envelope(call: Call, event: str) -> dict:
    return {"v": SCHEMA_VERSION, "event": event, "id": call.seq, "pid": call.pid, "tid": call.tid,
            "function": call.function, "time": iso_time(call.wall_ns)}


def enter_record(call: Call) -> dict:
    out = _envelope(call, "enter")
    out["in"] = _args(call.inputs)
    if call.notes:
        out["notes"] = call.notes
    return out


def exit_record(call: Call) -> dict:
    out = _envelope(call, "exit")
    out["rv"] = call.rv if call.rv is not None else 0
    out["rv_name"] = call.rv_name
    out["duration_us"] = None if call.duration_ns is None else call.duration_ns / 1000
    out["out"] = _args(call.outputs)
    if call.exit_notes:
        out["notes"] = call.exit_notes
    return out


# A record part is built from fragments: one argument's object, made by arg_fragment.
# The tracer reuses fragments (see recorder.py).  The envelope is formatted directly,
# with the same keys in the same order as enter_record/exit_record.
SEPARATOR = ","  # between fragments
_quote = json.encoder.encode_basestring_ascii


def arg_fragment(side: str, arg: Arg) -> str:
    """One argument as a JSON object (side is the text layout's; JSON says it by key)."""
    return _encode({"name": arg.label, "value": value(arg.value)})


_quoted_names: Dict[str, str] = {}  # function and return code names, JSON-quoted once


def _quoted(name: str) -> str:
    quoted = _quoted_names.get(name)
    if quoted is None:
        quoted = _quote(name)
        if len(_quoted_names) < 4096:
            _quoted_names[name] = quoted
    return quoted


_middles: Dict[tuple, str] = {}  # (pid, tid, function) -> their part of the envelope


def _rest(seq: int, function: str, pid: int, tid: int, wall_ns: int) -> str:
    """The envelope after its "event": the same in a call's enter and exit lines."""
    key = (pid, tid, function)
    middle = _middles.get(key)
    if middle is None:
        middle = f',"pid":{pid},"tid":{tid},"function":{_quoted(function)},"time":"'
        if len(_middles) >= 4096:
            _middles.clear()
        _middles[key] = middle
    return f',"id":{seq}{middle}{iso_time(wall_ns)}"'


# Envelopes made for enter lines, taken back by their exit lines (making one costs more
# than the lookup).  Keyed by everything the envelope says, so a tool rendering calls of
# several traces never gets another call's; an exit that never comes is forgotten when
# the table is full.
_rests: Dict[tuple, str] = {}
_ENTER = f'{{"v":{SCHEMA_VERSION},"event":"enter"'
_EXIT = f'{{"v":{SCHEMA_VERSION},"event":"exit"'


def enter_part(seq: int, function: str, pid: int, tid: int, wall_ns: int, fragments: List[str],
               notes: List[str]) -> str:
    rest = _rest(seq, function, pid, tid, wall_ns)
    if len(_rests) >= 4096:
        _rests.clear()
    _rests[(seq, pid, tid, wall_ns, function)] = rest
    tail = f',"notes":{_encode(notes)}}}\n' if notes else "}\n"
    return f'{_ENTER}{rest},"in":[{",".join(fragments)}]{tail}'


def exit_part(seq: int, function: str, pid: int, tid: int, wall_ns: int, resumed: bool, rv: int,
              rv_name: str, duration_ns: Optional[int], fragments: List[str], notes: List[str]) -> str:
    # resumed: readers join by id, so the exit line is the same either way.
    rest = _rests.pop((seq, pid, tid, wall_ns, function), None) or _rest(seq, function, pid, tid, wall_ns)
    # Microseconds with three decimals, by integer arithmetic (exact, and cheaper than
    # a float's repr); a JSON number all the same.
    duration = "null" if duration_ns is None else f"{duration_ns // 1000}.{_THREE_DIGITS[duration_ns % 1000]}"
    tail = f',"notes":{_encode(notes)}}}\n' if notes else "}\n"
    return (f'{_EXIT}{rest},"rv":{rv},"rv_name":{_quoted(rv_name)},'
            f'"duration_us":{duration},"out":[{",".join(fragments)}]{tail}')


def render_enter(call: Call) -> str:
    return parts.enter_from_model(call, enter_part, arg_fragment)


def render_exit(call: Call) -> str:
    return parts.exit_from_model(call, exit_part, arg_fragment)


def render_stats(table: dict, pid: int, when: str, wall_ns: int) -> str:
    out = {"v": SCHEMA_VERSION, "event": "stats", "pid": pid, "time": iso_time(wall_ns), "at": when}
    out.update(table)
    return _encode(out) + "\n"


def encode(obj: Optional[dict]) -> str:
    return _encode(obj)
