"""Real clients negotiating interfaces through the spy: python-pkcs11 (asks C_GetInterface
for 3.0 and 3.2) and pkcs11-tool, in front of a 2.x module (SoftHSM2 2.6), a 3.2 module
(our C test module) and a real 3.0 module (OpenSC's opensc-pkcs11.so, no card needed)."""
from __future__ import annotations

import json

import pytest

from conftest import python_client, read, run, spy_env
from p11test import opensc_module
from trace_parse import parse

SPY_OWN = "[note] answered by the spy itself"


def interface_requests(records):
    """(requested version line, rv name) of each C_GetInterface in a trace."""
    return [(next(ln for ln in r.lines if ln.startswith("[in] pVersion")), r.rv_name)
            for r in records if r.function == "C_GetInterface"]


def test_python_pkcs11_in_front_of_a_2x_module(spy, token, tmp_path):
    # python-pkcs11 asks for 3.0 and 3.2; the spy says no (as a 3.x module would for a
    # version it lacks) and the session goes on through C_GetFunctionList's list.
    trace = tmp_path / "trace.txt"
    direct = python_client("python_pkcs11_session.py", token.module, token.env())
    from pkcs11spy.softhsm import create_token
    token2 = create_token(str(tmp_path / "softhsm2"), label="test-token", user_pin="1234", so_pin="5678")
    spied = python_client("python_pkcs11_session.py", spy, spy_env(token2, trace))
    assert direct.returncode == 0 and spied.returncode == 0, spied.stderr
    assert json.loads(spied.stdout) == json.loads(direct.stdout)
    records = parse(read(trace))
    assert interface_requests(records) == [("[in] pVersion = 3.0", "CKR_ARGUMENTS_BAD"),
                                           ("[in] pVersion = 3.2", "CKR_ARGUMENTS_BAD")]
    assert all(any(ln.startswith(SPY_OWN) for ln in r.lines) for r in records if r.function == "C_GetInterface")


def test_python_pkcs11_in_front_of_a_3_2_module(spy, p11test, tmp_path):
    trace = tmp_path / "trace.txt"
    direct = python_client("python_pkcs11_kem.py", p11test, {})
    spied = python_client("python_pkcs11_kem.py", spy, {"PKCS11SPY": p11test, "PKCS11SPY_OUTPUT": str(trace)})
    assert direct.returncode == 0, direct.stderr
    assert spied.returncode == 0, spied.stderr
    # cryptoki_version: python-pkcs11 calls C_GetInfo of the 2.x list, which says 2.40.
    assert json.loads(spied.stdout) == json.loads(direct.stdout) == {
        "ciphertext": "454e4331", "cryptoki_version": [2, 40], "key_class": 4, "key_label": "shared"}
    records = parse(read(trace))
    assert interface_requests(records) == [("[in] pVersion = 3.0", "CKR_OK"), ("[in] pVersion = 3.2", "CKR_OK")]
    encapsulations = [r for r in records if r.function == "C_EncapsulateKey"]
    assert len(encapsulations) == 2  # size query, then the call: through our 3.2 list
    assert "[out] *phKey = 0x101" in encapsulations[1].lines
    assert SPY_OWN not in read(trace)


@pytest.mark.parametrize("args", [["-I"], ["-L"], ["-I", "-L", "-M"]])
def test_pkcs11_tool_in_front_of_the_3_2_module(pkcs11_tool, spy, p11test, tmp_path, args):
    trace = tmp_path / "trace.txt"
    direct = run([pkcs11_tool, "--module", p11test] + args, {})
    spied = run([pkcs11_tool, "--module", spy] + args, {"PKCS11SPY": p11test, "PKCS11SPY_OUTPUT": str(trace)})
    assert (spied.returncode, spied.stdout) == (direct.returncode, direct.stdout)
    assert direct.returncode == 0, direct.stderr
    records = parse(read(trace))
    assert records[0].function == "C_GetInterface" and records[0].rv_name == "CKR_OK"


def test_pkcs11_tool_in_front_of_softhsm(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    direct = run([pkcs11_tool, "--module", token.module, "-I", "-L"], token.env())
    spied = run([pkcs11_tool, "--module", spy, "-I", "-L"], spy_env(token, trace))
    assert (spied.returncode, spied.stdout) == (direct.returncode, direct.stdout)
    first = parse(read(trace))[0]
    # pkcs11-tool asks for the default interface: the spy's own 2.40 one.
    assert first.function == "C_GetInterface" and first.rv == 0
    assert "      version:        2.40" in first.lines
    assert any(ln.startswith(SPY_OWN) for ln in first.lines)


def test_opensc_module_through_the_spy(pkcs11_tool, iface_host, spy, tmp_path):
    module = opensc_module()
    trace = tmp_path / "trace.txt"
    env = {"PKCS11SPY": module, "PKCS11SPY_OUTPUT": str(trace), "OPENSC_CONF": "/dev/null"}
    commands = ["init", "list", "get", "-", "-", "0", "get", "PKCS 11", "3.0", "0", "get", "PKCS 11", "2.20", "0",
                "get", "PKCS 11", "3.2", "0", "info", "3.0", "info", "2.20", "info", "fl", "fini"]
    direct = run([iface_host, module] + commands, {"OPENSC_CONF": "/dev/null"})
    spied = run([iface_host, spy] + commands, env)
    assert direct.returncode == 0 and spied.returncode == 0, spied.stderr
    assert spied.stdout == direct.stdout
    assert "iface PKCS 11 3.0 flags=0" in spied.stdout
    assert "info rv=0 cryptoki 3.0" in spied.stdout and "info rv=0 cryptoki 2.20" in spied.stdout
    tool_direct = run([pkcs11_tool, "--module", module, "-I", "-L"], {"OPENSC_CONF": "/dev/null"})
    tool_spied = run([pkcs11_tool, "--module", spy, "-I", "-L"], env)
    assert (tool_spied.returncode, tool_spied.stdout) == (tool_direct.returncode, tool_direct.stdout)
    assert "Cryptoki version 3.0" in tool_spied.stdout
    functions = [r.function for r in parse(read(trace))]
    for name in ("C_GetInterfaceList", "C_GetInterface", "C_Initialize", "C_GetInfo", "C_GetSlotList"):
        assert name in functions, name
    assert SPY_OWN not in read(trace)
