"""PKCS11SPY_FORMAT=json: every line of a real session validates against the schema in
docs/json-schema.json (checked with the jsonschema package), and every value type of the
record model maps to a typed JSON value the schema accepts."""
from __future__ import annotations

import collections
import json
import os
import threading

import jsonschema
import pytest

from conftest import python_client, read, run, spy_env
from pkcs11spy.model import (Arg, Attribute, BigInt, Bool, Bytes, Call, Const, Date, DecodeError,
                             DistinguishedName, EcPoint, Field, Flags, InOut, Items, Mechanism, Null,
                             Oid, Pointer, Redacted, Scalar, Struct, Template, Text, Unavailable,
                             Unreadable, Version)
from pkcs11spy.render import json as json_render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    with open(os.path.join(ROOT, "docs", "json-schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def lines_of(path) -> list:
    return [json.loads(line) for line in read(path).splitlines()]


def test_python_pkcs11_session_validates(spy, token, tmp_path, validator):
    trace = tmp_path / "trace.jsonl"
    env = spy_env(token, trace, PKCS11SPY_FORMAT="json")
    spied = python_client("python_pkcs11_session.py", spy, env)
    assert spied.returncode == 0, spied.stderr
    records = lines_of(trace)
    for rec in records:
        validator.validate(rec)
    assert records[0]["event"] == "start" and records[0]["module"] == token.module
    enters = {r["id"]: r for r in records if r["event"] == "enter"}
    exits = {r["id"]: r for r in records if r["event"] == "exit"}
    assert enters and set(enters) == set(exits)
    for i, e in exits.items():
        assert enters[i]["function"] == e["function"] and enters[i]["tid"] == e["tid"]
    # The login's PIN is a redaction marker, never the PIN.
    login = next(r for r in enters.values() if r["function"] == "C_Login")
    pin = next(a["value"] for a in login["in"] if a["name"].startswith("pPin"))
    assert pin == {"type": "redacted", "what": "PIN", "length": 4,
                   "facts": ["printable text", "length within the token's 4..255"]}
    assert "1234" not in read(trace).replace('"length":4', "")
    # A signature comes back as bytes with its length.
    signs = [e for e in exits.values() if e["function"] == "C_Sign" and e["rv_name"] == "CKR_OK"]
    sig = [a["value"] for s in signs for a in s["out"] if a["value"]["type"] == "bytes"]
    assert any(v["length"] == 256 and len(v["hex"]) == 512 and not v["cut"] for v in sig)
    assert all(isinstance(e["duration_us"], float) for e in exits.values())


def test_wrong_pin_json(pkcs11_tool, spy, token, tmp_path, validator):
    trace = tmp_path / "trace.jsonl"
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin", "999999",
             "-O"], spy_env(token, trace, PKCS11SPY_FORMAT="json"))
    assert r.returncode != 0
    records = lines_of(trace)
    for rec in records:
        validator.validate(rec)
    login = [x for x in records if x["event"] == "exit" and x["function"] == "C_Login"]
    assert login and login[0]["rv"] == 160 and login[0]["rv_name"] == "CKR_PIN_INCORRECT"
    assert "999999" not in read(trace)


def every_value():
    ckm = Const(0x250, "CKM_SHA256", "CKM")
    return [
        Scalar(2**64 - 1), ckm, Flags(6, ["CKF_RW_SESSION", "CKF_SERIAL_SESSION"], 0x80),
        Bool(1), Bool(7), Pointer(0), Pointer(0x7FFF12345678), Version(3, 2),
        Text("lab\xff\\x00el\u2603 \"q\"\n", fixed=True), Bytes(0x1000, 100, b"\x00\xff" * 8),
        Bytes(0x1000, 2, b"ab", note="not a CK_ULONG"), Null(), Null(32), Unreadable(0xDEAD, 8),
        Redacted(4, "PIN", ["printable text"]), Unavailable("CK_UNAVAILABLE_INFORMATION"),
        DecodeError("ValueError: odd"), Struct("CK_VERSION", [Field("major", Scalar(1))]),
        Items("slot", [Scalar(1, decimal=True)], 3),
        Template([Attribute(Const(0, "CKA_CLASS", "CKA"), 8, Const(3, "CKO_PRIVATE_KEY", "CKO")),
                  Attribute(Const(0x11, "CKA_VALUE", "CKA"), 0, None),
                  Attribute(Const(0x40000211, "CKA_WRAP_TEMPLATE", "CKA"), 24,
                            Template([Attribute(Const(1, "CKA_TOKEN", "CKA"), 1, Bool(1))]))]),
        Mechanism(ckm, None, 0), Mechanism(ckm, Bytes(0x2000, 16, b"\x01" * 16), 16),
        InOut(Scalar(0), Scalar(256)),
        BigInt(3, b"\x01\x00\x01"), Date("2026-12-03"), Oid("1.2.840.10045.3.1.7", "secp256r1"),
        DistinguishedName([Field("CN", Text("pkcs11spy test"))]),
        EcPoint("uncompressed", b"\x04" + b"\x11" * 64, True),
    ]


