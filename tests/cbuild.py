"""Compile the tests' C helpers (tests/c/*.c hosts, tests/modules/*.c modules) with cc,
once per session.  They include the package's ck_types.h, so both sides share types."""
from __future__ import annotations

import os
import subprocess

from pkcs11spy.softhsm import require_tool

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(os.path.dirname(HERE), "src", "pkcs11spy")


def compile_host(source: str, out_dir: str) -> str:
    cc = require_tool("cc", "gcc")
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(source))[0])
    subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-I", INCLUDE, "-o", out, os.path.join(HERE, source),
                    "-ldl", "-lpthread"], check=True)
    return out


def compile_module(source: str, out_dir: str) -> str:
    cc = require_tool("cc", "gcc")
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(source))[0] + ".so")
    subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I", INCLUDE, "-o", out,
                    os.path.join(HERE, source)], check=True)
    return out
