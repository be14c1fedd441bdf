"""Matrix row: OpenSSH ssh-keygen -D, direct and through the spy."""
from __future__ import annotations

from matrix_support import (BOTH, Client, check_trace, ensure_tool, matrix_row, run, same_status,
                            template_token, twins)  # noqa: F401

CLIENT = Client("OpenSSH ssh-keygen", "openssh-client")


def test_public_keys_same_as_direct(twins):
    with matrix_row(CLIENT, "ssh-keygen -D: list the token's public keys"):
        exe = ensure_tool("ssh-keygen", "openssh-client")
        r = same_status({which: run([exe, "-D", twins.module(which)], twins.env(which)).ok() for which in BOTH})
        # Sorted: the module's object order is not specified (see unordered_blocks).
        assert sorted(r["spied"].stdout.splitlines()) == sorted(r["direct"].stdout.splitlines())
        kinds = sorted(line.split()[0] for line in r["spied"].stdout.splitlines())
        assert kinds == ["ecdsa-sha2-nistp256", "ssh-rsa"], r["spied"].stdout
        check_trace(twins.trace, ["C_Initialize", "C_FindObjects", "C_GetAttributeValue", "C_Finalize"])