def test_every_value_type_validates(validator):
    values = every_value()
    call = Call(seq=7, function="C_Test", pid=1, tid=2, wall_ns=1_700_000_000_123_456_789,
                inputs=[Arg(f"a{i}", v) for i, v in enumerate(values)])
    enter = json.loads(json_render.render_enter(call))
    validator.validate(enter)
    assert enter["time"] == "2023-11-14T22:13:20.123456Z"
    types = {a["value"]["type"] for a in enter["in"]}
    assert types == set(json_render.CONVERT[type(v)](v)["type"] for v in values)
    assert len(types) == len(json_render.CONVERT) - 1  # all but Attribute, which sits in templates
    call.rv, call.rv_name, call.duration_ns, call.outputs = 0x150, "CKR_BUFFER_TOO_SMALL", 1500, []
    call.exit_notes = ["the module wrote no key"]
    exit_part = json.loads(json_render.render_exit(call))
    validator.validate(exit_part)
    assert exit_part["notes"] == ["the module wrote no key"]
    text = next(a["value"] for a in enter["in"] if a["value"]["type"] == "text")
    assert text["value"] == "lab\xff\\x00el\u2603 \"q\"\n"
    # A mistake must not validate: the schema can fail.
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(dict(enter, **{"in": [{"name": "x", "value": {"type": "bytes", "hex": "zz"}}]}))


def test_lines_stay_whole_under_threads(c_host, spy, token, tmp_path, validator):
    """Several threads through one spy at once: each line is one JSON object, none
    interleaved.  The C host initialises with CKF_OS_LOCKING_OK, so the module may be
    called concurrently (python-pkcs11 passes NULL, which promises it will not be)."""
    trace = tmp_path / "trace.jsonl"
    r = run([c_host, "threads", spy, "4", "300"], spy_env(token, trace, PKCS11SPY_FORMAT="json"), timeout=300)
    assert r.returncode == 0, r.stderr
    done = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("thread ")]
    assert len(done) == 4 and all(int(failed) == 0 for *_rest, failed in done), done
    records = lines_of(trace)
    for rec in records:
        validator.validate(rec)
    exits = collections.Counter(x["tid"] for x in records if x["event"] == "exit")
    for _t, tid, calls, _failed in done:
        assert exits[int(tid, 16)] == int(calls)
    randoms = [x for x in records if x["event"] == "exit" and x["function"] == "C_GenerateRandom"]
    assert len({x["tid"] for x in randoms}) == 4


def test_fast_envelope_matches_the_record(validator):
    """render_enter/render_exit format the envelope by hand for speed: they must say
    exactly what enter_record/exit_record say."""
    call = Call(seq=3, function="C_Login", pid=11, tid=22, wall_ns=1_700_000_000_000_001_000,
                inputs=[Arg("hSession", Scalar(1))], outputs=[Arg("*pulCount", InOut(Scalar(0), Scalar(2)))],
                rv=160, rv_name="CKR_PIN_INCORRECT", duration_ns=1234, notes=["a note"])
    for render, record in ((json_render.render_enter, json_render.enter_record),
                           (json_render.render_exit, json_render.exit_record)):
        line = render(call)
        assert line.endswith("\n") and "\n" not in line[:-1]
        assert json.loads(line) == json.loads(json_render.encode(record(call)))
        validator.validate(json.loads(line))


def test_exit_reuses_only_its_own_entrys_envelope():
    """An exit line takes the envelope its enter line made; a call of another trace with
    the same id (a tool rendering several traces) must not get it."""
    def call(pid: int, function: str) -> Call:
        return Call(seq=7, function=function, pid=pid, tid=22, wall_ns=1_700_000_000_000_001_000,
                    inputs=[], outputs=[], rv=0, rv_name="CKR_OK", duration_ns=1000)
    first, other = call(11, "C_Login"), call(12, "C_Logout")
    alone = json.loads(json_render.render_exit(first))
    json_render.render_enter(first)
    assert json.loads(json_render.render_exit(other)) == json.loads(json_render.encode(json_render.exit_record(other)))
    assert json.loads(json_render.render_exit(first)) == alone
    json_render.render_enter(first)
    assert json.loads(json_render.render_exit(first)) == alone
