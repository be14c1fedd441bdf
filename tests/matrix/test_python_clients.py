"""Matrix rows: python-pkcs11 and PyKCS11, a scripted session each (tests/clients/*_matrix.py),
direct and through the spy on twin tokens.  The spy starts inside the running interpreter."""
from __future__ import annotations

import json
import os
import sys

from matrix_support import (BOTH, Client, check_trace, ensure_python_package, matrix_row, run, same_status,
                            template_token, twins)  # noqa: F401

CLIENTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients")
SESSION_CALLS = ["C_Initialize", "C_OpenSession", "C_Login", "C_FindObjectsInit", "C_FindObjects",
                 "C_GetAttributeValue", "C_Sign", "C_Verify", "C_Encrypt", "C_Decrypt", "C_Digest",
                 "C_GenerateKeyPair"]


def scripted_session(t, script: str) -> dict:
    runs = same_status({which: run([sys.executable, os.path.join(CLIENTS_DIR, script), t.module(which)],
                                   t.env(which)).ok() for which in BOTH})
    results = {which: json.loads(r.stdout) for which, r in runs.items()}
    assert results["spied"] == results["direct"]
    return results["spied"]


def test_python_pkcs11(twins):
    client = Client("python-pkcs11", "pip:python-pkcs11")
    with matrix_row(client, "scripted session: search, sign/verify, OAEP, AES-CBC, ECDSA, new keys"):
        ensure_python_package("pkcs11", "python-pkcs11")
        out = scripted_session(twins, "python_pkcs11_matrix.py")
        assert out["rsa_verify"] is True and out["rsa_verify_bad"] is False and out["ec_verify"] is True
        assert len(bytes.fromhex(out["rsa_signature"])) == 256 and out["rsa_oaep_roundtrip"] == "secret"
        assert "py-new" in out["found_after"]
        check_trace(twins.trace, SESSION_CALLS + ["C_GenerateKey", "C_GenerateRandom"])


def test_pykcs11(twins):
    client = Client("PyKCS11", "pip:PyKCS11")
    with matrix_row(client, "scripted session: mechanisms, search, sign/verify, PSS, OAEP, AES-CBC/GCM, new key pair"):
        ensure_python_package("PyKCS11", "PyKCS11")
        out = scripted_session(twins, "pykcs11_matrix.py")
        assert out["rsa_verify"] is True and out["rsa_verify_bad"] is False and out["pss_verify"] is True
        assert out["new_pair_signs"] is True and out["oaep_roundtrip"] == "secret"
        assert "CKM_AES_GCM" in out["mechanisms"] and "pykcs11-new" in out["labels_after"]
        check_trace(twins.trace, SESSION_CALLS + ["C_GetMechanismList", "C_Logout", "C_CloseSession"])
