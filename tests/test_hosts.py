"""The spy in a plain C host: every entry point is safe as the first call, and Python
starts with no PYTHONPATH/PYTHONHOME and no activated environment."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import read, run, spy_env
from trace_parse import parse
from pkcs11spy.softhsm import require_tool

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="session")
def first_call(tmp_path_factory) -> str:
    cc = require_tool("cc", "gcc")
    out = str(tmp_path_factory.mktemp("c") / "first_call")
    subprocess.run([cc, "-Wall", "-Wextra", "-o", out, os.path.join(HERE, "c", "first_call.c"), "-ldl"],
                   check=True)
    return out


def bare_env(token, trace):
    """Only what the spy and SoftHSM2 need: no PATH, no PYTHON* variables."""
    return {"SOFTHSM2_CONF": token.conf, "PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": str(trace)}


@pytest.mark.parametrize("first", ["C_Initialize", "C_GetInfo", "C_GetSlotList", "C_Finalize"])
def test_any_entry_point_first(first_call, spy, token, tmp_path, first):
    trace = tmp_path / "trace.txt"
    calls = [first] if first == "C_Initialize" else [first, "C_Initialize"]
    calls += ["C_GetInfo", "C_GetSlotList", "C_Finalize"]
    direct = run([first_call, token.module] + calls, {"SOFTHSM2_CONF": token.conf})
    spied = run([first_call, spy] + calls, bare_env(token, trace))
    assert spied.returncode == 0, spied.stderr
    assert spied.stdout == direct.stdout  # same return codes, call by call
    assert spied.stderr == ""
    records = parse(read(trace))
    assert [r.function for r in records] == calls
    assert [r.rv for r in records] == [int(line.split()[1]) for line in direct.stdout.splitlines()]


def test_tracing_can_be_disabled(first_call, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    env = bare_env(token, trace)
    env["PKCS11SPY_DISABLE_TRACE"] = "1"
    r = run([first_call, spy, "C_Initialize", "C_GetInfo", "C_Finalize"], env)
    assert r.stdout.split() == ["C_Initialize", "0", "C_GetInfo", "0", "C_Finalize", "0"]
    assert not trace.exists()


def test_disable_trace_zero_or_empty_keeps_tracing(first_call, spy, token, tmp_path):
    for value in ("0", ""):
        trace = tmp_path / f"trace{value or 'empty'}.txt"
        env = bare_env(token, trace)
        env["PKCS11SPY_DISABLE_TRACE"] = value
        r = run([first_call, spy, "C_Initialize", "C_Finalize"], env)
        assert r.stdout.split() == ["C_Initialize", "0", "C_Finalize", "0"]
        assert [rec.function for rec in parse(read(trace))] == ["C_Initialize", "C_Finalize"], value
