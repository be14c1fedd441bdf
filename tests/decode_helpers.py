"""Building C structures in this process's memory for the decoder tests (the decoders
read through /proc/self/mem, so cffi-owned memory is application memory to them)."""
from __future__ import annotations

from typing import Any, List

from pkcs11spy import catalog
from pkcs11spy.decode import attributes, mechanisms
from pkcs11spy.native import ffi

keep: List[Any] = []   # every buffer a test hands out stays alive for the test run


def addr(cdata) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def buf(data: bytes):
    b = ffi.new("CK_BYTE[]", data) if data else ffi.new("CK_BYTE[]", 1)
    keep.append(b)
    return b


def const(name: str) -> int:
    prefix = name.split("_", 1)[0]
    families = {"CKM": "CKM", "CKA": "CKA", "CKK": "CKK", "CKO": "CKO", "CKD": "CKD", "CKZ": "CKZ"}
    value = catalog.family(families[prefix]).value_of(name) if prefix in families else catalog.lookup(name)
    assert value is not None, name
    return value


def new(ctype: str, **fields):
    p = ffi.new(ctype + " *")
    keep.append(p)
    for k, v in fields.items():
        setattr(p, k, v)
    return p


def reader(show_secrets: bool = False, cap: int = 4096) -> mechanisms.Reader:
    ctx = attributes.Context(cap, show_secrets)
    return mechanisms.Reader(cap, show_secrets, lambda a, n: attributes.template(a, n, ctx))


def decode_param(mechanism: str, p, length=None, **kw):
    size = ffi.sizeof(ffi.typeof(p).item) if length is None else length
    return mechanisms.decode(const(mechanism), addr(p), size, reader(**kw))


def fields(struct) -> dict:
    return {f.name: f.value for f in struct.fields}


def template(*pairs):
    """A CK_ATTRIBUTE array from (CKA name, raw bytes) pairs."""
    array = ffi.new("CK_ATTRIBUTE[]", len(pairs))
    keep.append(array)
    for i, (name, raw) in enumerate(pairs):
        array[i].type = const(name) if isinstance(name, str) else name
        if raw is None:
            array[i].pValue, array[i].ulValueLen = ffi.NULL, 0
        else:
            b = buf(raw)
            array[i].pValue, array[i].ulValueLen = b, len(raw)
    return array


def ulong(v: int) -> bytes:
    return v.to_bytes(ffi.sizeof("CK_ULONG"), "little")
