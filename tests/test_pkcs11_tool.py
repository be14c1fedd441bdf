"""OpenSC's pkcs11-tool through the spy: the same results as direct, and a trace."""
from __future__ import annotations

import os

from conftest import read, run, spy_env
from trace_parse import parse


def tool(pkcs11_tool, module, token, args, env):
    return run([pkcs11_tool, "--module", module] + args, env)


def login(token):
    return ["--token-label", token.label, "--login", "--pin", token.user_pin]


def test_list_slots_same_as_direct(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    direct = tool(pkcs11_tool, token.module, token, ["-L"], token.env())
    spied = tool(pkcs11_tool, spy, token, ["-L"], spy_env(token, trace))
    assert direct.returncode == spied.returncode == 0
    assert spied.stdout == direct.stdout
    assert "test-token" in spied.stdout
    text = read(trace)
    assert 'Loaded: "%s"' % token.module in text
    names = [r.function for r in parse(text)]
    assert "C_GetSlotList" in names and "C_GetTokenInfo" in names


def object_blocks(listing: str) -> list:
    blocks, current = [], []
    for line in listing.splitlines():
        if not line.startswith(" ") and current:
            blocks.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return sorted(blocks)


def test_keygen_and_sign_same_as_direct(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    env = spy_env(token, trace)
    gen = tool(pkcs11_tool, spy, token, login(token) + ["--keypairgen", "--key-type", "rsa:2048",
                                                         "--label", "k1", "--id", "01"], env)
    assert gen.returncode == 0, gen.stderr
    data = tmp_path / "data"
    data.write_bytes(b"sign me")
    sigs = {}
    for name, module, e in (("direct", token.module, token.env()), ("spy", spy, env)):
        out = tmp_path / f"sig-{name}"
        r = tool(pkcs11_tool, module, token, login(token) + [
            "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
            "--input-file", str(data), "--output-file", str(out)], e)
        assert r.returncode == 0, r.stderr
        sigs[name] = out.read_bytes()
    # RSA PKCS#1 v1.5 is deterministic: the spy must hand back exactly the module's bytes.
    assert sigs["spy"] == sigs["direct"] and len(sigs["spy"]) == 256
    listed = {}
    for name, module, e in (("direct", token.module, token.env()), ("spy", spy, env)):
        listed[name] = tool(pkcs11_tool, module, token, login(token) + ["--list-objects"], e).stdout
    # SoftHSM2 lists objects in the order of their addresses in its own heap, which the
    # spy's allocations shift: compare the objects, not their order.
    assert object_blocks(listed["spy"]) == object_blocks(listed["direct"])
    records = parse(read(trace))
    gen_records = [r for r in records if r.function == "C_GenerateKeyPair"]
    assert gen_records and gen_records[0].rv_name == "CKR_OK"
    assert any(ln.startswith("[in] pMechanism->type = CKM_RSA_PKCS_KEY_PAIR_GEN") for ln in gen_records[0].ins)
    sign_init = [r for r in records if r.function == "C_SignInit"]
    assert any("CKM_SHA256_RSA_PKCS" in ln for ln in sign_init[0].ins)
    sign = [r for r in records if r.function == "C_Sign" and r.rv_name == "CKR_OK"]
    assert any(ln.startswith("[out] pSignature[ulSignatureLen]") and ln.endswith("/ 256") for ln in sign[-1].outs)


def test_wrong_pin_is_traced(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = tool(pkcs11_tool, spy, token, ["--token-label", token.label, "--login", "--pin", "999999",
                                       "--list-objects"], spy_env(token, trace))
    assert r.returncode != 0
    text = read(trace)
    logins = [rec for rec in parse(text) if rec.function == "C_Login"]
    assert logins and logins[0].rv == 160 and logins[0].rv_name == "CKR_PIN_INCORRECT"
    assert "Returned:  160 CKR_PIN_INCORRECT" in text
    assert "999999" not in text  # the PIN itself stays out of the trace
    assert "[in] userType = CKU_USER" in logins[0].text()


def object_blocks(listing: str) -> list:
    """pkcs11-tool --list-objects output as a sorted list of per-object blocks."""
    blocks, current = [], []
    for line in listing.splitlines():
        if line and not line.startswith(" ") and current:
            blocks.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return sorted(blocks)
