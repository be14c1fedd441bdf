"""Attribute values by type: templates built with cffi, decoded and rendered."""
from __future__ import annotations

import base64
import ctypes
import mmap
import os

import pytest

from decode_helpers import addr, const, template, ulong
from pkcs11spy import catalog
from pkcs11spy.decode import attributes, der
from pkcs11spy.memory import ULONG_MAX
from pkcs11spy.model import (Arg, BigInt, Bool, Bytes, Date, DistinguishedName, EcPoint, Null, Oid, Redacted,
                             Scalar, Struct, Template, Text, Unavailable, Unreadable)
from pkcs11spy.native import ffi
from pkcs11spy.render.text import render_arg
from pkcs11spy.render import json as json_render

CTX = attributes.Context(4096, show_secrets=False)
NAME = bytes.fromhex("303c310b300906035504061302465231143012060355040a0c0b4578616d706c65204f7267"
                     "3117301506035504030c0e706b637331317370792074657374")
CERT = base64.b64decode(open(os.path.join(os.path.dirname(__file__), "data", "test-cert.b64")).read())
P256 = bytes.fromhex("06082a8648ce3d030107")


def decoded(*pairs, ctx=CTX):
    array = template(*pairs)
    t = attributes.template(addr(array), len(pairs), ctx)
    return {a.type.name: a.value for a in t.attributes}, t


def rendered(t) -> list:
    return render_arg("[in]", Arg("pTemplate[n]", t))[1:]


def test_ulong_enum_bool_text_date():
    values, t = decoded(("CKA_CLASS", ulong(const("CKO_PRIVATE_KEY"))), ("CKA_KEY_TYPE", ulong(const("CKK_EC"))),
                        ("CKA_MODULUS_BITS", ulong(2048)), ("CKA_VALUE_LEN", ulong(ULONG_MAX)),
                        ("CKA_TOKEN", b"\x01"), ("CKA_LABEL", "a label well over thirty-two bytes\té".encode()),
                        ("CKA_START_DATE", b"20260102"), ("CKA_KEY_GEN_MECHANISM", ulong(const("CKM_EC_KEY_PAIR_GEN"))),
                        ("CKA_CERTIFICATE_CATEGORY", ulong(2)))
    assert values["CKA_CLASS"].name == "CKO_PRIVATE_KEY" and values["CKA_KEY_TYPE"].name == "CKK_EC"
    assert values["CKA_MODULUS_BITS"] == Scalar(2048, decimal=True)
    assert values["CKA_VALUE_LEN"] == Unavailable("CK_UNAVAILABLE_INFORMATION")
    assert values["CKA_TOKEN"] == Bool(1) and values["CKA_START_DATE"] == Date("2026-01-02")
    assert values["CKA_KEY_GEN_MECHANISM"].name == "CKM_EC_KEY_PAIR_GEN"
    assert values["CKA_CERTIFICATE_CATEGORY"].name == "CK_CERTIFICATE_CATEGORY_AUTHORITY"
    lines = rendered(t)
    assert "    CKA_MODULUS_BITS      2048" in lines
    assert "    CKA_LABEL             'a label well over thirty-two bytes\\x09é'" in lines
    assert "    CKA_START_DATE        2026-01-02" in lines
    assert "    CKA_VALUE_LEN         CK_UNAVAILABLE_INFORMATION" in lines


def test_length_that_does_not_fit_the_type_is_bytes_with_a_note():
    values, t = decoded(("CKA_TOKEN", b"\x01\x00"), ("CKA_MODULUS_BITS", b"\x00\x08"), ("CKA_START_DATE", b"2026"))
    assert values["CKA_TOKEN"].note == "a CK_BBOOL is 1 byte"
    assert values["CKA_MODULUS_BITS"].note == f"a CK_ULONG is {ffi.sizeof('CK_ULONG')} bytes"
    assert values["CKA_START_DATE"].note == "a CK_DATE is 8 bytes"
    assert "    CKA_TOKEN             2 bytes 0100 (a CK_BBOOL is 1 byte)" in rendered(t)


