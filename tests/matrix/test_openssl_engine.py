"""Matrix row: OpenSSL with the libp11 engine (libengine-pkcs11-openssl), direct and through the
spy: sign a file with a key on the token, verify the signature with the public key."""
from __future__ import annotations

import os
import re

from matrix_support import (BOTH, LABEL, USER_PIN, Client, check_trace, ensure_file, ensure_tool, matrix_row,
                            run, template_token, twins)  # noqa: F401

CLIENT = Client("OpenSSL + libp11 engine", "libengine-pkcs11-openssl")


def engine_path(openssl: str) -> str:
    out = run([openssl, "version", "-e"], dict(os.environ)).ok().stdout  # ENGINESDIR: "/usr/lib/.../engines-3"
    m = re.search(r'"([^"]+)"', out)
    candidates = [os.path.join(m.group(1), "pkcs11.so")] if m else []
    candidates += ["/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", "/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so"]
    return ensure_file(candidates, "libengine-pkcs11-openssl")


def openssl_conf(path: str, engine: str, module: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = {engine}
MODULE_PATH = {module}
init = 0
""")
    return path


def test_sign_with_token_key(twins):
    with matrix_row(CLIENT, "sign a file with a token key (RSA, ECDSA); verify with the public key"):
        openssl = ensure_tool("openssl", "openssl")
        engine = engine_path(openssl)
        data = os.path.join(twins.work, "data.txt")
        with open(data, "w") as f:
            f.write("signed through the libp11 engine\n" * 100)
        cert = os.path.join(twins.work, "rsa1.pem")
        tool = ensure_tool("pkcs11-tool", "opensc")
        run([tool, "--module", twins.direct.module, "--read-object", "--type", "cert", "--id", "01",
             "--output-file", cert + ".der"], twins.env("direct")).ok()
        run([openssl, "x509", "-inform", "DER", "-in", cert + ".der", "-out", cert], twins.env("direct")).ok()
        run([openssl, "x509", "-in", cert, "-pubkey", "-noout", "-out", cert + ".pub"], twins.env("direct")).ok()
        sigs = {}
        for which in BOTH:
            conf = openssl_conf(os.path.join(twins.work, f"openssl.{which}.cnf"), engine, twins.module(which))
            env = twins.env(which, OPENSSL_CONF=conf)
            for key in ("rsa1", "ec1"):
                uri = f"pkcs11:token={LABEL};object={key};type=private;pin-value={USER_PIN}"
                sig = os.path.join(twins.work, f"{key}.{which}.sig")
                run([openssl, "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri,
                     "-out", sig, data], env).ok()
                sigs[key, which] = sig
        ec_pub = os.path.join(twins.work, "ec1.pub.der")
        run([tool, "--module", twins.direct.module, "--read-object", "--type", "pubkey", "--id", "02",
             "--output-file", ec_pub], twins.env("direct")).ok()
        for which in BOTH:  # verified in software, without the token
            for key, pub, form in (("rsa1", cert + ".pub", "PEM"), ("ec1", ec_pub, "DER")):
                v = run([openssl, "dgst", "-sha256", "-verify", pub, "-keyform", form,
                         "-signature", sigs[key, which], data], dict(os.environ)).ok()
                assert v.stdout.strip() == "Verified OK", (key, which, v.stdout)
        with open(sigs["rsa1", "direct"], "rb") as a, open(sigs["rsa1", "spied"], "rb") as b:
            assert a.read() == b.read()  # PKCS#1 v1.5: deterministic, so byte for byte
        check_trace(twins.trace, ["C_Login", "C_SignInit", "C_Sign"])
