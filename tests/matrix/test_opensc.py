"""Matrix row: OpenSC pkcs11-tool, direct and through the spy, on twin tokens."""
from __future__ import annotations

import hashlib
import os
import re

from matrix_support import (BOTH, USER_PIN, Client, check_trace, ensure_tool, matrix_row, run,
                            same_status, strip_lines, template_token, twins, unordered_blocks)  # noqa: F401

CLIENT = Client("OpenSC pkcs11-tool", "opensc")
LOGIN = ["--login", "--pin", USER_PIN]


def tool(t, which, args, **kw):
    exe = ensure_tool("pkcs11-tool", "opensc")
    return run([exe, "--module", t.module(which)] + args, t.env(which), **kw)


def both(t, args):
    return same_status({which: tool(t, which, args) for which in BOTH})


def test_conformance_test(twins):
    with matrix_row(CLIENT, "--test (its own conformance run)"):
        # --test numbers the private keys in the module's find order, which may differ between
        # processes (see unordered_blocks): keep one private key, so its output is comparable.
        for which in BOTH:
            t = twins.token(which)
            run([ensure_tool("pkcs11-tool", "opensc"), "--module", t.module] + LOGIN +
                ["--delete-object", "--type", "privkey", "--id", "02"], t.env()).ok()
        r = both(twins, ["--test"] + LOGIN)
        # Exit status and every line the same.  (SoftHSM2 2.6 rejects pkcs11-tool's OAEP
        # label with CKR_ARGUMENTS_BAD, so --test ends with status 1 direct as well.)
        assert r["spied"].returncode == r["direct"].returncode
        assert r["spied"].stdout == r["direct"].stdout
        assert r["spied"].stderr == r["direct"].stderr
        assert "Digests:" in r["spied"].stdout
        check_trace(twins.trace, ["C_DigestInit", "C_Digest", "C_Verify", "C_Decrypt", "C_GenerateRandom"])


def test_list_mechanisms(twins):
    with matrix_row(CLIENT, "list mechanisms (-M)"):
        r = both(twins, ["-M"])
        assert r["direct"].ok().stdout == r["spied"].ok().stdout
        assert "RSA-PKCS" in r["spied"].stdout and "AES-GCM" in r["spied"].stdout
        check_trace(twins.trace, ["C_GetMechanismList", "C_GetMechanismInfo"])


KEYGENS = (
    ("rsa", ["--keypairgen", "--key-type", "rsa:2048"], "C_GenerateKeyPair"),
    ("ec", ["--keypairgen", "--key-type", "EC:secp384r1"], "C_GenerateKeyPair"),
    ("aes", ["--keygen", "--key-type", "AES:32"], "C_GenerateKey"),
)
# Lines carrying fresh key material differ between any two runs, direct or not.
KEY_MATERIAL = r"^\s*(EC_POINT|Modulus|modulus|publicExponent|VALUE):|^\s*[0-9a-f]{32,}$"


def test_generate_keys(twins):
    with matrix_row(CLIENT, "generate RSA-2048, EC P-384, AES-256 keys"):
        for name, args, call in KEYGENS:
            r = both(twins, LOGIN + args + ["--id", "a1", "--label", "gen-" + name])
            d, s = r["direct"].ok(), r["spied"].ok()
            assert strip_lines(s.stdout, KEY_MATERIAL) == strip_lines(d.stdout, KEY_MATERIAL), name
        listed = both(twins, LOGIN + ["-O"])
        assert unordered_blocks(strip_lines(listed["spied"].ok().stdout, KEY_MATERIAL)) == \
            unordered_blocks(strip_lines(listed["direct"].ok().stdout, KEY_MATERIAL))
        for name, _, _ in KEYGENS:
            assert "gen-" + name in listed["spied"].stdout
        check_trace(twins.trace, ["C_GenerateKeyPair", "C_GenerateKey"])


