"""Streaming reader of our JSON-lines traces (envelope in the brief: start / enter / exit
events).  Typed values are turned into the same text the text reader yields, so rules do
not care which format they read; value types we do not know are kept as best we can."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .codes import ckr_name
from .records import Event, TraceArg, TraceCall, Warning_

MAX_WARNINGS = 50


def value_text(v: Any) -> Tuple[str, List[str], Optional[bytes]]:
    """(one-line text, detail lines, bytes) of a typed JSON value."""
    if not isinstance(v, dict):
        if isinstance(v, int) and not isinstance(v, bool):
            return f"0x{v:x}", [], None
        return ("NULL" if v is None else str(v)), [], None
    kind = str(v.get("type", ""))
    details: List[str] = []
    data = None
    if isinstance(v.get("hex"), str):
        try:
            data = bytes.fromhex(v["hex"])
        except ValueError:
            data = None
    for key in ("names", "flags"):
        if isinstance(v.get(key), list):
            details.extend(str(n) for n in v[key])
    for key in ("fields", "attributes", "items", "template"):
        if isinstance(v.get(key), list):
            for item in v[key]:
                if isinstance(item, dict) and "name" in item:
                    inner = item.get("value", item)
                    text, sub, _ = value_text(inner)
                    details.append(f"{item['name']}: {text}" if key == "fields" else f"{item['name']} {text}")
                    details.extend("  " + s for s in sub)
                else:
                    details.append(value_text(item)[0])
    if kind in ("redacted", "hidden", "secret"):
        facts = "".join(", " + str(f) for f in v.get("facts", []))
        return f"<{v.get('what', 'value')} hidden: {v.get('length', '?')} bytes{facts}>", details, None
    if kind == "null" or v.get("null") is True:
        return "NULL", details, None
    if kind in ("unavailable",):
        return "CK_UNAVAILABLE_INFORMATION", details, None
    if "name" in v and isinstance(v["name"], str):
        return v["name"], details, data
    if "before" in v and "after" in v:
        return f"{value_text(v['before'])[0]} => {value_text(v['after'])[0]}", details, data
    if isinstance(v.get("value"), bool):
        return ("CK_TRUE" if v["value"] else "CK_FALSE"), details, data
    if isinstance(v.get("value"), int):
        return f"0x{v['value']:x}", details, data
    if isinstance(v.get("value"), str):
        return v["value"], details, data
    if "length" in v:
        return f"{v.get('address', 0) or 0:016x} / {v['length']}", details, data
    if "count" in v:
        return f"{v['count']} items", details, data
    return json.dumps(v, sort_keys=True)[:120], details, data


def _args(items: Any) -> List[TraceArg]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "name" not in item:
            continue
        text, details, data = value_text(item.get("value"))
        arg = TraceArg(str(item["name"]), text, details[:64])
        arg.data = data
        out.append(arg)
    return out


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
            return
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
