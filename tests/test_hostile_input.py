"""Never crash the host: every entry point with NULL pointers, zero and huge lengths and
bad handles, before C_Initialize, while initialised and after C_Finalize, returns what
SoftHSM2 itself returns; a decoder that raises costs only its argument."""
from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import HERE, python_client, read, run, spy_env
from trace_parse import parse
from pkcs11spy.functions import BY_NAME
from pkcs11spy.softhsm import create_token

CKR_ARGUMENTS_BAD, CKR_FUNCTION_NOT_SUPPORTED = 0x7, 0x54


def results(stdout: str) -> dict:
    return dict(line.split(" ", 1) for line in stdout.splitlines())


@pytest.mark.parametrize("shape", ["null", "bad", "huge"])
@pytest.mark.parametrize("phase", ["before", "during", "after"])
def test_every_entry_point_with_hostile_arguments(spy, token, tmp_path, phase, shape):
    trace = tmp_path / "trace.txt"
    client = os.path.join(HERE, "clients", "hostile.py")
    direct = run([sys.executable, client, token.module, phase, shape], token.env())
    spied = run([sys.executable, client, spy, phase, shape], spy_env(token, trace))
    assert direct.returncode == 0, direct.stderr
    assert spied.returncode == 0, spied.stderr  # the host did not crash
    want, got = results(direct.stdout), results(spied.stdout)
    assert set(got) == set(want)
    for name, rv in want.items():
        if rv != "missing":
            assert got[name] == rv, f"{name}: module returned {rv}, through the spy {got[name]}"
        elif BY_NAME[name].own:
            # Served by the spy (SoftHSM2 2.6 has no C_GetInterface*): a spec code.
            assert int(got[name]) in (0, CKR_ARGUMENTS_BAD), (name, got[name])
        else:
            assert int(got[name]) == CKR_FUNCTION_NOT_SUPPORTED, (name, got[name])
    text = read(trace)
    records = parse(text)
    # Every call is traced, including those to functions the module lacks (answered
    # CKR_FUNCTION_NOT_SUPPORTED by the spy, and recorded so).
    assert len(records) == len(got)
    lacking = {n for n, rv in want.items() if rv == "missing" and not BY_NAME[n].own}
    assert all(r.rv == CKR_FUNCTION_NOT_SUPPORTED for r in records if r.function in lacking)
    assert "decode error" not in text and "internal error" not in text


def test_raising_decoders_change_nothing_for_the_application(spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    # Two fresh tokens: the session stores objects, so it must start from the same state.
    other = create_token(str(tmp_path / "softhsm2"), label="test-token", user_pin="1234", so_pin="5678")
    direct = python_client("python_pkcs11_session.py", other.module, other.env())
    faulty = python_client("fault_injection.py", spy, spy_env(token, trace))
    assert direct.returncode == 0, direct.stderr
    assert faulty.returncode == 0, faulty.stderr
    assert json.loads(faulty.stdout) == json.loads(direct.stdout)
    text = read(trace)
    records = parse(text)
    assert len(records) > 50 and all(rec.rv is not None for rec in records)
    assert text.count("<decode error: InjectedFault: injected fault in the") > 100
    assert "internal error" not in text
