"""python-pkcs11 through the spy: the spy starts inside a running interpreter."""
from __future__ import annotations

import json

from conftest import python_client, read, spy_env
from trace_parse import parse


def test_session_same_as_direct(spy, token, tmp_path):
    direct = python_client("python_pkcs11_session.py", token.module, token.env())
    assert direct.returncode == 0, direct.stderr
    # A second token for the spied run, so both start from an empty token.
    from pkcs11spy.softhsm import create_token
    token2 = create_token(str(tmp_path / "softhsm2"), label="test-token", user_pin="1234", so_pin="5678")
    trace = tmp_path / "trace.txt"
    spied = python_client("python_pkcs11_session.py", spy, spy_env(token2, trace))
    assert spied.returncode == 0, spied.stderr
    assert json.loads(spied.stdout) == json.loads(direct.stdout)
    result = json.loads(spied.stdout)
    assert result["rsa_verify"] is True and result["rsa_verify_bad"] is False
    assert result["aes_roundtrip"] == "sixteen byte msg"
    records = parse(read(trace))
    functions = {r.function for r in records}
    for name in ("C_Initialize", "C_OpenSession", "C_Login", "C_GenerateKey", "C_GenerateKeyPair",
                 "C_Sign", "C_Verify", "C_Encrypt", "C_Decrypt", "C_FindObjectsInit", "C_FindObjects",
                 "C_GetAttributeValue", "C_Digest", "C_CloseSession"):
        assert name in functions, name
    assert all(r.rv is not None for r in records), "a call without its Returned line"
    assert "pkcs11spy: tracing is off" not in spied.stderr
