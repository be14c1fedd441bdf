"""A trace made with PKCS11SPY_FUNCTIONS or errors-only leaves calls out on purpose: its
banner says so, and analyze applies no rule that needs every call (no 'called before
C_Initialize' because C_Initialize was filtered out), while single-call rules (the wrong
PIN) still speak."""
from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import read, run, spy_env


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("setting", [{"PKCS11SPY_FUNCTIONS": "C_Login,C_Sign*"}, {"PKCS11SPY_ERRORS_ONLY": "1"}])
def test_partial_traces_say_so_and_get_no_sequence_findings(pkcs11_tool, spy, token, tmp_path, fmt, setting):
    trace = tmp_path / "t"
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin", "999999", "-O"],
            spy_env(token, trace, PKCS11SPY_FORMAT=fmt, **setting))
    assert r.returncode != 0
    text = read(trace)
    assert ("Tracing: only" in text) if fmt == "text" else ('"partial": "only' in text or '"partial":"only' in text)
    a = run([sys.executable, "-m", "pkcs11spy", "analyze", "--json", str(trace)], dict(os.environ))
    doc = json.loads(a.stdout)
    rules = {f["rule"] for f in doc["findings"]}
    assert "call-outside-init" not in rules and "session-leak" not in rules, doc["findings"]
    assert "wrong-pin" in rules
    assert doc["partial"] and doc["partial"][0]["traced"].startswith("only")


def test_a_full_trace_has_no_tracing_line(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "t.txt"
    run([pkcs11_tool, "--module", spy, "-L"], spy_env(token, trace))
    assert "Tracing:" not in read(trace)
