"""Just enough DER to read what PKCS#11 attributes hold: distinguished names, named
curves, EC points, integers, OIDs, public-key infos and the names in a certificate.

Every reader works on a bytes object already copied from the application (never past
its length) and raises DerError on anything it does not understand; callers then show
the bytes with the reason.
"""
from __future__ import annotations

import codecs
import datetime
import re
from typing import List, Optional, Tuple

from ..catalog import oids
from ..model import BigInt, Bytes, Date, DistinguishedName, EcPoint, Field, Items, Oid, Struct, Text, Value
from . import values

INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x02, 0x03, 0x04, 0x05, 0x06
UTF8_STRING, PRINTABLE_STRING, T61_STRING, IA5_STRING, UTC_TIME, GENERALIZED_TIME = (
    0x0C, 0x13, 0x14, 0x16, 0x17, 0x18)
BMP_STRING, UNIVERSAL_STRING = 0x1E, 0x1C
SEQUENCE, SET = 0x30, 0x31
STRING_TAGS = {UTF8_STRING: "utf-8", PRINTABLE_STRING: "ascii", IA5_STRING: "ascii",
               T61_STRING: "latin-1", BMP_STRING: "utf-16-be", UNIVERSAL_STRING: "utf-32-be"}
MAX_DEPTH = 16

# Looked up now, once: the first lookup of a codec imports its module, and nothing on the
# call path may import (see _runtime's notes on fork).  Later lookups hit Python's cache.
for _encoding in set(STRING_TAGS.values()):
    codecs.lookup(_encoding)


class DerError(ValueError):
    pass


def tlv(data: bytes, pos: int = 0) -> Tuple[int, bytes, int]:
    """(tag, contents, position after) of the element at pos; single-byte tags only."""
    if pos + 2 > len(data):
        raise DerError("truncated element")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tag")
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise DerError(f"element says {length} bytes, {len(data) - pos} remain")
    return tag, data[pos:pos + length], pos + length


def single(data: bytes, expected: Optional[int] = None) -> Tuple[int, bytes]:
    """The one element that is all of data."""
    tag, contents, end = tlv(data)
    if end != len(data):
        raise DerError(f"{len(data) - end} bytes after the element")
    if expected is not None and tag != expected:
        raise DerError(f"tag 0x{tag:02x} where 0x{expected:02x} was expected")
    return tag, contents


