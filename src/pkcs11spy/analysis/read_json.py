"""Streaming reader of our JSON-lines traces (envelope in the brief: start / enter / exit
events).  Typed values are turned into the same text the text reader yields, so rules do
not care which format they read; value types we do not know are kept as best we can."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .codes import ckr_name
from .records import Event, TraceArg, TraceCall, Warning_

MAX_WARNINGS = 50


LIST_LINE = {"slot": "Slot {}", "object": "Object {} matches"}


def value_text(v: Any) -> Tuple[str, List[str], Optional[bytes]]:
    """(one-line text, detail lines, bytes) of a typed JSON value (types of issue 6's
    docs/json-schema.json); a type we do not know is kept as compact JSON text."""
    if not isinstance(v, dict):
        if isinstance(v, int) and not isinstance(v, bool):
            return f"0x{v:x}", [], None
        return ("NULL" if v is None else str(v)), [], None
    kind = v.get("type")
    handler = VALUE_TYPES.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        try:
            return handler(v)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass  # a known type with unexpected content: fall through to the generic form
    return json.dumps(v, sort_keys=True)[:120], [], None


def _number(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    return f"0x{int(v['value']):x}", [], None


def _const(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    return str(v.get("name") or f"0x{int(v['value']):x}"), [], None


def _flags(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    return f"0x{int(v['value']):x}", [str(n) for n in v.get("names", [])], None


def _bool(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    return ("CK_TRUE" if v.get("value") else "CK_FALSE"), [], None


def _bytes(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    data = bytes.fromhex(v["hex"]) if isinstance(v.get("hex"), str) else None
    return f"{v.get('address', '0')} / {v.get('length', '?')}", [], data


def _null(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    size = v.get("size")
    return ("NULL" if size is None else f"NULL [size : 0x{int(size):x} ({int(size)})]"), [], None


def _redacted(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    facts = "".join(", " + str(f) for f in v.get("facts", []))
    return f"<{v.get('what', 'value')} hidden: {v.get('length', '?')} bytes{facts}>", [], None


def _struct(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    fields = v.get("fields", {})
    items = fields.items() if isinstance(fields, dict) else ((f.get("name"), f.get("value")) for f in fields)
    details = []
    for name, value in items:
        text, sub, _ = value_text(value)
        details.append(f"{name}: {text}")
        details.extend("  " + d for d in sub)
    return str(v.get("struct", "")), details, None


def _list(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    line = LIST_LINE.get(str(v.get("kind")), "{}")
    return f"{v.get('count', '?')} items", [line.format(value_text(i)[0]) for i in v.get("items", [])], None


def _attribute_line(a: dict) -> str:
    name = value_text(a.get("attribute"))[0]
    if a.get("value") is None:
        length = a.get("length")
        if isinstance(length, dict):  # an unavailable length arrives as a typed value
            return f"{name} {value_text(length)[0]}"
        return f"{name} requested with {length} bytes" if length else f"{name} requested"
    return f"{name} {value_text(a['value'])[0]}"


def _template(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    attrs = [a for a in v.get("attributes", []) if isinstance(a, dict)]
    return f"{len(attrs)} attributes", [_attribute_line(a) for a in attrs], None


def _inout(v: dict) -> Tuple[str, List[str], Optional[bytes]]:
    return f"{value_text(v.get('before'))[0]} => {value_text(v.get('after'))[0]}", [], None


VALUE_TYPES = {
    "ulong": _number, "const": _const, "flags": _flags, "bool": _bool, "bytes": _bytes, "null": _null,
    "redacted": _redacted, "struct": _struct, "list": _list, "template": _template, "inout": _inout,
    "pointer": lambda v: (v.get("address") or "NULL", [], None),
    "version": lambda v: (f"{v['major']}.{v['minor']}", [], None),
    "text": lambda v: (repr(str(v["value"])), [], None),
    "unreadable": lambda v: (f"{v.get('address')} / {v.get('length')} <unreadable memory>", [], None),
    "unavailable": lambda v: (str(v.get("reason", "CK_UNAVAILABLE_INFORMATION")), [], None),
    "decode_error": lambda v: (f"<decode error: {v.get('message')}>", [], None),
    "attribute": lambda v: (_attribute_line(v), [], None),
}


def _args(items: Any) -> List[TraceArg]:
    out: List[TraceArg] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "name" not in item:
            continue
        name, value = str(item["name"]), item.get("value")
        if isinstance(value, dict) and value.get("type") == "mechanism":
            out.extend(_mechanism_args(name, value))
            continue
        text, details, data = value_text(value)
        arg = TraceArg(name, text, details[:64])
        arg.data = data
        out.append(arg)
    return out


def _mechanism_args(name: str, v: dict) -> List[TraceArg]:
    """The text layout's lines for a mechanism: NAME->type, then NAME->pParameter->FIELD."""
    args = [TraceArg(f"{name}->type", value_text(v.get("mechanism"))[0])]
    parameter = v.get("parameter")
    if isinstance(parameter, dict) and parameter.get("type") == "struct" and isinstance(parameter.get("fields"), dict):
        for field_name, field_value in parameter["fields"].items():
            args.append(TraceArg(f"{name}->pParameter->{field_name}", value_text(field_value)[0]))
    elif parameter is not None:
        args.append(TraceArg(f"{name}->pParameter[ulParameterLen]", value_text(parameter)[0]))
    return args


