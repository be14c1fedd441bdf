"""Bad configuration: one clear line naming the cause and the fix, no crash, no hang,
no message repeated on every call."""
from __future__ import annotations

from conftest import read, run, spy_env


def pkcs11_tool_list(pkcs11_tool, spy, env):
    return run([pkcs11_tool, "--module", spy, "-L"], env, timeout=60)


def assert_clean_failure(result, expected):
    assert result.returncode > 0  # failed, but not killed by a signal
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("pkcs11spy:")]
    assert len(lines) == 1, result.stderr  # said once, not on every call
    assert expected in lines[0]
    return lines[0]


def test_pkcs11spy_unset(pkcs11_tool, spy, token):
    env = token.env()
    env.pop("PKCS11SPY", None)
    line = assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), "PKCS11SPY is not set")
    assert "libsofthsm2.so" in line  # names the fix, with an example


def test_missing_module(pkcs11_tool, spy, token):
    env = token.env({"PKCS11SPY": "/nonexistent/libnothing.so"})
    line = assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), "cannot load PKCS11SPY=/nonexistent/libnothing.so")
    assert "No such file" in line


def test_not_a_library(pkcs11_tool, spy, token, tmp_path):
    bogus = tmp_path / "bogus.so"
    bogus.write_text("not a library\n")
    env = token.env({"PKCS11SPY": str(bogus)})
    assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), f"cannot load PKCS11SPY={bogus}")


def test_library_without_pkcs11(pkcs11_tool, spy, token):
    other = "libc.so.6"  # a real shared object that loads anywhere, but no C_GetFunctionList
    env = token.env({"PKCS11SPY": other})
    assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), "is not a PKCS#11 module")


def test_spy_pointing_at_itself(pkcs11_tool, spy, token):
    env = token.env({"PKCS11SPY": spy})
    assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), "is the spy itself")


def test_failure_also_in_trace_file(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    env = token.env({"PKCS11SPY": "/nonexistent/libnothing.so", "PKCS11SPY_OUTPUT": str(trace)})
    assert_clean_failure(pkcs11_tool_list(pkcs11_tool, spy, env), "cannot load")
    assert "cannot load PKCS11SPY=/nonexistent/libnothing.so" in read(trace)


def test_unwritable_output_falls_back_to_stderr(pkcs11_tool, spy, token, tmp_path):
    env = spy_env(token, str(tmp_path / "no-such-dir" / "trace.txt"))
    r = pkcs11_tool_list(pkcs11_tool, spy, env)
    assert r.returncode == 0
    assert "test-token" in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("pkcs11spy:")]
    assert len(warnings) == 1 and "cannot write the trace to PKCS11SPY_OUTPUT" in warnings[0]
    assert "Returned:  0 CKR_OK" in r.stderr and "C_GetSlotList" in r.stderr


def test_bad_numeric_setting_is_named(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "t.txt"
    r = pkcs11_tool_list(pkcs11_tool, spy, spy_env(token, trace, PKCS11SPY_MAX_DUMP="lots"))
    assert r.returncode == 0
    assert "PKCS11SPY_MAX_DUMP='lots' is not a number of bytes" in r.stderr
