"""``pkcs11spy demo``: a real session traced end to end.

A throwaway SoftHSM2 token; OpenSC's pkcs11-tool run through the spy for what an
application typically does (list slots and mechanisms, log in, generate an RSA and an
EC key pair, sign, verify) and a login with a wrong PIN; then the trace.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional

from .cli import shim_path
from .softhsm import Missing, Token, create_token, require_tool


def _steps(token: Token, work: str) -> List[List[str]]:
    data = os.path.join(work, "data.txt")
    with open(data, "w", encoding="utf-8") as f:
        f.write("a document to sign\n")
    sig = os.path.join(work, "data.sig")
    login = ["--token-label", token.label, "--login", "--pin", token.user_pin]
    return [
        ["--list-slots"],
        ["--token-label", token.label, "--list-mechanisms"],
        login + ["--keypairgen", "--key-type", "rsa:2048", "--label", "demo-rsa", "--id", "01"],
        login + ["--keypairgen", "--key-type", "EC:prime256v1", "--label", "demo-ec", "--id", "02"],
        login + ["--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
                 "--input-file", data, "--output-file", sig],
        login + ["--verify", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
                 "--input-file", data, "--signature-file", sig],
        ["--token-label", token.label, "--login", "--pin", "0000", "--list-objects"],
    ]


def _output_problem(path: str) -> Optional[str]:
    """Why the trace cannot go to path, checked before the demo runs (the spy would fall
    back to stderr, which the demo does not show)."""
    if os.path.isdir(path):
        return f"{path} is a directory: give a file name, e.g. -o {os.path.join(path, 'trace.txt')}"
    if os.path.exists(path):
        return f"{path} exists: the demo does not overwrite files; remove it or choose another name"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        return f"cannot create {path}: {parent} is not a writable directory"
    return None


def run_demo(output: Optional[str]) -> int:
    problem = _output_problem(output) if output else None
    if problem:
        print(f"pkcs11spy demo: {problem}", file=sys.stderr)
        return 2
    try:
        tool = require_tool("pkcs11-tool", "opensc")
        work = tempfile.mkdtemp(prefix="pkcs11spy-demo-")
        token = create_token(os.path.join(work, "softhsm"))
    except Missing as exc:
        print(f"pkcs11spy demo: {exc}", file=sys.stderr)
        return 2
    trace = os.path.abspath(output) if output else os.path.join(work, "trace.txt")
    env = token.env({"PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": trace})
    spy = shim_path()
    try:
        for args in _steps(token, work):
            cmd = [tool, "--module", spy] + args
            wrong_pin = "0000" in args  # the last step fails on purpose: a login with a wrong PIN
            shown = " ".join("****" if a in (token.user_pin, "0000") else a for a in cmd[3:])
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            note = "  (a wrong PIN, on purpose: see C_Login in the trace)" if wrong_pin else ""
            print(f"$ pkcs11-tool {shown}  -> exit {result.returncode}{note}", file=sys.stderr)
        if output:
            print(f"pkcs11spy demo: the trace is in {trace}", file=sys.stderr)
        else:
            with open(trace, encoding="utf-8", errors="replace") as f:
                sys.stdout.write(f.read())
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the token and keys; the trace was printed or kept
    return 0
