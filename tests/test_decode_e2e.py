"""End to end: a python-pkcs11 session against SoftHSM2 through the spy, and the decoded
lines it must produce (keys of three types, GCM, OAEP, PSS, wrap with a wrap template,
a certificate, find, attribute reads with sensitive and invalid attributes, size queries)."""
from __future__ import annotations

import json
import re

import pytest

from conftest import python_client, read, spy_env
from trace_parse import parse

BUFFER_HEAD = re.compile(r"^\[(in|out)\] p\w+\[\w+\] [0-9a-f]{16} / \d+$")


@pytest.fixture
def traced(spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = python_client("python_pkcs11_rich.py", spy, spy_env(token, trace))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["gcm_roundtrip"] == "gcm plaintext" and result["oaep_roundtrip"] == "secret"
    assert result["pss_verify"] is True and result["ec_verify"] is True
    text = read(trace)
    return text, parse(text)


def record(records, function, *needles):
    """The first record of function whose lines contain every needle."""
    for r in records:
        if r.function == function and all(n in r.lines for n in needles):
            return r
    raise AssertionError(f"no {function} with {needles}")


def block(r, first: str, n: int):
    """The n lines of a record starting at the line first."""
    i = r.lines.index(first)
    return r.lines[i:i + n]


def test_templates_are_decoded_by_type(traced):
    _, records = traced
    r = record(records, "C_GenerateKey", "    CKA_ID                4 bytes 01020304")
    for line in ("    CKA_CLASS             CKO_SECRET_KEY",
                 "    CKA_LABEL             'a label longer than thirty-two bytes, with accents: éàü'",
                 "    CKA_VALUE_LEN         32",
                 "    CKA_START_DATE        2026-01-02",
                 "    CKA_END_DATE          2030-12-31",
                 "    CKA_ALLOWED_MECHANISMS CKM_AES_GCM, CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP_PAD",
                 "[in] pMechanism->type = CKM_AES_KEY_GEN"):
        assert line in r.lines, line
    r = record(records, "C_GenerateKey", "    CKA_LABEL             'wrapping-key'")
    i = r.lines.index("    CKA_WRAP_TEMPLATE     2 attributes:")
    assert r.lines[i + 1:i + 3] == ["        CKA_KEY_TYPE          CKK_AES", "        CKA_EXTRACTABLE       CK_TRUE"]
    r = record(records, "C_GenerateKeyPair", "[in] pMechanism->type = CKM_RSA_PKCS_KEY_PAIR_GEN")
    assert "    CKA_PUBLIC_EXPONENT   0x010001 (17 bits)" in r.lines and "    CKA_MODULUS_BITS      2048" in r.lines
    r = record(records, "C_GenerateKeyPair", "[in] pMechanism->type = CKM_EC_KEY_PAIR_GEN")
    assert "    CKA_EC_PARAMS         secp256r1 (P-256, prime256v1) (OID 1.2.840.10045.3.1.7)" in r.lines


def test_mechanism_parameters_are_decoded(traced):
    _, records = traced
    r = record(records, "C_EncryptInit", "[in] pMechanism->type = CKM_AES_GCM")
    assert block(r, "[in] pMechanism->pParameter: CK_GCM_PARAMS", 5) == [
                            "[in] pMechanism->pParameter: CK_GCM_PARAMS",
                            "      pIv:       12 bytes 000000000000000000000000",
                            "      ulIvBits:  96",
                            "      pAAD:      6 bytes 686561646572",
                            "      ulTagBits: 128"]
    r = record(records, "C_EncryptInit", "[in] pMechanism->type = CKM_RSA_PKCS_OAEP")
    assert block(r, "[in] pMechanism->pParameter: CK_RSA_PKCS_OAEP_PARAMS", 5) == [
                            "[in] pMechanism->pParameter: CK_RSA_PKCS_OAEP_PARAMS",
                            "      hashAlg:     CKM_SHA_1",
                            "      mgf:         CKG_MGF1_SHA1",
                            "      source:      CKZ_DATA_SPECIFIED",
                            "      pSourceData: NULL"]
    r = record(records, "C_SignInit", "[in] pMechanism->type = CKM_SHA256_RSA_PKCS_PSS")
    assert block(r, "[in] pMechanism->pParameter: CK_RSA_PKCS_PSS_PARAMS", 4) == [
                            "[in] pMechanism->pParameter: CK_RSA_PKCS_PSS_PARAMS",
                            "      hashAlg: CKM_SHA256", "      mgf:     CKG_MGF1_SHA256", "      sLen:    32"]
    r = record(records, "C_Sign", "[out] pSignature[ulSignatureLen] = NULL [size : 0x100 (256)]")
    assert r.rv_name == "CKR_OK"  # the size query: the length asked for, not a dump
    r = record(records, "C_WrapKey", "[out] pWrappedKey[ulWrappedKeyLen] = NULL [size : 0x28 (40)]")
    assert "[in] pMechanism->type = CKM_AES_KEY_WRAP_PAD" in r.lines and r.rv_name == "CKR_OK"
    r = record(records, "C_UnwrapKey", "[in] pMechanism->type = CKM_AES_KEY_WRAP_PAD")
    assert "[in] pWrappedKey[ulWrappedKeyLen] = <wrapped key hidden: 40 bytes>" in r.lines


def test_attribute_reads_follow_the_output_rules(traced):
    _, records = traced
    # Size query: the input buffers are never dumped; the output says what the module asks for.
    r = record(records, "C_GetAttributeValue", "    CKA_EC_POINT          NULL [size : 0x43 (67)]")
    assert r.lines.index("    CKA_EC_POINT          NULL [size : 0x0 (0)]") < r.lines.index("[out] pTemplate[1]: ")
    r = record(records, "C_GetAttributeValue", "    CKA_EC_POINT          requested with 67 bytes")
    point = [ln for ln in r.outs + r.lines if ln.startswith("    CKA_EC_POINT          uncompressed point, 65 bytes")]
    assert point and "in a DER OCTET STRING: 04" in point[0]
    # Mixed read: valid, sensitive, invalid: the module fills the others, marks the rest.
    r = [x for x in records if x.function == "C_GetAttributeValue" and x.rv_name == "CKR_ATTRIBUTE_SENSITIVE"][0]
    assert "    CKA_VALUE             CK_UNAVAILABLE_INFORMATION" in r.lines
    assert "    CKA_MODULUS           CK_UNAVAILABLE_INFORMATION" in r.lines
    assert "    CKA_LABEL             NULL [size : 0x3a (58)]" in r.lines
    # A certificate object: names, serial, and the certificate itself.
    r = record(records, "C_CreateObject", "    CKA_CLASS             CKO_CERTIFICATE")
    for line in ("    CKA_CERTIFICATE_TYPE  CKC_X_509",
                 "    CKA_SUBJECT           C=FR, O=Example Org, CN=pkcs11spy test",
                 "    CKA_SERIAL_NUMBER     0x1234ABCD (29 bits)",
                 "    CKA_VALUE             X.509 certificate",
                 "        issuer:       C=FR, O=Example Org, CN=pkcs11spy test",
                 "        notBefore:    2026-12-03T17:31:47Z"):
        assert line in r.lines, line


def test_no_hexdump_where_the_type_is_known_and_everything_named(traced):
    text, records = traced
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("    00000000  "):
            head = lines[i - 1]
            assert BUFFER_HEAD.match(head), f"hexdump under {head!r}"
    for r in records:
        assert not r.rv_name.startswith("0x"), r.rv_name
        for line in r.lines:
            assert "(unknown bits)" not in line, line
            for prefix in ("[in] pMechanism->type = ", "    CKA_CLASS             ", "    CKA_KEY_TYPE          "):
                if line.startswith(prefix):
                    assert re.match(r"CK[MOK]_[A-Z0-9_]+$", line[len(prefix):]) or "NULL" in line \
                        or "requested" in line or "CK_UNAVAILABLE" in line, line