def children(contents: bytes) -> List[Tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(contents):
        tag, inner, pos = tlv(contents, pos)
        out.append((tag, inner))
    return out


def oid_text(contents: bytes) -> str:
    if not contents or contents[-1] & 0x80:
        raise DerError("bad OID")
    arcs, value = [], 0
    for b in contents:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


def oid(contents: bytes) -> Oid:
    dotted = oid_text(contents)
    return Oid(dotted, oids.oid_name(dotted))


def string(tag: int, contents: bytes) -> Text:
    encoding = STRING_TAGS.get(tag)
    if encoding is None:
        raise DerError(f"not a string (tag 0x{tag:02x})")
    return values.decoded_text(contents, encoding)


# ---- what attributes hold -------------------------------------------------------------

def name(data: bytes) -> DistinguishedName:
    """An X.501 Name (SEQUENCE OF SET OF AttributeTypeAndValue)."""
    _, rdns = single(data, SEQUENCE)
    return DistinguishedName(_name_parts(rdns))


def _name_parts(rdns: bytes) -> List[Field]:
    parts: List[Field] = []
    for tag, rdn in children(rdns):
        if tag != SET:
            raise DerError("a name part is not a SET")
        for atv_tag, atv in children(rdn):
            if atv_tag != SEQUENCE:
                raise DerError("a name attribute is not a SEQUENCE")
            items = children(atv)
            if len(items) != 2 or items[0][0] != OID:
                raise DerError("a name attribute is not (OID, value)")
            dotted = oid_text(items[0][1])
            parts.append(Field(oids.NAME_ATTRIBUTES.get(dotted, dotted), string(*items[1])))
    return parts


def ec_params(data: bytes) -> Value:
    """ECParameters: a named curve OID, a curve name (PrintableString, for Edwards and
    Montgomery curves in PKCS#11 3.0), implicitlyCA or explicit parameters."""
    tag, contents = single(data)
    if tag == OID:
        return oid(contents)
    if tag == PRINTABLE_STRING:
        return string(tag, contents)
    if tag == NULL:
        return Text("implicitlyCA (NULL)", fixed=False)
    if tag == SEQUENCE:
        return Text("explicit curve parameters", fixed=False)
    raise DerError(f"not ECParameters (tag 0x{tag:02x})")


def ec_point(data: bytes) -> EcPoint:
    """CKA_EC_POINT: a DER OCTET STRING holding the point (the spec), or the bare point
    (what some modules return)."""
    wrapped = False
    point = data
    try:
        tag, contents = single(data)
        if tag == OCTET_STRING:
            point, wrapped = contents, True
    except DerError:
        pass
    return EcPoint(point_form(point), point, wrapped)


def point_form(point: bytes) -> str:
    if not point:
        raise DerError("empty point")
    first = point[0]
    if first == 0x04 and len(point) % 2 == 1:
        return "uncompressed"
    if first in (0x02, 0x03) and len(point) % 2 == 1:
        return "compressed"
    if point == b"\x00":
        return "infinity"
    return "raw"  # Edwards and Montgomery keys are bare byte strings


def integer(data: bytes) -> BigInt:
    _, contents = single(data, INTEGER)
    return BigInt(len(contents), contents)


def object_id(data: bytes) -> Oid:
    _, contents = single(data, OID)
    return oid(contents)


def object_ids(data: bytes) -> Items:
    """A SEQUENCE OF OBJECT IDENTIFIER (CKA_ATTR_TYPES)."""
    _, contents = single(data, SEQUENCE)
    items = []
    for tag, inner in children(contents):
        if tag != OID:
            raise DerError(f"tag 0x{tag:02x} in a SEQUENCE OF OID")
        items.append(oid(inner))
    return Items("oid", items, len(items))


def public_key_info(data: bytes) -> Struct:
    """SubjectPublicKeyInfo: the algorithm (and curve), and the key's length."""
    _, spki = single(data, SEQUENCE)
    items = children(spki)
    if len(items) != 2 or items[0][0] != SEQUENCE or items[1][0] != BIT_STRING:
        raise DerError("not a SubjectPublicKeyInfo")
    algorithm = children(items[0][1])
    if not algorithm or algorithm[0][0] != OID:
        raise DerError("no algorithm OID")
    fields = [Field("algorithm", oid(algorithm[0][1]))]
    if len(algorithm) > 1 and algorithm[1][0] == OID:
        fields.append(Field("parameters", oid(algorithm[1][1])))
    fields.extend(_public_key(fields[0].value.dotted, items[1][1][1:]))
    return Struct("SubjectPublicKeyInfo", fields)


RSA_ENCRYPTION, EC_PUBLIC_KEY = "1.2.840.113549.1.1.1", "1.2.840.10045.2.1"


def _public_key(algorithm: str, key: bytes) -> List[Field]:
    """The key inside a SubjectPublicKeyInfo: RSA's modulus and exponent, an EC point,
    otherwise its bytes."""
    if algorithm == RSA_ENCRYPTION:
        _, seq = single(key, SEQUENCE)
        parts = children(seq)
        if len(parts) == 2 and all(t == INTEGER for t, _ in parts):
            return [Field("modulus", _unsigned(parts[0][1])), Field("publicExponent", _unsigned(parts[1][1]))]
    if algorithm == EC_PUBLIC_KEY:
        return [Field("subjectPublicKey", EcPoint(point_form(key), key, False))]
    return [Field("subjectPublicKey", Bytes(0, len(key), key))]


def _unsigned(contents: bytes) -> BigInt:
    """A DER INTEGER's contents without the sign byte DER adds before a high bit."""
    if len(contents) > 1 and contents[0] == 0:
        contents = contents[1:]
    return BigInt(len(contents), contents)


def certificate(data: bytes) -> Struct:
    """The parts of an X.509 certificate one looks for: serial, issuer, validity, subject."""
    _, cert = single(data, SEQUENCE)
    top = children(cert)
    if len(top) != 3 or top[0][0] != SEQUENCE:
        raise DerError("not an X.509 certificate")
    tbs = children(top[0][1])
    if tbs and tbs[0][0] == 0xA0:  # [0] version
        tbs = tbs[1:]
    if len(tbs) < 6 or tbs[0][0] != INTEGER:
        raise DerError("not an X.509 TBSCertificate")
    serial, _sig, issuer, validity, subject = tbs[:5]
    times = children(validity[1])
    fields = [Field("serialNumber", BigInt(len(serial[1]), serial[1])),
              Field("issuer", DistinguishedName(_name_parts(issuer[1])))]
    if len(times) == 2:
        fields += [Field("notBefore", Date(_time(*times[0]))), Field("notAfter", Date(_time(*times[1])))]
    fields.append(Field("subject", DistinguishedName(_name_parts(subject[1]))))
    return Struct("X.509 certificate", fields)


# What X.509 allows (RFC 5280 4.1.2.5, with the other forms X.680 permits: no seconds, no
# zone, a fraction): digits, then a zone.  Anything else, or a date or time that does not
# exist, is refused rather than shown: a certificate is the application's (or an
# attacker's) bytes, and a time is printed without quotes.
_UTC_TIME = re.compile(rb"([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})?(Z|[+-][0-9]{4})")
_GENERALIZED_TIME = re.compile(
    rb"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})([.,][0-9]+)?)?)?(Z|[+-][0-9]{4})?")


def _time(tag: int, contents: bytes) -> str:
    """ISO 8601, as precise as the time given: 2024-01-01T12:00:00Z, 2024-01-01T12:00Z."""
    m = _UTC_TIME.fullmatch(contents) if tag == UTC_TIME else None
    if m is not None:
        yy, month, day, hour, minute, second, zone = (g.decode("ascii") if g else "" for g in m.groups())
        year, fraction = f"{1900 + int(yy) if int(yy) >= 50 else 2000 + int(yy)}", ""
    else:
        m = _GENERALIZED_TIME.fullmatch(contents) if tag == GENERALIZED_TIME else None
        if m is None:
            raise DerError("not a valid time")
        year, month, day, hour, minute, second, fraction, zone = (
            g.decode("ascii") if g else "" for g in m.groups())
    try:  # a leap second (60) is a time that exists
        datetime.datetime(int(year), int(month), int(day), int(hour), int(minute or 0), min(int(second or 0), 59))
    except ValueError:
        raise DerError("not a valid time") from None
    if zone and zone[0] in "+-":
        if int(zone[1:3]) > 23 or int(zone[3:5]) > 59:
            raise DerError("not a valid time")
        zone = f"{zone[:3]}:{zone[3:]}"
    text = f"{year}-{month}-{day}T{hour}"
    if minute:
        text += f":{minute}" + (f":{second}{fraction.replace(',', '.')}" if second else "")
    return text + zone
