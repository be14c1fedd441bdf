"""The record model: what a traced call is, as typed values.

Decoders produce these; redaction rewrites them; renderers (text, JSON) only read them.
Nothing here knows about memory, cffi or output formats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Union


@dataclass
class Scalar:
    """A CK_ULONG shown as a number: handles, slot ids, counts."""
    value: int
    decimal: bool = False


@dataclass
class Const:
    """A value of a constant family, named (CKU_USER, CKM_SHA256, ...)."""
    value: int
    name: str
    family: str


@dataclass
class Flags:
    value: int
    names: List[str]
    remainder: int = 0


@dataclass
class Bool:
    value: int


@dataclass
class Pointer:
    address: int


@dataclass
class Version:
    major: int
    minor: int


@dataclass
class Text:
    """Characters: a fixed-width field (blank padded) or a UTF-8 string.  raw: the bytes,
    kept only when they are not valid in their encoding (value then shows each bad byte
    as \\xNN, which a literal backslash in valid text could also spell)."""
    value: str
    fixed: bool = False
    raw: Optional[bytes] = None


@dataclass
class Bytes:
    address: int
    length: int
    data: bytes  # possibly fewer than length: cut at the dump cap
    note: str = ""  # why these are bytes when the type said otherwise

    @property
    def cut(self) -> bool:
        return len(self.data) < self.length


@dataclass
class BigInt:
    """A big-endian unsigned integer (modulus, exponent, serial number), shown in hex."""
    length: int
    data: bytes  # possibly fewer than length: cut at the dump cap

    @property
    def bits(self) -> int:
        return bit_length(self.data) if len(self.data) == self.length else 8 * self.length


def bit_length(data: bytes) -> int:
    return int.from_bytes(data, "big").bit_length()


@dataclass
class Date:
    """A calendar date or a time, ISO 8601 (CK_DATE, a certificate's validity)."""
    value: str


@dataclass
class Oid:
    """An ASN.1 object identifier, dotted, with its name when known (a curve, an algorithm)."""
    dotted: str
    name: str = ""


@dataclass
class DistinguishedName:
    """An X.501 Name: its attributes in encoded order, each named by its short name
    (CN, O, ...) or by its dotted OID."""
    parts: List["Field"]


@dataclass
class EcPoint:
    """An elliptic-curve point: its encoding form and bytes, and whether it came wrapped
    in a DER OCTET STRING (as PKCS#11 requires for CKA_EC_POINT)."""
    form: str  # "uncompressed" | "compressed" | "raw" (Edwards/Montgomery) | "infinity"
    data: bytes
    der_wrapped: bool


@dataclass
class Null:
    """A NULL buffer; with the length the module asked for (a size query)."""
    size: Optional[int] = None


@dataclass
class Unreadable:
    """A pointer whose memory could not be read (bad address, or shorter than said)."""
    address: int
    length: int


@dataclass
class Redacted:
    """A secret kept out of the trace: its length and what may be said about it."""
    length: int
    what: str
    facts: List[str] = field(default_factory=list)


@dataclass
class Unavailable:
    """CK_UNAVAILABLE_INFORMATION, or an output not valid under the return code."""
    reason: str


@dataclass
class DecodeError:
    message: str


@dataclass
class Field:
    name: str
    value: "Value"


@dataclass
class Struct:
    type_name: str
    fields: List[Field]


@dataclass
class Items:
    """A list of ulongs: slots, mechanisms, object handles."""
    kind: str  # "slot" | "mechanism" | "object"
    items: List["Value"]
    count: int


@dataclass
class Attribute:
    type: Const
    length: int
    value: Optional["Value"]  # None: no value given (size query, or input of a get)


@dataclass
class Template:
    attributes: List[Attribute]


@dataclass
class Mechanism:
    type: Const
    parameter: Optional["Value"]
    parameter_length: int


@dataclass
class InOut:
    """An in/out argument shown as "in => out" (a count going in and coming out)."""
    before: "Value"
    after: "Value"


Value = Union[Scalar, Const, Flags, Bool, Pointer, Version, Text, Date, Bytes, BigInt, Oid,
              DistinguishedName, EcPoint, Null, Unreadable, Redacted, Unavailable, DecodeError,
              Struct, Items, Attribute, Template, Mechanism, InOut]


@dataclass
class Arg:
    """One argument as shown: its label (``pData[ulDataLen]``) and its value."""
    label: str
    value: Value


@dataclass
class Call:
    seq: int
    function: str
    pid: int
    tid: int
    wall_ns: int
    inputs: List[Arg] = field(default_factory=list)
    outputs: List[Arg] = field(default_factory=list)
    rv: Optional[int] = None
    rv_name: str = ""
    duration_ns: Optional[int] = None
    resumed: bool = False
    notes: List[str] = field(default_factory=list)
    exit_notes: List[str] = field(default_factory=list)  # about the results
