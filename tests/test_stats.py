"""PKCS11SPY_STATS=1: the per-function table's totals equal the calls made, written at
C_Finalize and, in a C host that never finalises, at process exit (from C)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import HERE, read, run, spy_env
from pkcs11spy.softhsm import require_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def driver(tmp_path_factory) -> str:
    cc = require_tool("cc", "gcc")
    out = str(tmp_path_factory.mktemp("bench") / "driver")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", out,
                    os.path.join(ROOT, "bench", "driver.c"), "-ldl"], check=True)
    return out


def stats_events(trace):
    return [r for r in map(json.loads, read(trace).splitlines()) if r["event"] == "stats"]


def drive(driver, spy, token, trace, op, n, *extra, **env):
    r = run([driver, spy, op, str(n), token.user_pin, *extra],
            spy_env(token, trace, PKCS11SPY_STATS="1", PKCS11SPY_FORMAT="json", **env))
    assert r.returncode == 0, r.stderr
    name, iterations, _, warmup, _ = r.stdout.split()
    return int(iterations) + int(warmup)


@pytest.mark.parametrize("finalize", [True, False])
def test_totals_equal_calls_made(driver, spy, token, tmp_path, finalize):
    trace = tmp_path / "trace.jsonl"
    extra = [] if finalize else ["--no-finalize"]
    made = drive(driver, spy, token, trace, "random32", 300, *extra)
    events = stats_events(trace)
    assert len(events) == 1  # written once: at C_Finalize, or at exit without it
    table = events[0]
    assert table["at"] == ("C_Finalize" if finalize else "exit")
    by_name = {f["function"]: f for f in table["functions"]}
    assert by_name["C_GenerateRandom"]["calls"] == made
    assert by_name["C_GenerateRandom"]["errors"] == 0
    assert by_name["C_OpenSession"]["calls"] == 1 and by_name["C_Login"]["calls"] == 1
    assert ("C_Finalize" in by_name) == finalize
    # Every traced exit event is one call in the table.
    exits = [r for r in map(json.loads, read(trace).splitlines()) if r["event"] == "exit"]
    assert table["calls"] == len(exits) == sum(f["calls"] for f in table["functions"])
    assert table["sessions_max"] == 1
    assert abs(sum(f["share"] for f in table["functions"]) - 1) < 0.01
    g = by_name["C_GenerateRandom"]
    assert g["max_us"] >= g["mean_us"] > 0 and g["total_us"] >= g["max_us"]


def test_filtered_calls_are_still_counted(driver, spy, token, tmp_path):
    trace = tmp_path / "trace.jsonl"
    made = drive(driver, spy, token, trace, "digest", 200, PKCS11SPY_FUNCTIONS="-C_Digest*")
    records = [json.loads(x) for x in read(trace).splitlines()]
    assert not any(r.get("function", "").startswith("C_Digest") for r in records if r["event"] != "stats")
    by_name = {f["function"]: f for f in stats_events(trace)[0]["functions"]}
    assert by_name["C_DigestInit"]["calls"] == by_name["C_Digest"]["calls"] == made


def test_errors_by_return_code_in_text(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin", "999999",
             "-O"], spy_env(token, trace, PKCS11SPY_STATS="1"))
    assert r.returncode != 0
    text = read(trace)
    table = text[text.index("pkcs11spy statistics"):]
    login = [ln for ln in table.splitlines() if ln.startswith("C_Login ")]
    assert login and login[0].split()[1:3] == ["1", "1"]  # calls, errors
    assert "    CKR_PIN_INCORRECT" in table
    assert "most sessions open at once: 1" in table


def test_python_host_writes_the_table_once(spy, token, tmp_path):
    """In a Python program (python-pkcs11, five sessions) the table comes from Python's own
    exit hook and again at C_Finalize (python-pkcs11 finalises after the exit hooks ran):
    counts are cumulative, the last table counts every traced call."""
    from conftest import python_client
    trace = tmp_path / "trace.jsonl"
    r = python_client("sessions_random.py", spy, spy_env(token, trace, PKCS11SPY_FORMAT="json", PKCS11SPY_STATS="1"))
    assert r.returncode == 0, r.stderr
    records = [json.loads(x) for x in read(trace).splitlines()]
    tables = [x for x in records if x["event"] == "stats"]
    assert 1 <= len(tables) <= 2
    exits = [x for x in records if x["event"] == "exit"]
    last = tables[-1]
    by_name = {f["function"]: f["calls"] for f in last["functions"]}
    assert by_name["C_GenerateRandom"] == 200
    assert last["calls"] == len(exits)
    assert last["sessions_max"] == 5  # the logged-in session and the four others
    # Each table is written only when calls were made since the one before.
    if len(tables) == 2:
        assert tables[0]["calls"] < last["calls"]


def test_a_forked_child_counts_only_its_own_calls(spy, token, tmp_path):
    """Found by review: the child's table (written at its exit) included the 6 calls its
    parent made before the fork."""
    out = tmp_path / "traces"
    out.mkdir()
    r = run([sys.executable, os.path.join(HERE, "clients", "stats_fork.py"), spy],
            spy_env(token, str(out / "t-%p.jsonl"), PKCS11SPY_STATS="1", PKCS11SPY_FORMAT="json"))
    assert r.returncode == 0, r.stderr
    child = int(r.stdout.split()[-1])
    parent = next(int(n[2:-6]) for n in os.listdir(out) if int(n[2:-6]) != child)
    tables = {pid: stats_events(out / f"t-{pid}.jsonl") for pid in (parent, child)}
    counts = {pid: [(f["function"], f["calls"]) for t in ts for f in t["functions"]] for pid, ts in tables.items()}
    assert counts[child] == [("C_GetInfo", 1)]
    assert sorted(counts[parent]) == [("C_Finalize", 1), ("C_GetInfo", 5), ("C_Initialize", 1)]
