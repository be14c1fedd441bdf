"""The shared object exports every PKCS#11 function, and nothing else of ours."""
from __future__ import annotations

import subprocess

from pkcs11spy.functions import FUNCTIONS, LIST_LENGTH, V2_40
from pkcs11spy.softhsm import require_tool


def dynamic_symbols(path: str) -> set:
    nm = require_tool("nm", "binutils")
    out = subprocess.run([nm, "-D", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_every_v240_function_is_exported(spy):
    names = dynamic_symbols(spy)
    v240 = [f.name for f in FUNCTIONS if f.since == V2_40]
    assert len(v240) == LIST_LENGTH[V2_40] == 68
    missing = [n for n in v240 if n not in names]
    assert not missing


def test_3x_functions_exported_and_nothing_else(spy):
    names = dynamic_symbols(spy)
    ours = {f.name for f in FUNCTIONS}
    assert ours <= names
    assert {"C_GetInterfaceList", "C_GetInterface"} <= names
    assert names - ours == {"PyInit__shim"}  # cffi's module entry, and nothing of ours
