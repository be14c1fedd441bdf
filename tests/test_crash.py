"""Crash visibility: when the module dies inside a call (SIGSEGV, abort, or a hang the
user kills), the trace file already holds that call's header and [in] lines, because
they are written before the call is forwarded."""
from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from conftest import read
from trace_parse import parse
from pkcs11spy.functions import BY_NAME

HERE = os.path.dirname(os.path.abspath(__file__))


def crash_env(crashmod, trace, what):
    env = {"PKCS11SPY": crashmod, "PKCS11SPY_OUTPUT": str(trace), "CRASHMOD_IN": "C_Login", "CRASHMOD_DO": what}
    return env


def assert_login_is_last_and_complete_on_entry(trace):
    records = parse(read(trace))
    assert [r.function for r in records] == ["C_Initialize", "C_GetInfo", "C_GetSlotList", "C_OpenSession",
                                             "C_Login"]
    login = records[-1]
    assert login.rv is None  # it never returned
    assert login.ins == ["[in] hSession = 0x7", "[in] userType = CKU_USER",
                         "[in] pPin[ulPinLen] = <PIN hidden: 11 bytes, printable text, token PIN limits not seen>"]


@pytest.mark.parametrize("what, signum", [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_crash_inside_a_call_is_in_the_file(c_host, crashmod, spy, tmp_path, what, signum):
    trace = tmp_path / "trace.txt"
    p = subprocess.run([c_host, "session", spy, "pin-for-log"], env=crash_env(crashmod, trace, what),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -signum, (p.returncode, p.stderr)
    assert p.stdout.splitlines()[-1] == "C_OpenSession 0"
    assert_login_is_last_and_complete_on_entry(trace)


def test_hang_inside_a_call_is_in_the_file(c_host, crashmod, spy, tmp_path):
    trace = tmp_path / "trace.txt"
    p = subprocess.Popen([c_host, "session", spy, "pin-for-log"], env=crash_env(crashmod, trace, "hang"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.communicate(timeout=3)
        pytest.fail("the hang did not hang")
    except subprocess.TimeoutExpired:
        p.kill()  # what a user or a CI timeout does
        p.communicate()
    assert_login_is_last_and_complete_on_entry(trace)


def test_crashmod_list_matches_the_table():
    """crashmod.c fills a 2.40 function list by index: its indices must be the table's."""
    with open(os.path.join(HERE, "modules", "crashmod.c"), encoding="utf-8") as f:
        source = f.read()
    indices = dict(re.findall(r"IX_(C_\w+) = (\d+)", source))
    assert indices
    for name, index in indices.items():
        assert BY_NAME[name].index == int(index), name


def test_crash_after_the_trace_file_was_removed(c_host, crashmod, spy, tmp_path):
    """The application removes the trace file, then a call crashes the module: the
    call's entry must still be readable (on stderr, after one warning)."""
    trace = tmp_path / "trace.txt"
    env = dict(crash_env(crashmod, trace, "segv"), HOST_UNLINK_BEFORE_LOGIN=str(trace))
    p = subprocess.run([c_host, "session", spy, "pin-for-log"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == -signal.SIGSEGV, (p.returncode, p.stderr)
    assert "unlinked 0" in p.stdout.splitlines()
    warning, rest = p.stderr.split("tracing continues on stderr\n", 1)
    assert "the file was removed" in warning
    login = parse(rest)[-1]
    assert login.function == "C_Login" and login.rv is None
    assert "[in] userType = CKU_USER" in login.ins


def test_unreadable_argument_in_the_callers_own_frame(c_host, spy, token, tmp_path):
    """A PIN pointer into a PROT_NONE page of the caller's live stack frame: SoftHSM2, not
    initialised, answers without reading it, and so must the spy (no fault, same code)."""
    trace = tmp_path / "trace.txt"
    env = token.env({"PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": str(trace)})
    direct = subprocess.run([c_host, "guard", token.module], env=env, capture_output=True, text=True, timeout=60)
    spied = subprocess.run([c_host, "guard", spy], env=env, capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert (spied.returncode, spied.stdout) == (0, direct.stdout), spied.stderr
    assert direct.stdout.strip() == f"C_Login {0x190}"  # CKR_CRYPTOKI_NOT_INITIALIZED
    login = parse(read(trace))[-1]
    assert login.function == "C_Login" and login.rv == 0x190
