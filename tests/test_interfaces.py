"""Interfaces (PKCS#11 3.0 and later) through the spy: negotiation in front of a 3.x
module (our C test module, whose lists and interfaces sit in read-only memory before an
inaccessible page, so a write or a read past them kills the host) and in front of a 2.x
module (SoftHSM2 2.6), the bad answers real modules give, and the trace's notes.

The C host prints the same lines for the module loaded directly and for the spy; the
spy must not change one of them."""
from __future__ import annotations

from typing import Dict, List

import pytest

from conftest import read, run
from trace_parse import parse

SPY_OWN = "[note] answered by the spy itself"
UNSEEN = "calls through it are not seen by the spy"
FORK_SAFE = "1"

REQUESTS = [  # name, version, flags: every version and flag case the test module knows
    ("-", "-", "0"), ("PKCS 11", "-", "0"), ("PKCS 11", "3.2", "0"), ("PKCS 11", "3.1", "0"),
    ("PKCS 11", "3.1", FORK_SAFE), ("PKCS 11", "3.0", "0"), ("PKCS 11", "3.0", FORK_SAFE),
    ("PKCS 11", "2.40", "0"), ("PKCS 11", "2.20", "0"), ("PKCS 11", "4.0", "0"),
    ("Vendor pkcs11spy-test", "-", "0"), ("Vendor pkcs11spy-test", "1.0", FORK_SAFE), ("nope", "-", "0"),
]


def get_args(requests) -> List[str]:
    out: List[str] = []
    for name, version, flags in requests:
        out += ["get", name, version, flags]
    return out


def module_env(module: str, trace, **extra: str) -> Dict[str, str]:
    env = {"PKCS11SPY": module, "PKCS11SPY_OUTPUT": str(trace)}
    env.update(extra)
    return env


def direct_and_spied(host, module, spy, tmp_path, commands, **extra):
    trace = tmp_path / "trace.txt"
    direct = run([host, module] + commands, dict(extra))
    spied = run([host, spy] + commands, module_env(module, trace, **extra))
    assert direct.returncode == 0, direct.stdout + direct.stderr
    assert spied.returncode == 0, spied.stdout + spied.stderr  # a write or over-read would kill it
    return direct, spied, read(trace)


@pytest.mark.parametrize("offer", [
    "3.2,3.0,2.40,vendor",
    "3.0+fs,3.1+fs,3.2,vendor",      # 3.0 and 3.1 share a structure, not a list
    "vendor,2.40,3.1,3.0+fs,3.2+fs",
    "3.0",
])
def test_negotiation_matches_the_module(iface_host, p11test, spy, tmp_path, offer):
    commands = ["list", "fl"] + get_args(REQUESTS)
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, commands, P11TEST_OFFER=offer)
    # Same names, versions, flags (CKF_INTERFACE_FORK_SAFE too), same answers and codes,
    # except C_GetFunctionList, which the spy always answers with a 2.x list.
    assert [ln for ln in spied.stdout.splitlines() if not ln.startswith("fl ")] == \
        [ln for ln in direct.stdout.splitlines() if not ln.startswith("fl ")]
    assert "fl rv=0 2.40" in spied.stdout
    records = parse(trace)
    assert [r.function for r in records] == ["C_GetInterfaceList"] * 2 + ["C_GetFunctionList"] + \
        ["C_GetInterface"] * len(REQUESTS)
    assert SPY_OWN not in trace
    # The vendor interface is handed through and named as unseen; "PKCS 11" ones are ours.
    unseen = [ln for ln in trace.splitlines() if UNSEEN in ln]
    assert all("'Vendor pkcs11spy-test' 1.0" in ln for ln in unseen)
    assert bool(unseen) == ("vendor" in offer)