def test_big_integers_in_hex():
    modulus = bytes([0xC3]) + bytes(255)
    values, t = decoded(("CKA_MODULUS", modulus), ("CKA_PUBLIC_EXPONENT", b"\x01\x00\x01"))
    assert values["CKA_MODULUS"] == BigInt(256, modulus) and values["CKA_MODULUS"].bits == 2048
    lines = rendered(t)
    assert lines[0] == "    CKA_MODULUS           2048-bit integer"
    assert lines[1] == "        C3" + "00" * 31
    assert "    CKA_PUBLIC_EXPONENT   0x010001 (17 bits)" in lines


def test_der_names_curves_points_serial():
    point = b"\x04\x41\x04" + b"\x11" * 32 + b"\x22" * 32
    values, t = decoded(("CKA_SUBJECT", NAME), ("CKA_EC_PARAMS", P256), ("CKA_EC_POINT", point),
                        ("CKA_SERIAL_NUMBER", bytes.fromhex("02041234abcd")), ("CKA_ISSUER", b""))
    assert isinstance(values["CKA_SUBJECT"], DistinguishedName)
    assert values["CKA_EC_PARAMS"] == Oid("1.2.840.10045.3.1.7", "secp256r1 (P-256, prime256v1)")
    assert values["CKA_EC_POINT"] == EcPoint("uncompressed", point[2:], True)
    lines = rendered(t)
    assert "    CKA_SUBJECT           C=FR, O=Example Org, CN=pkcs11spy test" in lines
    assert "    CKA_EC_PARAMS         secp256r1 (P-256, prime256v1) (OID 1.2.840.10045.3.1.7)" in lines
    assert f"    CKA_EC_POINT          uncompressed point, 65 bytes in a DER OCTET STRING: {point[2:].hex().upper()}" in lines
    assert "    CKA_SERIAL_NUMBER     0x1234ABCD (29 bits)" in lines
    assert "    CKA_ISSUER            empty name" in lines


def test_der_that_does_not_parse_is_bytes_with_the_reason():
    values, _ = decoded(("CKA_SUBJECT", b"\x30\x05\x31"), ("CKA_EC_PARAMS", b"\x06\x08\x2a"))
    assert values["CKA_SUBJECT"].data == b"\x30\x05\x31"
    assert values["CKA_SUBJECT"].note.startswith("not a DER distinguished name:")
    assert values["CKA_EC_PARAMS"].note.startswith("not DER ECParameters:")


def test_certificate_value_shows_its_names_and_validity():
    values, t = decoded(("CKA_CLASS", ulong(const("CKO_CERTIFICATE"))), ("CKA_VALUE", CERT))
    cert = values["CKA_VALUE"]
    assert isinstance(cert, Struct) and cert.type_name == "X.509 certificate"
    lines = rendered(t)
    assert "    CKA_VALUE             X.509 certificate" in lines
    assert "        subject:      C=FR, O=Example Org, CN=pkcs11spy test" in lines
    assert "        notAfter:     2036-11-30T17:31:47Z" in lines
    # A data object's value stays bytes; a secret key's stays hidden.
    values, _ = decoded(("CKA_CLASS", ulong(const("CKO_DATA"))), ("CKA_VALUE", CERT))
    assert isinstance(values["CKA_VALUE"], Bytes)
    values, _ = decoded(("CKA_CLASS", ulong(const("CKO_SECRET_KEY"))), ("CKA_VALUE", b"k" * 16))
    assert isinstance(values["CKA_VALUE"], Redacted)
    values, _ = decoded(("CKA_CLASS", ulong(const("CKO_PRIVATE_KEY"))), ("CKA_PRIVATE_EXPONENT", b"\x01" * 256))
    assert isinstance(values["CKA_PRIVATE_EXPONENT"], Redacted)


