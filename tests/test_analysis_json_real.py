"""`summary` and `analyze` on a JSON trace our spy really wrote (PKCS11SPY_FORMAT=json):
the reader of issue 7 against the writer of issue 6, and the same answers as from the
text trace of the same session."""
from __future__ import annotations

import json
import os
import sys

from conftest import run, spy_env


def session(pkcs11_tool, spy, token, trace, fmt):
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin", "999999",
             "-O"], spy_env(token, trace, PKCS11SPY_FORMAT=fmt))
    assert r.returncode != 0  # the wrong PIN


def pkcs11spy(*args):
    return run([sys.executable, "-m", "pkcs11spy"] + list(args), dict(os.environ))


def test_analyze_and_summary_read_our_json(pkcs11_tool, spy, token, tmp_path):
    as_json, as_text = tmp_path / "t.jsonl", tmp_path / "t.txt"
    session(pkcs11_tool, spy, token, as_json, "json")
    session(pkcs11_tool, spy, token, as_text, "text")
    findings = {}
    for name, trace in (("json", as_json), ("text", as_text)):
        r = pkcs11spy("analyze", "--json", str(trace))
        assert r.returncode == 1, r.stderr  # findings
        findings[name] = sorted((f["rule"], [c["function"] for c in f["calls"]])
                                for f in json.loads(r.stdout)["findings"])
    assert ("wrong-pin", ["C_Login"]) in [(rule, calls[:1]) for rule, calls in findings["json"]]
    assert findings["json"] == findings["text"]
    r = pkcs11spy("summary", str(as_json))
    assert "C_Login -> CKR_PIN_INCORRECT (160, 0xA0)" in r.stdout
    assert "module: " + token.module in r.stdout
