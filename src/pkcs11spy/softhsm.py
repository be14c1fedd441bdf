"""A throwaway SoftHSM2 token in a temporary directory: its own SOFTHSM2_CONF and token
folder, so nothing of the user's is touched.  Used by the demo and the tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Dict, Optional

# Where Debian and other distributions put the module.
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class Missing(RuntimeError):
    """A tool the job needs is not installed; the message names the package."""


def find_module() -> str:
    for path in MODULE_CANDIDATES:
        if os.path.exists(path):
            return path
    raise Missing("SoftHSM2's module libsofthsm2.so is not installed: apt-get install softhsm2")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Missing(f"{name} is not installed: apt-get install {package}")
    return path


@dataclass
class Token:
    directory: str
    module: str
    label: str = "pkcs11spy-demo"
    user_pin: str = "1234"
    so_pin: str = "5678"

    @property
    def conf(self) -> str:
        return os.path.join(self.directory, "softhsm2.conf")

    def env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(os.environ)
        env["SOFTHSM2_CONF"] = self.conf
        env.update(extra or {})
        return env


def create_token(directory: Optional[str] = None, label: str = "pkcs11spy-demo",
                 user_pin: str = "1234", so_pin: str = "5678") -> Token:
    """Initialise a fresh token in directory (a new temporary one if None)."""
    util = require_tool("softhsm2-util", "softhsm2")
    module = find_module()
    directory = directory or tempfile.mkdtemp(prefix="pkcs11spy-")
    tokens = os.path.join(directory, "tokens")
    os.makedirs(tokens, exist_ok=True)
    token = Token(directory, module, label, user_pin, so_pin)
    with open(token.conf, "w", encoding="utf-8") as f:
        f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", user_pin, "--so-pin", so_pin],
                   env=token.env(), check=True, capture_output=True)
    return token
