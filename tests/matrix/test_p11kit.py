"""Matrix row: p11-kit both ways.

- behind p11-kit: a private p11-kit configuration registers the spy as its only module, and
  pkcs11-tool talks to p11-kit-proxy.so (p11-kit in front of the spy, the spy in front of
  SoftHSM2); direct, the same configuration registers SoftHSM2 itself.
- in front of p11-kit: PKCS11SPY names p11-kit-proxy.so (configured with SoftHSM2), and
  pkcs11-tool loads the spy; direct, pkcs11-tool loads p11-kit-proxy.so.

The configuration must be private (no system module, nothing written under /etc).  p11-kit
reads user configuration from ~/.config/pkcs11 but ignores it in a process running as root
(it logs "skipping user config in program running as root"), so as root each client runs in
its own mount namespace where the system module directory is replaced by the private one."""
from __future__ import annotations

import os
from typing import Dict, List

from matrix_support import (BOTH, LABEL, USER_PIN, Client, Result, check_trace, ensure_file, ensure_tool,
                            matrix_row, run, same_status, template_token, twins, unordered_blocks)  # noqa: F401

CLIENT = Client("p11-kit (p11-kit-proxy.so)", "p11-kit-modules")
SYSTEM_MODULE_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")
PROXY_CANDIDATES = ("/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so", "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
                    "/usr/lib64/p11-kit-proxy.so", "/usr/lib/p11-kit-proxy.so")


class PrivateP11Kit:
    """A p11-kit configuration of one module, used only by the commands run through it."""

    def __init__(self, directory: str, module: str) -> None:
        self.home = os.path.join(directory, "home")
        self.modules = os.path.join(self.home, ".config", "pkcs11", "modules")
        os.makedirs(self.modules)
        self.empty = os.path.join(directory, "empty")
        os.makedirs(self.empty)
        with open(os.path.join(self.modules, "under-test.module"), "w", encoding="utf-8") as f:
            f.write(f"module: {module}\n")
        if os.geteuid() != 0:
            # A user file named like a system one replaces it: switch every system module off.
            for d in SYSTEM_MODULE_DIRS:
                for name in os.listdir(d) if os.path.isdir(d) else ():
                    if name.endswith(".module"):
                        with open(os.path.join(self.modules, name), "w", encoding="utf-8") as f:
                            f.write("enable-in: pkcs11spy-matrix-nothing\n")

    def run(self, cmd: List[str], env: Dict[str, str]) -> Result:
        env = dict(env, HOME=self.home)
        if os.geteuid() != 0:
            return run(cmd, env)
        unshare = ensure_tool("unshare", "util-linux")
        binds = [f"mount --bind {self.modules} {SYSTEM_MODULE_DIRS[0]}"]
        binds += [f"mount --bind {self.empty} {d}" for d in SYSTEM_MODULE_DIRS[1:] if os.path.isdir(d)]
        script = " && ".join(binds) + ' && exec "$@"'
        r = run([unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + cmd, env)
        assert "mount:" not in r.stderr and "unshare:" not in r.stderr, \
            f"cannot make a private p11-kit configuration (needs a mount namespace as root): {r.stderr.strip()}"
        return r


def pkcs11_tool_jobs(t, run_one) -> Dict[str, Dict[str, Result]]:
    """The same pkcs11-tool jobs direct and spied; run_one(which, args) runs one of them."""
    data = os.path.join(t.work, "data")
    with open(data, "wb") as f:
        f.write(b"through p11-kit\n")
    jobs = {"list": ["-L"], "objects": ["-O", "--login", "--pin", USER_PIN]}
    out = {name: same_status({which: run_one(which, args) for which in BOTH}) for name, args in jobs.items()}
    out["sign"] = {}
    for which in BOTH:
        sig = os.path.join(t.work, f"sig.{which}")
        r = run_one(which, ["--token-label", LABEL, "--login", "--pin", USER_PIN, "--sign",
                            "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
                            "--input-file", data, "--output-file", sig])
        if r.returncode == 0:  # compare the signature itself (deterministic) with the output
            with open(sig, "rb") as f:
                r.stdout += f.read().hex()
        out["sign"][which] = r
    same_status(out["sign"])
    return out


def assert_same(out: Dict[str, Dict[str, Result]]) -> None:
    for name, r in out.items():
        assert unordered_blocks(r["spied"].ok().stdout) == unordered_blocks(r["direct"].ok().stdout), name
    assert f"token label        : {LABEL}" in out["list"]["spied"].stdout
    assert "rsa1" in out["objects"]["spied"].stdout
    assert len(out["sign"]["spied"].stdout.split()[-1]) == 512  # a 256-byte signature, hex


def test_spy_behind_p11kit_proxy(twins):
    with matrix_row(CLIENT, "spy registered in a private p11-kit config, used through p11-kit-proxy.so"):
        proxy = ensure_file(PROXY_CANDIDATES, "p11-kit-modules")
        tool = ensure_tool("pkcs11-tool", "opensc")
        configs = {which: PrivateP11Kit(os.path.join(twins.work, f"p11kit.{which}"), twins.module(which))
                   for which in BOTH}

        def one(which, args):
            return configs[which].run([tool, "--module", proxy] + args, twins.env(which))

        out = pkcs11_tool_jobs(twins, one)
        assert_same(out)
        p11kit = ensure_tool("p11-kit", "p11-kit")
        listed = {w: configs[w].run([p11kit, "list-modules"], twins.env(w)).ok().stdout for w in BOTH}
        assert f"token: {LABEL}" in listed["spied"]
        # The module path differs (spy vs SoftHSM2); what p11-kit sees through it does not.
        assert listed["spied"].replace(twins.spy, "MODULE") == listed["direct"].replace(twins.direct.module, "MODULE")
        check_trace(twins.trace, ["C_GetSlotList", "C_Login", "C_Sign"])


def test_spy_in_front_of_p11kit_proxy(twins):
    with matrix_row(CLIENT, "spy in front of p11-kit-proxy.so (PKCS11SPY=p11-kit-proxy.so)"):
        proxy = ensure_file(PROXY_CANDIDATES, "p11-kit-modules")
        tool = ensure_tool("pkcs11-tool", "opensc")
        configs = {which: PrivateP11Kit(os.path.join(twins.work, f"p11kit.{which}"), twins.token(which).module)
                   for which in BOTH}

        def one(which, args):
            module = proxy if which == "direct" else twins.spy
            return configs[which].run([tool, "--module", module] + args, twins.env(which, PKCS11SPY=proxy))

        out = pkcs11_tool_jobs(twins, one)
        assert_same(out)
        with open(twins.trace, encoding="utf-8") as f:
            assert f'Loaded: "{proxy}"' in f.read()
        check_trace(twins.trace, ["C_GetSlotList", "C_Login", "C_Sign"])
