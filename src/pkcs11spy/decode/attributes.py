"""Attribute templates: each attribute's type by name and its value by the type's kind.

The kind of each attribute type comes from the catalog (``catalog.attribute_kind``);
a value whose length does not fit its kind is shown as bytes with a note.  Nothing is
ever read past the length given.
"""
from __future__ import annotations

import datetime
from typing import Callable, Dict, List, Optional

from .. import catalog, redact
from ..memory import ULONG_SIZE, memory
from ..model import (Attribute, BigInt, Bool, Bytes, Date, DecodeError, DistinguishedName, Items, Null,
                     Redacted, Scalar, Template, Text, Unavailable, Unreadable, Value, Version)
from ..native import ffi
from . import der, values
from .values import CK_UNAVAILABLE_INFORMATION

CKA_CLASS = 0x0
CKA_KEY_TYPE = 0x100
CKO_CERTIFICATE = 0x1
MAX_ATTRIBUTES = 1024   # a count beyond this is garbage: not read
MAX_DEPTH = 4           # nested templates


class Context:
    """What attribute decoding needs to know about the call."""

    def __init__(self, cap: int, show_secrets: bool, policy: Optional[redact.Policy] = None) -> None:
        self.cap = cap
        self.show_secrets = show_secrets
        # CallData passes the tracer's policy; tools and tests get the shared default.
        self.policy = policy if policy is not None else redact.default_policy(show_secrets)


class Scope:
    """What the template an attribute sits in says about it: the object class (whether
    CKA_VALUE is a secret, and a certificate), the key type (the parameter-set family)."""

    def __init__(self, cls: Optional[int] = None, key_type: Optional[int] = None) -> None:
        self.cls = cls
        self.key_type = key_type


NO_SCOPE = Scope()


