"""Shared fixtures: a fresh SoftHSM2 token per test, and ways to run clients direct or
through the spy.  A missing tool makes the test fail with the package to install."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

import pytest

import leak_scan
from pkcs11spy.cli import shim_path
from pkcs11spy.softhsm import Token, create_token, require_tool

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def token(tmp_path) -> Token:
    return create_token(str(tmp_path / "softhsm"), label="test-token", user_pin="1234", so_pin="5678")


@pytest.fixture(scope="session")
def spy() -> str:
    return shim_path()


@pytest.fixture(scope="session")
def pkcs11_tool() -> str:
    return require_tool("pkcs11-tool", "opensc")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


_captured_stderr: List[str] = []  # traces that went to stderr, for the leak scan


def run(cmd: List[str], env: Dict[str, str], timeout: int = 120, stdin: Optional[str] = None) -> Run:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=stdin)
    _captured_stderr.append(p.stderr)
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture(autouse=True)
def no_secret_in_any_trace(tmp_path):
    """After every test: no PIN, key or plaintext the tests used is in any default-mode
    trace it produced (files under its tmp_path, or stderr)."""
    del _captured_stderr[:]
    yield
    found = []
    for root, _dirs, files in os.walk(tmp_path):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 200_000_000:
                continue
            text = read(path)
            if leak_scan.is_trace(text):
                found += [f"{path}: {leak}" for leak in leak_scan.leaks(text)]
    for text in _captured_stderr:
        if leak_scan.is_trace(text):
            found += [f"stderr: {leak}" for leak in leak_scan.leaks(text)]
    del _captured_stderr[:]
    assert not found, "secrets in a default-mode trace:\n" + "\n".join(found)


def spy_env(token: Token, trace: Optional[str], **extra: str) -> Dict[str, str]:
    env = token.env({"PKCS11SPY": token.module})
    if trace is not None:
        env["PKCS11SPY_OUTPUT"] = str(trace)
    env.update(extra)
    return env


def python_client(script: str, module: str, env: Dict[str, str], timeout: int = 180) -> Run:
    """Run a client script (tests/clients/NAME.py) in a fresh Python process: the spy
    must start inside a host whose interpreter is already running."""
    return run([sys.executable, os.path.join(HERE, "clients", script), module], env, timeout)


def read(path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


@pytest.fixture(scope="session")
def p11test(tmp_path_factory) -> str:
    """Our C test module (tests/modules/p11test.c): 2.40, 3.0, 3.2 and vendor interfaces."""
    from p11test import build_module
    return build_module(str(tmp_path_factory.mktemp("p11test")))


@pytest.fixture(scope="session")
def iface_host(tmp_path_factory) -> str:
    """The C host driving interfaces and every 3.x function (tests/c/iface_host.c)."""
    from p11test import build_host
    return build_host(str(tmp_path_factory.mktemp("iface_host")))


@pytest.fixture(scope="session")
def c_host(tmp_path_factory) -> str:
    """tests/c/host.c: a C host with session/threads/fork/reload/loop modes."""
    import cbuild
    return cbuild.compile_host("c/host.c", str(tmp_path_factory.mktemp("host")))


@pytest.fixture(scope="session")
def crashmod(tmp_path_factory) -> str:
    """tests/modules/crashmod.c: a module that crashes, aborts, hangs or sleeps on demand."""
    import cbuild
    return cbuild.compile_module("modules/crashmod.c", str(tmp_path_factory.mktemp("crashmod")))
