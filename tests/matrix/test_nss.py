"""Matrix row: NSS.  modutil adds the spy (direct: SoftHSM2) to a fresh NSS database as a
module; certutil then lists the token's certificate and keys through it."""
from __future__ import annotations

import os
import re

from matrix_support import (BOTH, LABEL, USER_PIN, Client, check_trace, ensure_tool, matrix_row, run,
                            same_status, template_token, twins, unordered_blocks)  # noqa: F401

CLIENT = Client("NSS modutil / certutil", "libnss3-tools")
MODULE_NAME = "under-test"


def key_lines(text: str) -> str:
    # "< 0> rsa  01  rsa1": the index follows the module's (unspecified) object order.
    return re.sub(r"^<\s*\d+>", "<n>", text, flags=re.M)


def nss_db(t, which) -> str:
    """A fresh NSS database holding the module under test (the spy, or SoftHSM2 direct)."""
    certutil = ensure_tool("certutil", "libnss3-tools")
    modutil = ensure_tool("modutil", "libnss3-tools")
    db = os.path.join(t.work, f"nssdb.{which}")
    os.makedirs(db)
    run([certutil, "-N", "-d", "sql:" + db, "--empty-password"], t.env(which)).ok()
    added = run([modutil, "-force", "-dbdir", "sql:" + db, "-add", MODULE_NAME, "-libfile", t.module(which)],
                t.env(which)).ok()
    assert f'Module "{MODULE_NAME}" added to database.' in added.stdout, added.stdout
    return "sql:" + db


def test_modutil_and_certutil(twins):
    with matrix_row(CLIENT, "modutil -add the spy to a fresh db; certutil -L / -K -h all see the token"):
        modutil = ensure_tool("modutil", "libnss3-tools")
        certutil = ensure_tool("certutil", "libnss3-tools")
        dbs = {which: nss_db(twins, which) for which in BOTH}
        pin_file = os.path.join(twins.work, "pin.txt")
        with open(pin_file, "w") as f:
            f.write(USER_PIN + "\n")

        def both(args):
            return same_status({w: run(args(w), twins.env(w)) for w in BOTH})

        listed = both(lambda w: [modutil, "-list", MODULE_NAME, "-dbdir", dbs[w]])
        spied_list = listed["spied"].ok().stdout.replace(twins.spy, "LIBRARY")
        assert spied_list == listed["direct"].ok().stdout.replace(twins.direct.module, "LIBRARY")
        assert f"Token Name: {LABEL}" in spied_list or f"token: {LABEL}" in spied_list, spied_list

        certs = both(lambda w: [certutil, "-L", "-h", "all", "-d", dbs[w], "-f", pin_file])
        assert certs["spied"].ok().stdout == certs["direct"].ok().stdout
        assert f"{LABEL}:rsa1" in certs["spied"].stdout, certs["spied"].stdout

        pem = both(lambda w: [certutil, "-L", "-h", LABEL, "-d", dbs[w], "-n", f"{LABEL}:rsa1", "-a", "-f", pin_file])
        assert pem["spied"].ok().stdout == pem["direct"].ok().stdout
        assert "BEGIN CERTIFICATE" in pem["spied"].stdout

        keys = both(lambda w: [certutil, "-K", "-h", LABEL, "-d", dbs[w], "-f", pin_file])
        assert unordered_blocks(key_lines(keys["spied"].ok().stdout)) == \
            unordered_blocks(key_lines(keys["direct"].ok().stdout))
        assert "rsa1" in keys["spied"].stdout
        check_trace(twins.trace, ["C_Initialize", "C_GetTokenInfo", "C_Login", "C_FindObjects", "C_Finalize"])