def test_each_interface_has_its_own_list_and_version(iface_host, p11test, spy, tmp_path):
    offer = "3.0,3.1+fs,3.2,2.40"
    commands = ["get", "PKCS 11", "3.0", "0", "get", "PKCS 11", "3.1", "1", "get", "PKCS 11", "3.0", "0"]
    _, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, commands, P11TEST_OFFER=offer)
    assert spied.stdout.splitlines() == ["get rv=0", "-> PKCS 11 3.0 flags=0", "get rv=0",
                                         "-> PKCS 11 3.1 flags=1", "get rv=0", "-> PKCS 11 3.0 flags=0"]
    lists = [ln.split()[-1] for ln in trace.splitlines() if "pFunctionList:" in ln]
    assert len(lists) == 3 and lists[0] == lists[2] != lists[1]


@pytest.mark.parametrize("version", ["3.0", "3.1", "3.2"])
def test_every_3x_function_goes_through_and_is_traced(iface_host, p11test, spy, tmp_path, version):
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["run", version],
                                            P11TEST_OFFER="3.2,3.1,3.0,2.40")
    assert spied.stdout == direct.stdout
    called = [ln.split()[0] for ln in spied.stdout.splitlines() if ln.startswith("C_")]
    records = parse(trace)
    assert [r.function for r in records] == ["C_GetInterface"] + called
    assert [r.rv for r in records[1:]] == [int(ln.split()[1]) for ln in spied.stdout.splitlines()
                                           if ln.startswith("C_")]
    if version == "3.2":
        assert {"C_EncapsulateKey", "C_AsyncComplete", "C_UnwrapKeyAuthenticated"} <= set(called)


def test_vendor_interface_is_passed_through(iface_host, p11test, spy, tmp_path):
    _, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["vendor"])
    assert spied.stdout.splitlines() == ["get rv=0", "-> Vendor pkcs11spy-test 1.0 flags=0", "ping rv=0 42"]
    record, = parse(trace)
    assert any(UNSEEN in ln and "'Vendor pkcs11spy-test'" in ln for ln in record.lines)


def test_a_vendor_interface_name_cannot_forge_a_record(iface_host, p11test, spy, tmp_path):
    """Found by review: the note naming a vendor interface printed the module's bytes as
    they came, so a name with newlines wrote a whole fake record into the text trace."""
    forged = "Vendor\n\n7: C_Login\nP:1; T:0x1 2026-01-01 00:00:00.000\nReturned:  0 CKR_OK"
    _, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["list"], P11TEST_VENDOR_NAME=forged)
    records = parse(trace)
    assert "C_Login" not in [r.function for r in records]
    assert any(UNSEEN in ln and repr(forged) in ln for r in records for ln in r.lines)


def test_function_list_too_short_for_its_version(iface_host, p11test, spy, tmp_path):
    # C_GetFunctionList claims 3.0 in a list only 2.40 long, ending at an inaccessible page.
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["fl", "run", "3.0"],
                                            P11TEST_FUNCTION_LIST="short3")
    assert direct.stdout.splitlines()[0] == "fl rv=0 3.0"
    assert spied.stdout.splitlines()[0] == "fl rv=0 2.40"
    assert spied.stdout.splitlines()[1:] == direct.stdout.splitlines()[1:]


def test_get_interface_ok_with_null(iface_host, p11test, spy, tmp_path):
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["get", "-", "-", "0"],
                                            P11TEST_GETINTERFACE="null")
    assert spied.stdout == direct.stdout == "get rv=0\n-> NULL\n"
    record, = parse(trace)
    assert "[out] *ppInterface = NULL" in record.lines
    assert any("CKR_OK with *ppInterface NULL" in ln for ln in record.lines)


def test_get_interface_not_supported(iface_host, p11test, spy, tmp_path):
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path,
                                            ["get", "PKCS 11", "3.0", "0", "list"],
                                            P11TEST_GETINTERFACE="unsupported")
    assert spied.stdout == direct.stdout
    assert spied.stdout.startswith("get rv=84\n")
    assert parse(trace)[0].outs == []