def _ulong(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _as_bool(data: bytes, ctx, depth, scope) -> Value:
    return Bool(data[0]) if len(data) == 1 else _mismatch(data, "a CK_BBOOL is 1 byte")


def _as_ulong(data: bytes, ctx, depth, scope) -> Value:
    if len(data) != ULONG_SIZE:
        return _mismatch(data, f"a CK_ULONG is {ULONG_SIZE} bytes")
    return values.ulong_count(_ulong(data))


def _enum(family: str) -> Callable:
    def decode(data: bytes, ctx, depth, scope) -> Value:
        if len(data) != ULONG_SIZE:
            return _mismatch(data, f"a CK_ULONG is {ULONG_SIZE} bytes")
        v = _ulong(data)
        if v == CK_UNAVAILABLE_INFORMATION:
            return Unavailable("CK_UNAVAILABLE_INFORMATION")
        return values.const(family, v)
    return decode


def _flags(context: str) -> Callable:
    def decode(data: bytes, ctx, depth, scope) -> Value:
        if len(data) != ULONG_SIZE:
            return _mismatch(data, f"a CK_ULONG is {ULONG_SIZE} bytes")
        return values.flags(context, _ulong(data))
    return decode


def _parameter_set(data: bytes, ctx, depth, scope) -> Value:
    """CKA_PARAMETER_SET: its constants depend on the key type (CKP_ML_DSA_44, ...)."""
    if len(data) != ULONG_SIZE:
        return _mismatch(data, f"a CK_ULONG is {ULONG_SIZE} bytes")
    family = catalog.parameter_set_family(scope.key_type)
    if family is None:
        return Scalar(_ulong(data))  # no key type in sight: the number, not a guess
    return values.const(family, _ulong(data))


def _text(data: bytes, ctx, depth, scope) -> Value:
    return values.utf8_text(data)


def _date(data: bytes, ctx, depth, scope) -> Value:
    if len(data) == 0:
        return Text("", fixed=False)
    if len(data) != 8:
        return _mismatch(data, "a CK_DATE is 8 bytes")
    if not data.isdigit():  # ASCII digits only: int() would take spaces, signs, newlines
        return _mismatch(data, "not a valid CK_DATE")
    try:
        datetime.date(int(data[0:4]), int(data[4:6]), int(data[6:8]))
        return Date(f"{data[0:4].decode()}-{data[4:6].decode()}-{data[6:8].decode()}")
    except ValueError:
        return _mismatch(data, "not a valid CK_DATE")


def _mechanisms(data: bytes, ctx, depth, scope) -> Value:
    if len(data) % ULONG_SIZE:
        return _mismatch(data, "not a whole number of CK_MECHANISM_TYPE")
    items = [values.const("CKM", _ulong(data[i:i + ULONG_SIZE])) for i in range(0, len(data), ULONG_SIZE)]
    return Items("mechanism", items, len(items))


def _ulongs(data: bytes, ctx, depth, scope) -> Value:
    if len(data) % ULONG_SIZE:
        return _mismatch(data, "not a whole number of CK_ULONG")
    items = [Scalar(_ulong(data[i:i + ULONG_SIZE]), decimal=True) for i in range(0, len(data), ULONG_SIZE)]
    return Items("ulong", items, len(items))


def _version(data: bytes, ctx, depth, scope) -> Value:
    return Version(data[0], data[1]) if len(data) == 2 else _mismatch(data, "a CK_VERSION is 2 bytes")


def _bigint(data: bytes, ctx, depth, scope) -> Value:
    return BigInt(len(data), data[: ctx.cap])


def _nested(data: bytes, ctx, depth, scope) -> Value:
    size = ffi.sizeof("CK_ATTRIBUTE")
    if len(data) % size:
        return _mismatch(data, "not a whole number of CK_ATTRIBUTE")
    if depth >= MAX_DEPTH:
        return DecodeError("templates nested too deep")
    count = len(data) // size
    array = ffi.new("CK_ATTRIBUTE[]", count)
    ffi.memmove(array, data, len(data))
    inner = Scope(object_class(array, count), template_key_type(array, count))
    return Template([attribute(array[i], ctx, depth + 1, inner, with_value=True) for i in range(count)])


def _bytes(data: bytes, ctx, depth, scope) -> Value:
    return Bytes(0, len(data), data[: ctx.cap])


def _der(reader: Callable, what: str) -> Callable:
    """A DER value: decoded, or its bytes with why it did not parse."""
    def decode(data: bytes, ctx, depth, scope) -> Value:
        try:
            return reader(data)
        except der.DerError as exc:
            return Bytes(0, len(data), data[: ctx.cap], note=f"not {what}: {exc}")
    return decode


def _name(data: bytes, ctx, depth, scope) -> Value:
    if not data:
        return DistinguishedName([])
    return _der(der.name, "a DER distinguished name")(data, ctx, depth, scope)


def _value(data: bytes, ctx, depth, scope) -> Value:
    """CKA_VALUE: a certificate's is its DER encoding; others are bytes."""
    if scope.cls == CKO_CERTIFICATE:
        return _der(der.certificate, "an X.509 certificate")(data, ctx, depth, scope)
    return _bytes(data, ctx, depth, scope)


def _mismatch(data: bytes, why: str) -> Value:
    return Bytes(0, len(data), data, note=why)


KIND_DECODERS: Dict[str, Callable] = {
    "bool": _as_bool,
    "ulong": _as_ulong,
    "text": _text,
    "date": _date,
    "mechanism_list": _mechanisms,
    "ulong_list": _ulongs,
    "version": _version,
    "bigint": _bigint,
    "template": _nested,
    "bytes": _bytes,
    "parameter_set": _parameter_set,
    "der_name": _name,
    "ec_params": _der(der.ec_params, "DER ECParameters"),
    "ec_point": _der(der.ec_point, "an EC point"),
    "der": _bytes,
}

# "der" attributes whose content we can read, by name.
DER_BY_NAME: Dict[str, Callable] = {
    "CKA_SERIAL_NUMBER": _der(der.integer, "a DER INTEGER"),
    "CKA_OBJECT_ID": _der(der.object_id, "a DER OBJECT IDENTIFIER"),
    "CKA_PUBLIC_KEY_INFO": _der(der.public_key_info, "a DER SubjectPublicKeyInfo"),
    "CKA_ATTR_TYPES": _der(der.object_ids, "a DER SEQUENCE OF OBJECT IDENTIFIER"),
    "CKA_GOSTR3410_PARAMS": _der(der.object_id, "a DER OBJECT IDENTIFIER"),
    "CKA_GOSTR3411_PARAMS": _der(der.object_id, "a DER OBJECT IDENTIFIER"),
    "CKA_GOST28147_PARAMS": _der(der.object_id, "a DER OBJECT IDENTIFIER"),
    "CKA_VALUE": _value,
}
# Kinds decoded from the whole value (a structure cut at the dump cap does not parse).
WHOLE_VALUE_KINDS = {"template", "mechanism_list", "ulong_list", "der", "der_name", "ec_params",
                     "ec_point", "bytes"}
WHOLE_VALUE_LIMIT = 64 * 1024


def decoder_for(kind: str, name: str = "") -> Callable:
    if name in DER_BY_NAME and kind in ("der", "bytes"):
        return DER_BY_NAME[name]
    if kind in KIND_DECODERS:
        return KIND_DECODERS[kind]
    if kind.startswith("enum:"):
        return _enum(kind[5:])
    if kind.startswith("flags:"):
        return _flags(kind[6:])
    return _bytes


def _kind(attr_type: int) -> str:
    try:
        return catalog.attribute_kind(attr_type)
    except Exception:
        return "bytes"


def attribute(a, ctx: Context, depth: int, scope: Optional[Scope], with_value: bool) -> Attribute:
    """One CK_ATTRIBUTE (a cffi struct copy).  with_value False: the input side of a
    get (the buffer is the caller's uninitialised memory: never dumped)."""
    scope = scope or NO_SCOPE
    atype = int(a.type)
    length = int(a.ulValueLen)
    address = int(ffi.cast("uintptr_t", a.pValue))
    name = values.const("CKA", atype)
    if length == CK_UNAVAILABLE_INFORMATION:
        return Attribute(name, length, Unavailable("CK_UNAVAILABLE_INFORMATION"))
    if not with_value:
        return Attribute(name, length, None if address else Null(length))
    if address == 0:
        return Attribute(name, length, Null(length))
    if ctx.policy.hides_attribute(atype, scope.cls):
        return Attribute(name, length, Redacted(length, "secret attribute value"))
    kind = _kind(atype)
    whole = kind in WHOLE_VALUE_KINDS and length <= WHOLE_VALUE_LIMIT
    limit = length if whole or kind in ("template", "mechanism_list", "ulong_list") else min(length, ctx.cap)
    if limit > 64 * 1024 * 1024:
        return Attribute(name, length, Unreadable(address, length))
    if kind == "template" and length > MAX_ATTRIBUTES * ffi.sizeof("CK_ATTRIBUTE"):
        # As for a top-level template: a broken length is not read (see template()).
        return Attribute(name, length, Unavailable(f"<{length} bytes: not a plausible template, not read>"))
    data = memory.read(address, limit)
    if data is None and whole and limit > ctx.cap:
        # The rest is unmapped: show what a dump would, undecoded (a cut value does not parse).
        data = memory.read(address, ctx.cap)
        if data is not None:
            return Attribute(name, length, Bytes(address, length, data, "the rest is unreadable"))
    if data is None:
        return Attribute(name, length, Unreadable(address, length))
    try:
        value = decoder_for(kind, getattr(name, "name", ""))(data, ctx, depth, scope)
    except Exception as exc:  # a decoder bug must not lose the rest of the record
        value = DecodeError(f"{type(exc).__name__}: {exc}")
    if isinstance(value, Bytes):
        value = Bytes(address, length, value.data[: ctx.cap], value.note)
    return Attribute(name, length, value)


def _ulong_of(array, count: int, wanted: int) -> Optional[int]:
    for i in range(count):
        a = array[i]
        if int(a.type) == wanted and int(a.ulValueLen) == ULONG_SIZE and a.pValue != ffi.NULL:
            return memory.ulong(int(ffi.cast("uintptr_t", a.pValue)))
    return None


def object_class(array, count: int) -> Optional[int]:
    """The CKA_CLASS given in a template, which decides whether CKA_VALUE is a secret.
    None (unknown: values are hidden) unless every CKA_CLASS in it is readable and they
    agree: a module may take another one than the first (found by review: CKO_DATA then
    CKO_SECRET_KEY showed the key)."""
    found: Optional[int] = None
    for i in range(count):
        a = array[i]
        if int(a.type) != CKA_CLASS:
            continue
        if int(a.ulValueLen) != ULONG_SIZE or a.pValue == ffi.NULL:
            return None
        value = memory.ulong(int(ffi.cast("uintptr_t", a.pValue)))
        if value is None or (found is not None and value != found):
            return None
        found = value
    return found


def template_key_type(array, count: int) -> Optional[int]:
    """The CKA_KEY_TYPE given in a template, which names CKA_PARAMETER_SET's values."""
    return _ulong_of(array, count, CKA_KEY_TYPE)


# Key-pair generation mechanisms that fix the key type (for CKA_PARAMETER_SET in
# C_GenerateKeyPair templates, which seldom repeat CKA_KEY_TYPE).
KEY_TYPE_BY_MECHANISM = {
    "CKM_ML_DSA_KEY_PAIR_GEN": "CKK_ML_DSA",
    "CKM_ML_KEM_KEY_PAIR_GEN": "CKK_ML_KEM",
    "CKM_SLH_DSA_KEY_PAIR_GEN": "CKK_SLH_DSA",
}


def key_type_of_mechanism(mechanism: Optional[int]) -> Optional[int]:
    if mechanism is None:
        return None
    name = catalog.family("CKM").find(mechanism)
    key = KEY_TYPE_BY_MECHANISM.get(name or "")
    return catalog.family("CKK").value_of(key) if key else None


def template(address: int, count: int, ctx: Context, with_value: bool = True,
             cls: Optional[int] = None, key_type: Optional[int] = None) -> Value:
    if address == 0:
        return Null(count if count else None)
    if count > MAX_ATTRIBUTES:
        # A broken count: reading that many would show whatever memory follows the
        # array (other data of the process, secrets included).  Not read.
        return Unavailable(f"<{count} attributes: not a plausible count, not read>")
    shown = count
    array = memory.array("CK_ATTRIBUTE", address, shown)
    if array is None:
        return Unreadable(address, count)
    if cls is None:
        cls = object_class(array, shown)
    given = template_key_type(array, shown)
    scope = Scope(cls, given if given is not None else key_type)
    attrs: List[Attribute] = [attribute(array[i], ctx, 0, scope, with_value) for i in range(shown)]
    return Template(attrs)
