"""Redaction on by default: PINs, secret attribute values, key material, random output
and application data stay out of the trace; PKCS11SPY_SHOW_SECRETS=1 shows them and the
banner says so.  (conftest.py also scans every trace of every test for leaks.)"""
from __future__ import annotations

import json
import os
import re
import sys

import leak_scan
from conftest import HERE, read, run, spy_env
from trace_parse import parse
from pkcs11spy import redact
from pkcs11spy.functions import BY_NAME, FUNCTIONS
from pkcs11spy.model import Redacted
from pkcs11spy.native import ffi
from pkcs11spy.decode import CallData, decode_inputs
from pkcs11spy.render import text

NEW_PIN = "Nw#pin-77q"


def secrets_client(spy, token, env):
    return run([sys.executable, os.path.join(HERE, "clients", "secrets_session.py"), spy, token.user_pin, NEW_PIN],
               env, timeout=300)


def secrets_of(result) -> list:
    used = json.loads(result.stdout)
    found = [p.encode() for p in used["pins"]]
    for key in ("key_value", "plaintext", "random", "seed", "wrapped"):
        found.append(bytes.fromhex(used[key]))
    found += [bytes.fromhex(c) for c in used["rsa_private"]]
    return found


def test_default_trace_holds_no_secret(spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = secrets_client(spy, token, spy_env(token, trace))
    assert r.returncode == 0, r.stderr
    secrets = secrets_of(r)
    leak_scan.remember(*secrets)  # the autouse scan checks every trace for them too
    t = read(trace)
    assert leak_scan.leaks(t, secrets) == []
    assert "WARNING" not in t
    records = parse(t)
    by_fn = {}
    for rec in records:
        by_fn.setdefault(rec.function, []).append(rec)
    # PINs: length, printable, and within the token's limits learnt from C_GetTokenInfo.
    login = by_fn["C_Login"][0].text()
    assert "[in] pPin[ulPinLen] = <PIN hidden: 4 bytes, printable text, length within the token's 4..255>" in login
    setpin = by_fn["C_SetPIN"][0].text()
    assert "pOldPin[ulOldLen] = <PIN hidden: 4 bytes" in setpin
    assert f"pNewPin[ulNewLen] = <PIN hidden: {len(NEW_PIN)} bytes, printable text" in setpin
    # Secret attribute values, in and out.
    create = [rec for rec in by_fn["C_CreateObject"] if "CKO_SECRET_KEY" in rec.text()][0].text()
    assert re.search(r"CKA_VALUE +<secret attribute value hidden: 32 bytes>", create)
    assert any("secret attribute value hidden" in rec.text() for rec in by_fn["C_GetAttributeValue"])
    assert "CKA_PRIVATE_EXPONENT" in "".join(rec.text() for rec in by_fn["C_GetAttributeValue"])
    # Key material crossing the interface.
    assert any("<random data hidden: 32 bytes>" in rec.text() for rec in by_fn["C_GenerateRandom"])
    assert "<seed hidden:" in by_fn["C_SeedRandom"][0].text()
    assert "<wrapped key hidden: 40 bytes>" in by_fn["C_WrapKey"][-1].text()
    assert "<wrapped key hidden: 40 bytes>" in by_fn["C_UnwrapKey"][0].text()
    # Data: length and fingerprint; equal buffers have equal fingerprints.
    fp = re.compile(r"<data hidden: 32 bytes, fingerprint ([0-9a-f]{16})>")
    encrypt_fp = fp.search(by_fn["C_Encrypt"][0].text()).group(1)
    decrypt_fp = fp.search(by_fn["C_Decrypt"][-1].text()).group(1)
    digest_fps = [fp.search(rec.text()).group(1) for rec in by_fn["C_Digest"]]
    assert encrypt_fp == decrypt_fp == digest_fps[0] == digest_fps[1]
    # The ciphertext and the digest are not secret: shown.
    assert any(ln.startswith("[out] pEncryptedData[ulEncryptedDataLen]") and ln.endswith("/ 48")
               for ln in by_fn["C_Encrypt"][-1].outs)


def test_show_secrets_shows_them_and_says_so(spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = secrets_client(spy, token, spy_env(token, trace, PKCS11SPY_SHOW_SECRETS="1"))
    assert r.returncode == 0, r.stderr
    t = read(trace)
    assert "WARNING: PKCS11SPY_SHOW_SECRETS is set: this trace contains PINs, keys and data in clear" in t
    # The scanner finds each secret in this trace once its banner no longer excuses it:
    # proof that the default-mode check above can fail.
    unexcused = t.replace(leak_scan.SHOWN, "(removed)")
    found = leak_scan.leaks(unexcused, secrets_of(r))
    assert len(found) == len(secrets_of(r)), found


def test_fingerprints_differ_between_processes():
    a, b = redact.Policy(False), redact.Policy(False)
    buf = ffi.new("char[]", b"same bytes in two processes")
    address = int(ffi.cast("uintptr_t", buf))
    fa, fb = a.data(address, 27).facts[0], b.data(address, 27).facts[0]
    assert fa == a.data(address, 27).facts[0]   # stable within a process
    assert fa != fb                              # keyed: not comparable across processes


def test_every_data_argument_is_flagged():
    """The application's data of every crypto function is flagged: a new row cannot
    forget it silently."""
    plain_names = {"pData", "pPart", "pPlaintext", "pPlaintextPart", "pLastPart"}
    for f in FUNCTIONS:
        for a in f.args:
            if a.kind == "bytes" and a.name in plain_names and f.name != "C_AsyncJoin":
                assert a.data, f"{f.name}.{a.name} carries application data but is not flagged"
            if a.data:
                assert not a.secret and a.kind == "bytes"


def _template(*attrs):
    """A CK_ATTRIBUTE array (and the buffers it points to, kept alive)."""
    keep = []
    array = ffi.new("CK_ATTRIBUTE[]", len(attrs))
    for i, (atype, value) in enumerate(attrs):
        array[i].type = atype
        if isinstance(value, bytes):
            buf = ffi.new("unsigned char[]", value)
            keep.append(buf)
            array[i].pValue = buf
            array[i].ulValueLen = len(value)
        else:
            keep.append(value[1])
            array[i].pValue = value[0]
            array[i].ulValueLen = ffi.sizeof("CK_ATTRIBUTE") * value[2]
    keep.append(array)
    return array, keep


def test_nested_template_values_are_hidden():
    CKA_VALUE, CKA_UNWRAP_TEMPLATE, CKA_LABEL = 0x11, 0x40000212, 0x3
    key = bytes(range(0xC0, 0xD0))
    inner, keep_inner = _template((CKA_VALUE, key), (CKA_LABEL, b"inner"))
    outer, keep = _template((CKA_UNWRAP_TEMPLATE, (inner, inner, 2)))
    fn = BY_NAME["C_CreateObject"]
    raw = [1, int(ffi.cast("uintptr_t", outer)), 1, 0]
    shown = text.render_enter(_call(fn, decode_inputs(CallData(fn, raw, 4096, False))))
    assert "secret attribute value hidden: 16 bytes" in shown and "'inner'" in shown
    assert leak_scan.leaks(shown, [key]) == []
    shown = text.render_enter(_call(fn, decode_inputs(CallData(fn, raw, 4096, True))))
    assert leak_scan.leaks(shown, [key]) != []


def test_pin_facts():
    p = redact.Policy(False)
    p._pin_limits[3] = (6, 8)
    for pin, expected in ((b"12345", "shorter than the token's minimum 6"),
                          (b"123456", "length within the token's 6..8"),
                          (b"123456789", "longer than the token's maximum 8"),
                          (b"\x01\x02\x03\x04\x05\x06", "not printable text")):
        buf = ffi.new("char[]", pin)
        v = p.pin(int(ffi.cast("uintptr_t", buf)), len(pin), 3)
        assert isinstance(v, Redacted) and expected in v.facts, v
    buf = ffi.new("char[]", b"123456")
    assert "token PIN limits not seen" in p.pin(int(ffi.cast("uintptr_t", buf)), 6, 9).facts


def _call(fn, inputs):
    from pkcs11spy.model import Call
    return Call(seq=0, function=fn.name, pid=1, tid=1, wall_ns=0, inputs=inputs)


def test_parameter_fields_policy():
    """What the mechanism-parameter decoders are told to hide (they ask before reading)."""
    hidden, shown = redact.Policy(False), redact.Policy(True)
    assert hidden.hides_parameter_field("CK_PKCS5_PBKD2_PARAMS2", "pPassword")
    assert not hidden.hides_parameter_field("CK_PKCS5_PBKD2_PARAMS2", "pSaltSourceData")
    assert not shown.hides_parameter_field("CK_PKCS5_PBKD2_PARAMS2", "pPassword")
    # Every listed structure and field exists in the decode headers, or is yet to come
    # with issue 3's parameter headers: names must at least be well formed.
    for struct, field in redact.SECRET_PARAMETER_FIELDS:
        assert struct.startswith("CK_") and field.startswith("p")