def test_allowed_mechanisms_and_nested_templates():
    mechs = ulong(const("CKM_AES_GCM")) + ulong(const("CKM_AES_KEY_WRAP_PAD"))
    inner = template(("CKA_KEY_TYPE", ulong(const("CKK_AES"))), ("CKA_EXTRACTABLE", b"\x01"))
    raw = bytes(ffi.buffer(inner, ffi.sizeof("CK_ATTRIBUTE") * 2))
    values, t = decoded(("CKA_ALLOWED_MECHANISMS", mechs), ("CKA_WRAP_TEMPLATE", raw))
    assert [i.name for i in values["CKA_ALLOWED_MECHANISMS"].items] == ["CKM_AES_GCM", "CKM_AES_KEY_WRAP_PAD"]
    nested = values["CKA_WRAP_TEMPLATE"]
    assert isinstance(nested, Template) and nested.attributes[0].value.name == "CKK_AES"
    lines = rendered(t)
    assert "    CKA_ALLOWED_MECHANISMS CKM_AES_GCM, CKM_AES_KEY_WRAP_PAD" in lines
    assert "    CKA_WRAP_TEMPLATE     2 attributes:" in lines
    assert "        CKA_KEY_TYPE          CKK_AES" in lines
    values, _ = decoded(("CKA_WRAP_TEMPLATE", b"\x00" * 5))
    assert values["CKA_WRAP_TEMPLATE"].note == "not a whole number of CK_ATTRIBUTE"


def test_parameter_set_by_the_key_type_of_the_template_or_mechanism():
    values, _ = decoded(("CKA_KEY_TYPE", ulong(const("CKK_ML_DSA"))), ("CKA_PARAMETER_SET", ulong(2)))
    assert values["CKA_PARAMETER_SET"].name == "CKP_ML_DSA_65"
    values, _ = decoded(("CKA_KEY_TYPE", ulong(const("CKK_ML_KEM"))), ("CKA_PARAMETER_SET", ulong(2)))
    assert values["CKA_PARAMETER_SET"].name == "CKP_ML_KEM_768"
    values, _ = decoded(("CKA_PARAMETER_SET", ulong(2)),)
    assert values["CKA_PARAMETER_SET"] == Scalar(2)  # no key type: the number, not a guess
    array = template(("CKA_PARAMETER_SET", ulong(1)))
    key_type = attributes.key_type_of_mechanism(const("CKM_SLH_DSA_KEY_PAIR_GEN"))
    t = attributes.template(addr(array), 1, CTX, key_type=key_type)
    assert t.attributes[0].value.name == catalog.family("CKP_SLH_DSA").name_of(1)


def test_unknown_attribute_shows_its_bytes_and_malformed_entries():
    values, _ = decoded((0x80001234, b"\xde\xad"), ("CKA_LABEL", None))
    assert values["CKA_VENDOR_DEFINED+0x1234"].data == b"\xde\xad"
    assert values["CKA_LABEL"] == Null(0)
    array = template(("CKA_LABEL", b"x"))
    array[0].ulValueLen = ULONG_MAX
    array2 = template(("CKA_ID", b"x"))
    array2[0].pValue = ffi.NULL
    array2[0].ulValueLen = 20
    t = attributes.template(addr(array), 1, CTX)
    assert t.attributes[0].value == Unavailable("CK_UNAVAILABLE_INFORMATION")
    t = attributes.template(addr(array2), 1, CTX)
    assert t.attributes[0].value == Null(20)


