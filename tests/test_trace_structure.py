"""The trace's structure over a whole realistic session (the demo's): every call has its
header, time line and Returned line; numbers increase per process; [in] before [out]."""
from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

from conftest import read
from trace_parse import parse


def test_demo_trace_structure(tmp_path):
    trace = tmp_path / "demo.txt"
    r = subprocess.run([sys.executable, "-m", "pkcs11spy", "demo", "-o", str(trace)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = read(trace)
    records = parse(text)  # raises on any layout violation
    assert len(records) > 100
    by_pid = defaultdict(list)
    for rec in records:
        by_pid[rec.pid].append(rec.seq)
        assert rec.rv is not None, f"call {rec.seq} {rec.function} has no Returned line"
        kinds = [ln.split(" ", 1)[0] for ln in rec.lines if ln.startswith("[")]
        assert kinds == sorted(kinds, key=lambda k: {"[in]": 0, "[note]": 1, "[out]": 2}.get(k, 3)), rec.text()
    assert len(by_pid) == 7  # one process per pkcs11-tool run
    for seqs in by_pid.values():
        assert seqs == list(range(len(seqs)))
    assert text.count("*************** pkcs11spy") == 7
    assert "Returned:  160 CKR_PIN_INCORRECT" in text
    assert "decode error" not in text and "internal error" not in text
    # Mechanisms, key types and classes are named, not left as numbers.
    for name in ("CKM_RSA_PKCS_KEY_PAIR_GEN", "CKM_EC_KEY_PAIR_GEN", "CKM_SHA256_RSA_PKCS", "CKO_PRIVATE_KEY",
                 "CKK_RSA", "CKU_USER", "CKF_RW_SESSION", "CKF_SERIAL_SESSION"):
        assert name in text, name


def test_demo_output_problems_are_named_before_it_runs(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("precious\n")
    cases = {str(tmp_path): "is a directory", str(keep): "exists: the demo does not overwrite files",
             str(tmp_path / "no-such-dir" / "t.txt"): "is not a writable directory"}
    for output, said in cases.items():
        r = subprocess.run([sys.executable, "-m", "pkcs11spy", "demo", "-o", output],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert keep.read_text() == "precious\n"