def test_sign_and_verify(twins):
    with matrix_row(CLIENT, "sign and verify (SHA256-RSA-PKCS, RSA-PSS, ECDSA)"):
        data = os.path.join(twins.work, "data")
        with open(data, "wb") as f:
            f.write(b"the matrix signs this\n" * 40)
        digest = os.path.join(twins.work, "digest")  # SoftHSM2 2.6 offers ECDSA on a hash only
        with open(digest, "wb") as f:
            f.write(hashlib.sha256(b"the matrix signs this\n" * 40).digest())
        sigs = {}
        for mech, key_id, data in (("SHA256-RSA-PKCS", "01", data), ("SHA256-RSA-PKCS-PSS", "01", data),
                                   ("ECDSA", "02", digest)):
            for which in BOTH:
                out = os.path.join(twins.work, f"{mech}.{which}.sig")
                tool(twins, which, LOGIN + ["--sign", "--mechanism", mech, "--id", key_id,
                                            "--input-file", data, "--output-file", out]).ok()
                sigs[mech, which] = out
            # Each signature verifies on the other side: a signature made through the spy
            # checks out directly, and the reverse.
            for signer, verifier in (("spied", "direct"), ("direct", "spied")):
                v = tool(twins, verifier, LOGIN + ["--verify", "--mechanism", mech, "--id", key_id,
                                                   "--input-file", data, "--signature-file", sigs[mech, signer]])
                assert v.ok().stdout.strip().endswith("Signature is valid"), (mech, signer, v.stdout)
        # PKCS#1 v1.5 is deterministic: the spy hands back exactly the module's bytes.
        with open(sigs["SHA256-RSA-PKCS", "direct"], "rb") as a, open(sigs["SHA256-RSA-PKCS", "spied"], "rb") as b:
            assert a.read() == b.read()
        records = check_trace(twins.trace, ["C_SignInit", "C_Sign", "C_VerifyInit", "C_Verify"])
        assert any("CKM_RSA_PKCS_PSS" in ln or "CKM_SHA256_RSA_PKCS_PSS" in ln
                   for r in records if r.function == "C_SignInit" for ln in r.ins)


def test_encrypt_and_decrypt(twins):
    with matrix_row(CLIENT, "encrypt and decrypt (AES-CBC-PAD, RSA-PKCS)"):
        plain = os.path.join(twins.work, "plain")
        with open(plain, "wb") as f:
            f.write(b"forty-two bytes of plaintext for the spy!!")
        cipher = {}
        for which in BOTH:
            out = os.path.join(twins.work, f"aes.{which}")
            tool(twins, which, LOGIN + ["--encrypt", "--mechanism", "AES-CBC-PAD", "--id", "03",
                                        "--iv", "00112233445566778899aabbccddeeff",
                                        "--input-file", plain, "--output-file", out]).ok()
            with open(out, "rb") as f:
                cipher[which] = f.read()
        assert cipher["spied"] == cipher["direct"] and len(cipher["spied"]) == 48
        for which in BOTH:  # decrypt the other side's ciphertext
            other = "direct" if which == "spied" else "spied"
            back = os.path.join(twins.work, f"aes.back.{which}")
            tool(twins, which, LOGIN + ["--decrypt", "--mechanism", "AES-CBC-PAD", "--id", "03",
                                        "--iv", "00112233445566778899aabbccddeeff",
                                        "--input-file", os.path.join(twins.work, f"aes.{other}"),
                                        "--output-file", back]).ok()
            with open(back, "rb") as f, open(plain, "rb") as g:
                assert f.read() == g.read()
        # RSA: encrypt in software with the token's public key, decrypt on the token.
        openssl = ensure_tool("openssl", "openssl")
        pub = os.path.join(twins.work, "rsa1.pub.der")
        tool(twins, "direct", ["--read-object", "--type", "pubkey", "--id", "01", "--output-file", pub]).ok()
        rsa_cipher = os.path.join(twins.work, "rsa.enc")
        run([openssl, "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub,
             "-in", plain, "-out", rsa_cipher], twins.env("direct")).ok()
        for which in BOTH:
            back = os.path.join(twins.work, f"rsa.back.{which}")
            tool(twins, which, LOGIN + ["--decrypt", "--mechanism", "RSA-PKCS", "--id", "01",
                                        "--input-file", rsa_cipher, "--output-file", back]).ok()
            with open(back, "rb") as f, open(plain, "rb") as g:
                assert f.read() == g.read(), which
        check_trace(twins.trace, ["C_EncryptInit", "C_Encrypt", "C_DecryptInit", "C_Decrypt"])


def test_read_objects(twins):
    with matrix_row(CLIENT, "read objects (-O, --read-object cert and public key)"):
        listed = both(twins, LOGIN + ["-O"])
        assert unordered_blocks(listed["spied"].ok().stdout) == unordered_blocks(listed["direct"].ok().stdout)
        assert "rsa1" in listed["spied"].stdout and "ec1" in listed["spied"].stdout
        for kind, key_id in (("cert", "01"), ("pubkey", "01"), ("pubkey", "02")):
            blobs = {}
            for which in BOTH:
                out = os.path.join(twins.work, f"{kind}{key_id}.{which}")
                tool(twins, which, ["--read-object", "--type", kind, "--id", key_id, "--output-file", out]).ok()
                with open(out, "rb") as f:
                    blobs[which] = f.read()
            assert blobs["spied"] == blobs["direct"] and blobs["spied"], (kind, key_id)
        records = check_trace(twins.trace, ["C_FindObjectsInit", "C_FindObjects", "C_GetAttributeValue"])
        assert any(re.search(r"CKA_VALUE", ln) for r in records if r.function == "C_GetAttributeValue"
                   for ln in r.lines)