def test_der_readers_directly():
    assert der.name(NAME).parts[2].name == "CN"
    assert der.ec_params(b"\x13\x0cedwards25519") == Text("edwards25519")
    assert der.ec_params(bytes.fromhex("06032b6570")) == Oid("1.3.101.112", "Ed25519")
    assert der.ec_point(b"\x11" * 32).form == "raw"
    assert der.ec_point(b"\x04\x21\x02" + b"\x33" * 32) == EcPoint("compressed", b"\x02" + b"\x33" * 32, True)
    assert der.integer(b"\x02\x01\x05") == BigInt(1, b"\x05")
    for bad in (b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x02\x01\x05\x00"):
        try:
            der.integer(bad)
        except der.DerError:
            continue
        raise AssertionError(f"{bad!r} parsed")


def test_object_ids_and_public_key_info():
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200") + b"\x04" + b"\x01" * 64
    values, t = decoded(("CKA_OBJECT_ID", bytes.fromhex("06032b6570")), ("CKA_PUBLIC_KEY_INFO", spki),
                        ("CKA_ATTR_TYPES", bytes.fromhex("300a0603550403060355040a")))
    assert values["CKA_OBJECT_ID"] == Oid("1.3.101.112", "Ed25519")
    assert [i.dotted for i in values["CKA_ATTR_TYPES"].items] == ["2.5.4.3", "2.5.4.10"]
    lines = rendered(t)
    assert "    CKA_PUBLIC_KEY_INFO   SubjectPublicKeyInfo" in lines
    assert "        algorithm:        id-ecPublicKey (OID 1.2.840.10045.2.1)" in lines
    assert "        parameters:       secp256r1 (P-256, prime256v1) (OID 1.2.840.10045.3.1.7)" in lines
    assert "        subjectPublicKey: uncompressed point, 65 bytes, not DER-wrapped: 04" + "01" * 64 in lines
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")          # rsaEncryption, NULL
    rsa = bytes.fromhex("300a020500c3000102020103")                   # modulus, exponent 3
    body = algorithm + b"\x03" + bytes([len(rsa) + 1]) + b"\x00" + rsa  # BIT STRING
    values, t = decoded(("CKA_PUBLIC_KEY_INFO", b"\x30" + bytes([len(body)]) + body))
    f = {x.name: x.value for x in values["CKA_PUBLIC_KEY_INFO"].fields}
    assert f["algorithm"].name == "rsaEncryption"
    assert f["modulus"] == BigInt(4, b"\xc3\x00\x01\x02") and f["publicExponent"] == BigInt(1, b"\x03")


def test_value_running_into_unmapped_memory():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = mmap.PAGESIZE
    base = libc.mmap(None, 2 * page, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert base not in (None, ctypes.c_void_p(-1).value)
    try:
        assert libc.munmap(base + page, page) == 0  # the second page is gone
        array = template(("CKA_SUBJECT", b"x"))
        array[0].pValue, array[0].ulValueLen = ffi.cast("void *", base + page - 100), 5000
        t = attributes.template(addr(array), 1, attributes.Context(64, show_secrets=False))
        value = t.attributes[0].value
        assert isinstance(value, Bytes) and len(value.data) == 64 and value.note == "the rest is unreadable"
        array[0].ulValueLen = 200  # within the cap, and unreadable: nothing made up
        t = attributes.template(addr(array), 1, attributes.Context(4096, show_secrets=False))
        assert isinstance(t.attributes[0].value, Unreadable)
    finally:
        libc.munmap(base, page)


def _der(tag: int, contents: bytes) -> bytes:
    n = len(contents)
    length = bytes([n]) if n < 0x80 else bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + contents


def _certificate_with_times(not_before: bytes, not_after: bytes) -> bytes:
    """A certificate's bare structure (what der.certificate reads), times as given."""
    validity = _der(0x30, not_before + not_after)
    tbs = _der(0x30, _der(0x02, b"\x01") + _der(0x30, b"") + NAME + validity + NAME + _der(0x30, b""))
    return _der(0x30, tbs + _der(0x30, b"") + _der(0x03, b"\x00"))


FORGED = b"20240101000000Z\n\n99: C_Login\nP:1; T:0x1 2026-01-01 00:00:00.000\n[in] pPin = 'hunter2'"


def test_times_and_dates_that_could_pass_for_trace_lines_are_refused():
    """Found by review: a certificate's time and a CK_DATE were printed as they came (a
    time with control characters, a date int() accepted with spaces or newlines), so an
    object's bytes could forge a whole record in a text trace."""
    ok = _certificate_with_times(_der(0x17, b"240101000000Z"), _der(0x18, b"20341231235959Z"))
    values, t = decoded(("CKA_CLASS", ulong(const("CKO_CERTIFICATE"))), ("CKA_VALUE", ok))
    assert [f.value for f in values["CKA_VALUE"].fields if f.name.startswith("not")] == [
        Date("2024-01-01T00:00:00Z"), Date("2034-12-31T23:59:59Z")]
    forged = _certificate_with_times(_der(0x17, b"240101000000Z"), _der(0x18, FORGED))
    values, t = decoded(("CKA_CLASS", ulong(const("CKO_CERTIFICATE"))), ("CKA_VALUE", forged))
    assert isinstance(values["CKA_VALUE"], Bytes) and "not a valid time" in values["CKA_VALUE"].note
    assert not any(line.lstrip().startswith(("99:", "[in] pPin")) for line in rendered(t))
    # Shapes that pass the pattern but are no time, and the shorter forms X.680 allows.
    for tag, contents in ((0x18, b"20241399999999Z"), (0x18, b"99999999999999Z"), (0x17, b"240101120000+2500")):
        with pytest.raises(der.DerError):
            der._time(tag, contents)
    assert der._time(0x17, b"2401011200Z") == "2024-01-01T12:00Z"
    assert der._time(0x18, b"2024010112") == "2024-01-01T12"
    assert der._time(0x17, b"240101120000+0130") == "2024-01-01T12:00:00+01:30"
    assert der._time(0x18, b"20161231235960Z") == "2016-12-31T23:59:60Z"  # a leap second
    for date in (b"2024\n1\n1", b"2024 1 1", b"+024+1+1", b"2024-1-1"):
        values, _ = decoded(("CKA_START_DATE", date))
        assert values["CKA_START_DATE"].note == "not a valid CK_DATE", date


def test_text_that_is_not_valid_in_its_encoding_says_so_and_shows_its_bytes():
    """Found by review: the byte 0xFF and the four characters \\xff both showed as \\\\xff."""
    values, t = decoded(("CKA_LABEL", b"a\xffb"), ("CKA_APPLICATION", b"a\\xffb"))
    assert values["CKA_LABEL"] == Text("a\\xffb", raw=b"a\xffb")
    assert values["CKA_APPLICATION"] == Text("a\\xffb")
    lines = rendered(t)
    assert "    CKA_LABEL             'a\\\\xffb' (not valid text; bytes 61FF62)" in lines
    assert "    CKA_APPLICATION       'a\\\\xffb'" in lines
    assert json_render.value(values["CKA_LABEL"]) == {"type": "text", "value": "a\\xffb", "fixed": False,
                                                      "hex": "61ff62"}
    assert "hex" not in json_render.value(values["CKA_APPLICATION"])
    # DER strings: an odd-length BMPString, a lone surrogate, a code point past U+10FFFF,
    # a byte past ASCII in a PrintableString.
    for tag, contents in ((der.BMP_STRING, b"\x00A\x00"), (der.BMP_STRING, b"\xd8\x00\x00A"),
                          (der.UNIVERSAL_STRING, b"\x00\x11\x00\x00"), (der.PRINTABLE_STRING, b"A\xff")):
        assert der.string(tag, contents).raw == contents, (tag, contents)
    assert der.string(der.BMP_STRING, b"\x00A\xd8\x3d\xde\x00") == Text("A\U0001f600")


def test_a_value_is_hidden_when_the_template_names_its_class_twice():
    """Found by review: the first CKA_CLASS decided, so CKO_DATA before CKO_SECRET_KEY
    showed the key (a module may take the last)."""
    key = b"SECRETKEYBYTES!!"
    for classes in (("CKO_DATA", "CKO_SECRET_KEY"), ("CKO_SECRET_KEY", "CKO_DATA")):
        values, _ = decoded(("CKA_CLASS", ulong(const(classes[0]))), ("CKA_CLASS", ulong(const(classes[1]))),
                            ("CKA_VALUE", key))
        assert isinstance(values["CKA_VALUE"], Redacted), classes
    values, _ = decoded(("CKA_CLASS", ulong(const("CKO_DATA"))), ("CKA_CLASS", ulong(const("CKO_DATA"))),
                        ("CKA_VALUE", key))
    assert isinstance(values["CKA_VALUE"], Bytes)  # the same class twice: a data object
    values, _ = decoded(("CKA_CLASS", b"\x00"), ("CKA_CLASS", ulong(const("CKO_DATA"))), ("CKA_VALUE", key))
    assert isinstance(values["CKA_VALUE"], Redacted)  # one class unreadable: unknown
