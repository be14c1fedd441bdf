"""Matrix row: Java SunPKCS11, with a provider config file naming the spy (direct: SoftHSM2)
as its library; keytool lists the token as a PKCS11 keystore."""
from __future__ import annotations

import os

from matrix_support import (BOTH, USER_PIN, Client, check_trace, ensure_tool, matrix_row, run, same_status,
                            template_token, twins)  # noqa: F401

CLIENT = Client("Java SunPKCS11 (keytool)", "default-jre-headless", ["java", "-version"])
PROVIDER = "matrix"  # the same provider name both ways, so the outputs compare line for line


def keytool(t, which, args):
    exe = ensure_tool("keytool", "default-jre-headless")
    cfg = os.path.join(t.work, f"sunpkcs11.{which}.cfg")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(f"name = {PROVIDER}\nlibrary = {t.module(which)}\nslotListIndex = 0\n")
    return run([exe, "-list", "-keystore", "NONE", "-storetype", "PKCS11", "-addprovider", "SunPKCS11",
                "-providerArg", cfg, "-storepass", USER_PIN] + args, t.env(which))


def test_keytool_list(twins):
    with matrix_row(CLIENT, "keytool -list (and -list -v) on the token through SunPKCS11"):
        listing = same_status({which: keytool(twins, which, []) for which in BOTH})
        assert listing["spied"].ok().stdout == listing["direct"].ok().stdout
        assert "Keystore provider: SunPKCS11-" + PROVIDER in listing["spied"].stdout
        assert "rsa1, PrivateKeyEntry" in listing["spied"].stdout, listing["spied"].stdout
        verbose = same_status({which: keytool(twins, which, ["-v", "-alias", "rsa1"]) for which in BOTH})
        assert verbose["spied"].ok().stdout == verbose["direct"].ok().stdout
        assert "Owner: CN=pkcs11spy matrix" in verbose["spied"].stdout
        check_trace(twins.trace, ["C_GetFunctionList", "C_Initialize", "C_Login", "C_FindObjects",
                                  "C_GetAttributeValue"])
