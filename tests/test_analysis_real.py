"""The done-when of issue 7, for real: a wrong PIN, a context-specific login out of place
and a leaked session, made by a real client against SoftHSM2 through our spy and through
OpenSC's pkcs11-spy; `analyze` names each mistake and its call, `summary` reads both."""
from __future__ import annotations

import glob
import json

import pytest

from conftest import python_client, read, run, spy_env
from pkcs11spy.cli import main
from trace_parse import parse

OPENSC_SPY_GLOBS = ["/usr/lib/*/pkcs11-spy.so", "/usr/lib/pkcs11-spy.so", "/usr/lib64/pkcs11-spy.so",
                    "/usr/lib/*/pkcs11/pkcs11-spy.so"]


@pytest.fixture(scope="session")
def opensc_spy() -> str:
    for pattern in OPENSC_SPY_GLOBS:
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    pytest.fail("OpenSC's pkcs11-spy.so not found: install the Debian package `opensc`")


def analyze_json(capsys, path):
    code = main(["analyze", "--json", str(path)])
    return code, json.loads(capsys.readouterr().out)["findings"]


def by_rule(findings):
    out = {}
    for f in findings:
        out.setdefault(f["rule"], []).append([(c["call"], c["function"]) for c in f["calls"]])
    return out


def mistakes_trace(token, spy_module, tmp_path, name, extra_env=None):
    trace = tmp_path / name
    env = spy_env(token, str(trace), **(extra_env or {}))
    r = python_client("pykcs11_mistakes.py", spy_module, env)
    assert r.returncode == 0, r.stderr
    answers = dict(line.split() for line in r.stdout.split("\n") if line.strip())
    assert answers["wrong_pin"] == "160" and answers["right_pin"] == "0" and answers["sign_init"] == "0"
    return trace, answers


def test_analyze_names_the_three_mistakes_in_our_trace(token, spy, tmp_path, capsys):
    trace, _ = mistakes_trace(token, spy, tmp_path, "ours.txt")
    records = parse(read(trace))  # the independent strict reader says where each call is
    wrong_login = next(r for r in records if r.function == "C_Login" and r.rv_name == "CKR_PIN_INCORRECT")
    sign_init = next(r for r in records if r.function == "C_SignInit")
    ctx_login = next(r for r in records if r.function == "C_Login" and any("CKU_CONTEXT_SPECIFIC" in ln for ln in r.ins))
    gap = [r for r in records if sign_init.seq < r.seq < ctx_login.seq]
    opened = [r for r in records if r.function == "C_OpenSession"]
    assert gap and not any(r.function == "C_CloseSession" for r in records)

    code, findings = analyze_json(capsys, trace)
    rules = by_rule(findings)
    assert code == 1
    assert rules["wrong-pin"][0][0] == (wrong_login.seq, "C_Login")
    assert rules["context-login"] == [[(sign_init.seq, "C_SignInit"), (gap[-1].seq, gap[-1].function),
                                       (ctx_login.seq, "C_Login")]]
    assert sorted(f[0] for f in rules["session-leak"]) == [(r.seq, "C_OpenSession") for r in opened]

    assert main(["analyze", str(trace)]) == 1
    human = capsys.readouterr().out
    assert f"[wrong-pin] #{wrong_login.seq} C_Login" in human
    assert f"[context-login] #{sign_init.seq} C_SignInit" in human and f"#{ctx_login.seq} C_Login" in human
    assert f"[session-leak] #{opened[0].seq} C_OpenSession" in human


def test_analyze_reads_the_same_mistakes_from_opensc_spy(token, opensc_spy, tmp_path, capsys):
    trace, _ = mistakes_trace(token, opensc_spy, tmp_path, "opensc.log", {"PKCS11SPY": token.module})
    text = read(trace)
    assert "OpenSC PKCS#11 spy" in text
    code, findings = analyze_json(capsys, trace)
    rules = by_rule(findings)
    assert code == 1
    assert rules["wrong-pin"][0][0][1] == "C_Login"
    ctx = rules["context-login"][0]
    assert [fn for _, fn in ctx] == ["C_SignInit", "C_GetAttributeValue", "C_Login"]
    assert len(rules["session-leak"]) == 2


def test_summary_agrees_between_our_spy_and_opensc(token, spy, opensc_spy, pkcs11_tool, tmp_path, capsys):
    ours, theirs = tmp_path / "ours.txt", tmp_path / "opensc.log"
    cmd = ["--login", "--pin", "9999", "-O"]
    r1 = run([pkcs11_tool, "--module", spy] + cmd, spy_env(token, str(ours)))
    r2 = run([pkcs11_tool, "--module", opensc_spy] + cmd, spy_env(token, str(theirs)))
    assert "CKR_PIN_INCORRECT" in r1.stderr + r1.stdout and "CKR_PIN_INCORRECT" in r2.stderr + r2.stdout
    docs = []
    for path in (ours, theirs):
        assert main(["summary", "--json", str(path)]) == 1
        docs.append(json.loads(capsys.readouterr().out))
    counts = [{f["function"]: (f["calls"], f["errors"]) for f in d["functions"]} for d in docs]
    assert counts[0] == counts[1] and counts[0]["C_Login"] == (1, 1)
    for d in docs:
        assert [(x["function"], x["rv_name"]) for x in d["failures"]] == [("C_Login", "CKR_PIN_INCORRECT")]
        assert d["logins"][0]["user"] == "CKU_USER" and d["unreturned"] == []
        assert d["modules"][0]["module"] == token.module
    assert docs[0]["functions"][0]["total_ms"] is not None  # our trace has durations
    assert all(f["total_ms"] is None for f in docs[1]["functions"])  # OpenSC's has none

    assert main(["summary", str(ours)]) == 1
    human = capsys.readouterr().out
    assert "C_Login -> CKR_PIN_INCORRECT (160, 0xA0)" in human


@pytest.mark.parametrize("which", ["ours", "opensc"])
def test_operation_active_on_one_session_for_real(token, spy, opensc_spy, tmp_path, capsys, which):
    trace = tmp_path / f"{which}.log"
    r = python_client("pykcs11_operation_active.py", spy if which == "ours" else opensc_spy,
                      spy_env(token, str(trace)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["sign_init", "0", "encrypt_init", str(0x90)]
    _, findings = analyze_json(capsys, trace)
    active = by_rule(findings)["operation-active"]
    assert [[fn for _, fn in calls] for calls in active] == [["C_SignInit", "C_EncryptInit"]]
