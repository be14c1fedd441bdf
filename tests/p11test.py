"""Build the C test module (tests/modules/p11test.c) and the interface host
(tests/c/iface_host.c) with cc, against a p11_index.h generated from the function table."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

from pkcs11spy.softhsm import require_tool

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = os.path.join(HERE, "modules")
sys.path.insert(0, MODULES)
import gen_index  # noqa: E402

def _index_dir(out_dir: str) -> str:
    with open(os.path.join(out_dir, "p11_index.h"), "w", encoding="utf-8") as f:
        f.write(gen_index.header())
    return out_dir


def build_module(out_dir: str) -> str:
    cc = require_tool("cc", "gcc")
    out = os.path.join(out_dir, "p11test.so")
    subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-g", "-shared", "-fPIC", "-I", _index_dir(out_dir),
                    "-o", out, os.path.join(MODULES, "p11test.c")], check=True)
    return out


def build_host(out_dir: str) -> str:
    cc = require_tool("cc", "gcc")
    out = os.path.join(out_dir, "iface_host")
    subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-g", "-I", _index_dir(out_dir), "-o", out,
                    os.path.join(HERE, "c", "iface_host.c"), "-ldl"], check=True)
    return out


def opensc_module() -> str:
    """OpenSC's PKCS#11 module (a real 3.0 module), from the opensc-pkcs11 package."""
    for path in sorted(glob.glob("/usr/lib/*/opensc-pkcs11.so")) + ["/usr/lib/opensc-pkcs11.so",
                                                                      "/usr/lib64/opensc-pkcs11.so"]:
        if os.path.exists(path):
            return path
    raise AssertionError("OpenSC's opensc-pkcs11.so is missing: apt-get install opensc-pkcs11")