class JsonReader:
    def __init__(self, source: str, warn: Callable[[Warning_], None]) -> None:
        self.source = source
        self.warn = warn
        self.pending: Dict[Tuple[str, int], TraceCall] = {}
        self.modules: Dict[str, str] = {}
        self.calls = 0
        self.warnings = 0

    def _warn(self, line: int, message: str) -> None:
        self.warnings += 1
        if self.warnings <= MAX_WARNINGS:
            self.warn(Warning_(self.source, line, message))

    def events(self, lines: Iterable[str]) -> Iterator[Event]:
        lineno = 0
        for raw in lines:
            lineno += 1
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                what = "truncated" if not raw.endswith("\n") else "not JSON"
                self._warn(lineno, f"line is {what}; skipped: {raw[:60]!r}")
                continue
            if not isinstance(obj, dict) or "event" not in obj:
                self._warn(lineno, "not a pkcs11spy JSON event (no 'event' key); skipped")
                continue
            yield from self._event(obj, lineno)
        for call in list(self.pending.values()):
            yield Event("hang", call)
        self.pending.clear()

    def _event(self, obj: Dict[str, Any], lineno: int) -> Iterator[Event]:
        kind = obj.get("event")
        pid = str(obj.get("pid", "?"))
        if kind == "start":
            self.modules[pid] = str(obj.get("module", ""))
            yield Event("banner", module=self.modules[pid], process=pid,
                        extra={"tool": f"pkcs11spy {obj.get('version', '')}".strip(), "source": self.source})
            if obj.get("partial"):
                yield Event("partial", process=pid, extra={"what": str(obj["partial"]), "source": self.source})
            return
        if kind == "stats":
            return  # per-process statistics: the summary computes its own
        if kind not in ("enter", "exit") or not isinstance(obj.get("id"), int):
            self._warn(lineno, f"event {kind!r} without a call id; skipped")
            return
        key = (pid, obj["id"])
        tid = obj.get("tid")
        tid_text = f"0x{tid:x}" if isinstance(tid, int) else (str(tid) if tid is not None else None)
        if kind == "enter":
            call = TraceCall(self.source, lineno, "json", pid, obj["id"], str(obj.get("function", "?")),
                             tid_text, obj.get("time"), _args(obj.get("in")), module=self.modules.get(pid))
            if key in self.pending:
                yield Event("hang", self.pending.pop(key))
            self.pending[key] = call
            self.calls += 1
            yield Event("enter", call)
            return
        call = self.pending.pop(key, None)
        if call is None:
            self._warn(lineno, f"exit of call {obj['id']} whose enter is not in this file")
            call = TraceCall(self.source, lineno, "json", pid, obj["id"], str(obj.get("function", "?")),
                             tid_text, obj.get("time"), _args(obj.get("in")), module=self.modules.get(pid))
            self.calls += 1
            yield Event("enter", call)
        call.outs = _args(obj.get("out"))
        rv = obj.get("rv")
        call.rv = rv if isinstance(rv, int) else 0xFFFFFFFF
        call.rv_name = obj.get("rv_name") or ckr_name(call.rv)
        if isinstance(obj.get("duration_us"), (int, float)):
            call.duration_ms = obj["duration_us"] / 1000.0
        yield Event("exit", call)
