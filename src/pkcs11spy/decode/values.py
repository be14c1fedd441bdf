"""Decoders for single values: constants, flags, buffers, fixed-width text, structures."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from .. import catalog
from ..memory import ULONG_MAX, memory
from ..model import (Bool, Bytes, Const, Field, Flags, Null, Redacted, Scalar, Struct, Text,
                     Unavailable, Unreadable, Value, Version)
from ..native import ffi

CK_UNAVAILABLE_INFORMATION = ULONG_MAX
CK_EFFECTIVELY_INFINITE = 0


# The hot path names the same few constants and flag words again and again: keep the
# decoded values (treated as read-only by everyone after decoding).
_CACHE_LIMIT = 4096
_const_cache: Dict[Tuple[str, int], Value] = {}
_flags_cache: Dict[Tuple[str, int], Flags] = {}


def const(family: str, value: int) -> Value:
    key = (family, value)
    hit = _const_cache.get(key)
    if hit is not None:
        return hit
    try:
        fam = catalog.family(family)
    except KeyError:
        return Scalar(value)
    result = Const(value, fam.name_of(value), family)
    if len(_const_cache) < _CACHE_LIMIT:
        _const_cache[key] = result
    return result


def flags(context: str, value: int) -> Flags:
    key = (context, value)
    hit = _flags_cache.get(key)
    if hit is not None:
        return hit
    try:
        names, rest = catalog.flagset(context).split(value)
    except KeyError:
        return Flags(value, [], value)
    result = Flags(value, names, rest)
    if len(_flags_cache) < _CACHE_LIMIT:
        _flags_cache[key] = result
    return result


def boolean(value: int) -> Bool:
    return Bool(value)


def ulong_count(value: int) -> Value:
    """A size or count field of an info structure: decimal, special values named."""
    if value == CK_UNAVAILABLE_INFORMATION:
        return Unavailable("CK_UNAVAILABLE_INFORMATION")
    return Scalar(value, decimal=True)


def session_limit(value: int) -> Value:
    """ulMaxSessionCount / ulMaxRwSessionCount: 0 means no limit (CK_EFFECTIVELY_INFINITE)."""
    if value == CK_EFFECTIVELY_INFINITE:
        return Const(value, "CK_EFFECTIVELY_INFINITE", "CK")
    return ulong_count(value)


def decoded_text(raw: bytes, encoding: str = "utf-8", fixed: bool = False) -> Text:
    """Text in an encoding; bytes that are not valid in it are kept beside it (Text.raw)."""
    try:
        return Text(raw.decode(encoding), fixed=fixed)
    except UnicodeDecodeError:
        return Text(raw.decode(encoding, "backslashreplace"), fixed=fixed, raw=raw)


def fixed_text(raw: bytes) -> Text:
    """A blank-padded fixed-width field (labels, manufacturer ids): shown whole, in
    quotes, so trailing padding and odd bytes are visible."""
    return decoded_text(raw, fixed=True)


def utf8_text(raw: bytes) -> Text:
    return decoded_text(raw)


def version(v) -> Version:
    return Version(v.major, v.minor)


def buffer(address: int, length: int, cap: int) -> Value:
    """A byte buffer of the given length, read up to cap bytes."""
    if address == 0:
        return Null(length if length else None)
    if length == CK_UNAVAILABLE_INFORMATION:
        return Unavailable("CK_UNAVAILABLE_INFORMATION")
    shown = min(length, cap)
    data = memory.read(address, shown)
    if data is None:
        return Unreadable(address, length)
    return Bytes(address, length, data)


def printable(data: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in data)


def secret(address: int, length: int, what: str) -> Value:
    """A secret buffer: its length and whether it was printable text (evidence when a
    client sends garbage for a PIN), never its bytes."""
    if address == 0:
        return Null(length if length else None)
    facts = []
    data = memory.read(address, min(length, 4096))
    if data is not None and length:
        facts.append("printable text" if printable(data) else "not printable text")
    return Redacted(length, what, facts)


def _fixed(cdata_array) -> Text:
    return fixed_text(bytes(ffi.buffer(cdata_array)))


# Struct field kinds: how each field of an info structure is shown.
STRUCT_FIELDS = {
    "CK_INFO": [("cryptokiVersion", "version"), ("manufacturerID", "text"), ("flags", "flags:info"),
                ("libraryDescription", "text"), ("libraryVersion", "version")],
    "CK_SLOT_INFO": [("slotDescription", "text"), ("manufacturerID", "text"), ("flags", "flags:slot"),
                     ("hardwareVersion", "version"), ("firmwareVersion", "version")],
    "CK_TOKEN_INFO": [("label", "text"), ("manufacturerID", "text"), ("model", "text"),
                      ("serialNumber", "text"), ("flags", "flags:token"),
                      ("ulMaxSessionCount", "limit"), ("ulSessionCount", "count"),
                      ("ulMaxRwSessionCount", "limit"), ("ulRwSessionCount", "count"),
                      ("ulMaxPinLen", "count"), ("ulMinPinLen", "count"),
                      ("ulTotalPublicMemory", "count"), ("ulFreePublicMemory", "count"),
                      ("ulTotalPrivateMemory", "count"), ("ulFreePrivateMemory", "count"),
                      ("hardwareVersion", "version"), ("firmwareVersion", "version"),
                      ("utcTime", "text")],
    "CK_SESSION_INFO": [("slotID", "ulong"), ("state", "enum:CKS"), ("flags", "flags:session"),
                        ("ulDeviceError", "ulong")],
    "CK_MECHANISM_INFO": [("ulMinKeySize", "count"), ("ulMaxKeySize", "count"),
                          ("flags", "flags:mechanism")],
}


# Per structure type, resolved once: (field name, converter of the raw field).
_struct_plans: Dict[str, List[Tuple[str, Callable]]] = {}


def _struct_plan(type_name: str) -> List[Tuple[str, Callable]]:
    plan = _struct_plans.get(type_name)
    if plan is None:
        plan = [(name, _field_converter(kind)) for name, kind in STRUCT_FIELDS[type_name]]
        _struct_plans[type_name] = plan
    return plan


def _field_converter(kind: str) -> Callable:
    if kind == "ulong":
        return lambda raw: Scalar(int(raw))
    if kind.startswith("flags:"):
        context = kind[6:]
        return lambda raw: flags(context, int(raw))
    if kind.startswith("enum:"):
        family = kind[5:]
        return lambda raw: const(family, int(raw))
    return lambda raw: field_value(kind, raw)


def struct(type_name: str, address: int) -> Value:
    if address == 0:
        return Null()
    c = memory.struct(type_name, address)
    if c is None:
        return Unreadable(address, ffi.sizeof(type_name))
    return Struct(type_name, [Field(name, convert(getattr(c, name))) for name, convert in _struct_plan(type_name)])


def field_value(kind: str, raw) -> Value:
    if kind == "text":
        return _fixed(raw)
    if kind == "version":
        return version(raw)
    if kind == "count":
        return ulong_count(int(raw))
    if kind == "limit":
        return session_limit(int(raw))
    if kind == "ulong":
        return Scalar(int(raw))
    if kind.startswith("flags:"):
        return flags(kind[6:], int(raw))
    if kind.startswith("enum:"):
        return const(kind[5:], int(raw))
    raise ValueError("unknown field kind " + kind)


def ulong_at(address: int) -> Optional[int]:
    return memory.ulong(address) if address else None
