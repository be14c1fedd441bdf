"""Matrix row: GnuTLS p11tool with --provider, direct and through the spy, on twin tokens."""
from __future__ import annotations

import re

from matrix_support import (BOTH, LABEL, USER_PIN, Client, check_trace, ensure_tool, matrix_row, run,
                            same_status, template_token, twins, unordered_blocks)  # noqa: F401

CLIENT = Client("GnuTLS p11tool", "gnutls-bin")
TOKEN_URL = f"pkcs11:token={LABEL}"


def p11tool(t, which, args):
    exe = ensure_tool("p11tool", "gnutls-bin")
    # GNUTLS_PIN answers the PIN prompt; --batch keeps p11tool from asking anything else.
    return run([exe, "--batch", "--provider", t.module(which)] + args, t.env(which, GNUTLS_PIN=USER_PIN))


def both(t, args):
    return same_status({which: p11tool(t, which, args) for which in BOTH})


def numbered(text: str) -> str:
    # "Object 3:" numbers follow the module's (unspecified) order: compare objects, not places.
    return re.sub(r"^Object \d+:", "Object:", text, flags=re.M)


def without_key_ids(text: str) -> str:
    # p11tool derives a new key's CKA_ID from its public key: fresh material in every run.
    return re.sub(r"^\tID: .*$", "\tID: (key hash)", re.sub(r"id=[^;]*;", "id=(key hash);", text), flags=re.M)


def test_list_tokens_and_objects(twins):
    with matrix_row(CLIENT, "list tokens and objects (--list-tokens, --list-all, --login --list-all)"):
        tokens = both(twins, ["--list-tokens"])
        assert tokens["spied"].ok().stdout == tokens["direct"].ok().stdout
        assert f"Label: {LABEL}" in tokens["spied"].stdout
        for args in (["--list-all", TOKEN_URL], ["--login", "--list-all", TOKEN_URL],
                     ["--list-all-certs", TOKEN_URL]):
            r = both(twins, args)
            assert unordered_blocks(numbered(r["spied"].ok().stdout)) == \
                unordered_blocks(numbered(r["direct"].ok().stdout)), args
        assert "Type: Private key" in r["spied"].stdout or "Type: X.509 Certificate" in r["spied"].stdout
        check_trace(twins.trace, ["C_GetTokenInfo", "C_FindObjects", "C_Login"])


def test_generate_key(twins):
    with matrix_row(CLIENT, "generate a key (--generate-privkey ECDSA)"):
        for which in BOTH:
            r = p11tool(twins, which, ["--login", "--generate-privkey", "ecdsa", "--curve", "secp256r1",
                                       "--label", "p11tool-gen", TOKEN_URL]).ok()
            assert "BEGIN PUBLIC KEY" in r.stdout, which
        listed = both(twins, ["--login", "--list-all", TOKEN_URL + ";object=p11tool-gen"])
        assert unordered_blocks(without_key_ids(numbered(listed["spied"].ok().stdout))) == \
            unordered_blocks(without_key_ids(numbered(listed["direct"].ok().stdout)))
        assert listed["spied"].stdout.count("Label: p11tool-gen") == 2  # the private and public key
        check_trace(twins.trace, ["C_GenerateKeyPair"])


def test_export_public_key(twins):
    with matrix_row(CLIENT, "export a public key (--export-pubkey, --export of the certificate)"):
        for url in (TOKEN_URL + ";object=rsa1;type=public", TOKEN_URL + ";object=ec1;type=public",
                    TOKEN_URL + ";object=rsa1;type=cert"):
            verb = "--export" if url.endswith("type=cert") else "--export-pubkey"
            r = both(twins, [verb, url])
            assert r["spied"].ok().stdout == r["direct"].ok().stdout, url
            assert "-----BEGIN " in r["spied"].stdout
        check_trace(twins.trace, ["C_GetAttributeValue"])