@pytest.mark.parametrize("offer,ours", [("3.2,3.0", True), ("3.2", False)])
def test_get_interface_answer_not_in_the_list(iface_host, p11test, spy, tmp_path, offer, ours):
    # The module answers with a 3.0 interface it did not list: the spy stands in with its
    # own 3.0 interface when it has one, else hands the module's through and says so.
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["get", "-", "-", "0"],
                                            P11TEST_GETINTERFACE="unlisted", P11TEST_OFFER=offer)
    assert spied.stdout == direct.stdout == "get rv=0\n-> PKCS 11 3.0 flags=0\n"
    assert (UNSEEN in trace) != ours


def test_interface_list_not_supported_means_a_2x_front(iface_host, p11test, spy, tmp_path):
    _, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, ["list", "get", "PKCS 11", "3.0", "0"],
                                       P11TEST_INTERFACELIST="unsupported")
    assert spied.stdout.splitlines() == ["list rv=0 count=1", "iface PKCS 11 2.40 flags=0", "get rv=7"]
    assert SPY_OWN in trace


# ---- in front of a 2.x module: SoftHSM2 2.6 -----------------------------------------------

def test_in_front_of_a_2x_module(iface_host, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    requests = [("-", "-", "0"), ("PKCS 11", "-", "0"), ("PKCS 11", "2.40", "0"), ("PKCS 11", "2.20", "0"),
                ("PKCS 11", "3.0", "0"), ("PKCS 11", "3.2", "0"), ("-", "-", FORK_SAFE), ("Vendor", "-", "0")]
    env = token.env({"PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": str(trace)})
    direct = run([iface_host, token.module, "fl"], token.env({}))
    assert direct.stdout == "fl rv=0 2.40\n"
    assert "C_GetInterfaceList missing" in run([iface_host, token.module, "list"], token.env({})).stdout
    spied = run([iface_host, spy, "list", "fl"] + get_args(requests), env)
    assert spied.returncode == 0, spied.stderr
    ok = ["get rv=0", "-> PKCS 11 2.40 flags=0"]
    assert spied.stdout.splitlines() == ["list rv=0 count=1", "iface PKCS 11 2.40 flags=0", "fl rv=0 2.40"] + \
        ok * 4 + ["get rv=7"] * 4
    records = parse(read(trace))
    for r in records:
        if r.function.startswith("C_GetInterface"):
            assert any(ln.startswith(SPY_OWN) for ln in r.lines), r.text()


def test_calls_reach_the_list_they_were_made_through(iface_host, p11test, spy, tmp_path):
    # Each of the module's lists has its own C_GetInfo (naming its list's version).
    commands = ["info", "3.2", "info", "3.0", "info", "2.40", "info", "fl", "info", "3.1"]
    direct, spied, trace = direct_and_spied(iface_host, p11test, spy, tmp_path, commands,
                                            P11TEST_OFFER="3.2,3.1,3.0,2.40")
    assert spied.stdout == direct.stdout
    assert [ln for ln in spied.stdout.splitlines() if ln.startswith("info")] == [
        "info rv=0 cryptoki 3.2", "info rv=0 cryptoki 3.0", "info rv=0 cryptoki 2.40",
        "info rv=0 cryptoki 2.40", "info rv=0 cryptoki 3.0"]
    assert [r.function for r in parse(trace)].count("C_GetInfo") == 5


def test_3_2_list_of_a_draft_header(iface_host, p11test, spy, tmp_path):
    # A 3.2 list two entries short (no C_WrapKeyAuthenticated/C_UnwrapKeyAuthenticated),
    # ending at an inaccessible page: the spy must not read past it, nor offer what follows.
    trace = tmp_path / "trace.txt"
    spied = run([iface_host, spy, "run", "3.2"], module_env(p11test, trace, P11TEST_OFFER="3.2draft,3.0"))
    assert spied.returncode == 0, spied.stdout + spied.stderr
    lines = spied.stdout.splitlines()
    assert "C_WrapKeyAuthenticated 84" in lines and "C_UnwrapKeyAuthenticated 84" in lines
    assert "C_AsyncJoin 0" in lines and "C_EncapsulateKey 0" in lines
    records = parse(read(trace))
    assert [r.rv_name for r in records if r.function.endswith("KeyAuthenticated")] == \
        ["CKR_FUNCTION_NOT_SUPPORTED"] * 2
