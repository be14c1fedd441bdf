"""summary and analyze on several files, some unusable: each bad file gets one line and
is skipped, the others are still read; damaged gzip and endless lines end cleanly."""
from __future__ import annotations

import gzip
import json
import os
import sys

from conftest import run

from analysis_traces import login, open_session, render, simple

INIT = simple("C_Initialize", 0, "[in] pInitArgs = NULL")
FINAL = simple("C_Finalize", 0, "[in] pReserved = NULL")


def pkcs11spy(*args: str):
    return run([sys.executable, "-m", "pkcs11spy"] + list(args), dict(os.environ), timeout=60)


def good_trace(tmp_path) -> str:
    path = tmp_path / "good.txt"
    path.write_text(render([INIT, open_session(1), login("CKU_USER", 0xA0), FINAL], "ours"))
    return str(path)


def test_a_bad_file_does_not_hide_the_others(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    good = good_trace(tmp_path)
    for command in ("analyze", "summary"):
        r = pkcs11spy(command, "--json", str(empty), good)
        assert r.returncode == 2, r.stderr  # some input was unusable...
        doc = json.loads(r.stdout)
        if command == "analyze":  # ...but the good file was read
            assert any(f["rule"] == "wrong-pin" for f in doc["findings"])
        else:
            assert doc["calls"] == 4
        assert [ln for ln in r.stderr.splitlines() if "empty.txt" in ln] == \
            [f"pkcs11spy: {empty}: no PKCS#11 call found (is this a pkcs11spy, OpenSC pkcs11-spy or pkcs11spy JSON trace?)"]


def test_damaged_gzip_is_unusable_input_not_a_traceback(tmp_path):
    notgz = tmp_path / "not.gz"
    notgz.write_text("x\n")
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(open(good_trace(tmp_path), "rb").read() * 50)[:300])
    for path in (notgz, truncated):
        r = pkcs11spy("summary", str(path))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"pkcs11spy: {path}: cannot read" in r.stderr


def test_a_line_without_end_does_not_fill_memory(tmp_path):
    endless = tmp_path / "endless.txt"
    with open(endless, "w") as f:
        f.write("x" * (8 << 20))  # 8 MiB, no newline
    r = run([sys.executable, "-c",
             "import resource, sys; from pkcs11spy.cli import main; rc = main(['summary', sys.argv[1]]); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)", str(endless)],
            dict(os.environ), timeout=60)
    assert r.returncode == 2
    assert int(r.stdout.split()[-1]) < 100_000  # kB: the 8 MiB line is never held whole
