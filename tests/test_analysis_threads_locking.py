"""The threads-without-locking rule: C_Initialize(NULL) promises the module no concurrent
calls; two threads inside the module at once break that promise.  Written by hand in our
layout: a call blocked in the module while another thread's call starts (the first
one's exit part comes back marked <resumed>)."""
from __future__ import annotations

import json
import os
import sys

from conftest import run


def trace(init_args: list) -> str:
    t1, t2 = "P:42; T:0x7f01 2026-12-03 10:00:00.000", "P:42; T:0x7f02 2026-12-03 10:00:00.001"
    return "\n".join([
        "*************** pkcs11spy 0.1.0 *****************", 'Loaded: "/usr/lib/softhsm/libsofthsm2.so"', "",
        "0: C_Initialize", t1, *init_args, "Returned:  0 CKR_OK (0.100 ms)", "",
        "1: C_GenerateRandom", t1, "[in] hSession = 0x1", "",
        "2: C_GenerateRandom", t2, "[in] hSession = 0x2", "Returned:  0 CKR_OK (0.010 ms)", "",
        "1: C_GenerateRandom <resumed>", t1, "Returned:  0 CKR_OK (0.050 ms)", "",
        "3: C_GenerateRandom", t2, "[in] hSession = 0x2", "Returned:  0 CKR_OK (0.010 ms)", "",
    ]) + "\n"


def analyze(tmp_path, text: str) -> list:
    path = tmp_path / "t.txt"
    path.write_text(text)
    r = run([sys.executable, "-m", "pkcs11spy", "analyze", "--json", str(path)], dict(os.environ))
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["findings"]


def test_null_init_then_concurrent_calls(tmp_path):
    findings = [f for f in analyze(tmp_path, trace(["[in] pInitArgs = NULL"]))
                if f["rule"] == "threads-without-locking"]
    assert len(findings) == 1  # once per process
    assert [(c["call"], c["thread"]) for c in findings[0]["calls"]] == [(0, "0x7f01"), (1, "0x7f01"), (2, "0x7f02")]
    assert "CKF_OS_LOCKING_OK" in findings[0]["check"]


def test_locking_promised_is_fine(tmp_path):
    args = ["[in] pInitArgs: ", "      CreateMutex: NULL", "      flags:       0x2", "        CKF_OS_LOCKING_OK"]
    assert not [f for f in analyze(tmp_path, trace(args)) if f["rule"] == "threads-without-locking"]


def test_threads_taking_turns_are_fine(tmp_path):
    text = trace(["[in] pInitArgs = NULL"])
    # The same calls, one after the other: no call starts while another runs.
    sequential = text.replace('[in] hSession = 0x1\n\n2: C_GenerateRandom', '[in] hSession = 0x1\n'
                              'Returned:  0 CKR_OK (0.050 ms)\n\n2: C_GenerateRandom')
    sequential = sequential.replace("1: C_GenerateRandom <resumed>\nP:42; T:0x7f01 2026-12-03 10:00:00.000\n"
                                    "Returned:  0 CKR_OK (0.050 ms)\n\n", "")
    assert not [f for f in analyze(tmp_path, sequential) if f["rule"] == "threads-without-locking"]
