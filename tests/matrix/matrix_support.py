"""What every row of the transparency matrix shares: installing a client when it is missing,
twin SoftHSM2 tokens (one for the direct run, one for the spied run, byte-identical at the
start), running a command both ways, checking the trace is complete, and recording the row
for docs/transparency.md.

No conftest.py here on purpose: the tests in tests/ do `from conftest import ...`, and a second
conftest.py would shadow that module name."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

from pkcs11spy.softhsm import Missing, Token, create_token

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for trace_parse
from trace_parse import Record, parse  # noqa: E402

# Rows are appended here (JSON lines) when set; tests/matrix/write_table.py turns them into
# docs/transparency.md.  `./run matrix` sets it.
RESULTS_ENV = "PKCS11SPY_MATRIX_RESULTS"
LABEL = "test-token"
USER_PIN = "1234"


# --- installing clients ------------------------------------------------------------------

def apt_install(package: str) -> None:
    """Install a Debian package, or raise Missing saying why it could not be done."""
    if shutil.which("apt-get") is None:
        raise Missing(f"{package} is not installed and apt-get is not available")
    prefix: List[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise Missing(f"{package} is not installed; installing needs root: apt-get install {package}")
        prefix = ["sudo", "-n"]
    cmd = prefix + ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", package]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:  # a stale package list is the usual cause: refresh once
        subprocess.run(prefix + ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"],
                       env=env, capture_output=True, text=True, timeout=900)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Missing(f"apt-get install {package} failed: {tail[0]}")


def ensure_tool(name: str, package: str) -> str:
    """The path of a command, installing its Debian package first when it is missing."""
    path = shutil.which(name)
    if path is None:
        apt_install(package)
        path = shutil.which(name)
    if path is None:
        raise Missing(f"{name} is still missing after apt-get install {package}")
    return path


def ensure_file(candidates: Sequence[str], package: str) -> str:
    """The first existing file among candidates, installing package first when none exists."""
    for attempt in range(2):
        for path in candidates:
            if os.path.exists(path):
                return path
        if attempt == 0:
            apt_install(package)
    raise Missing(f"none of {', '.join(candidates)} exists after apt-get install {package}")


def ensure_python_package(module: str, distribution: str) -> None:
    """Import module in the Python running the tests, pip-installing distribution if needed."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", distribution],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise Missing(f"pip install {distribution} failed: {p.stderr.strip()[-300:]}")


def debian_version(package: str) -> str:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "?"


def python_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


# --- recording the matrix ----------------------------------------------------------------

@dataclass
class Client:
    name: str       # as in the table: "OpenSC pkcs11-tool"
    package: str    # where the version comes from: a Debian package, or "pip:NAME"
    version_command: Optional[List[str]] = None  # else: its first line of output is the version

    def version(self) -> str:
        if self.version_command:
            try:
                p = subprocess.run(self.version_command, capture_output=True, text=True, timeout=60)
                lines = (p.stdout + p.stderr).strip().splitlines()
                if p.returncode == 0 and lines:
                    return lines[0].strip()
            except OSError:
                pass
            return "?"
        if self.package.startswith("pip:"):
            return python_version(self.package[4:])
        return debian_version(self.package)


@contextmanager
def matrix_row(client: Client, job: str) -> Iterator[None]:
    """Run a test body as one row of the matrix: pass, or FAIL with the first line of why."""
    try:
        yield
    except BaseException as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        _record(client, job, f"FAIL: {type(e).__name__}: {reason}"[:200])
        raise
    _record(client, job, "pass")


def _record(client: Client, job: str, result: str) -> None:
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    row = {"client": client.name, "version": client.version(), "job": job, "result": result}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


# --- twin tokens ---------------------------------------------------------------------------

def clone_token(token: Token, directory: str) -> Token:
    """A byte-identical copy of token (same serial, slot id, keys) in its own directory."""
    shutil.copytree(token.directory, directory)
    clone = Token(directory, token.module, token.label, token.user_pin, token.so_pin)
    with open(clone.conf, "w", encoding="utf-8") as f:
        f.write(f"directories.tokendir = {os.path.join(directory, 'tokens')}\n"
                "objectstore.backend = file\nlog.level = ERROR\n")
    return clone


@dataclass
class Twins:
    """The same token twice: the job runs direct on one and through the spy on the other."""
    direct: Token
    spied: Token
    spy: str          # the spy's shared object
    trace: str        # the spied run's trace file
    work: str         # a scratch directory for the test

    def env(self, which: str, **extra: str) -> Dict[str, str]:
        # No spy settings from the caller's environment: none in the direct run (PyKCS11's own
        # helpers, for one, switch to OpenSC's spy when PKCS11SPY is set), only ours in the
        # spied run (the defaults, bar the trace file).
        env = {k: v for k, v in self.token(which).env().items() if not k.startswith("PKCS11SPY")}
        if which == "spied":
            env.update(PKCS11SPY=self.spied.module, PKCS11SPY_OUTPUT=self.trace)
        env.update(extra)
        return env

    def module(self, which: str) -> str:
        return self.direct.module if which == "direct" else self.spy

    def token(self, which: str) -> Token:
        return self.direct if which == "direct" else self.spied


BOTH = ("direct", "spied")


@pytest.fixture(scope="session")
def template_token(tmp_path_factory) -> Token:
    """One prepared token per test session: an RSA key pair with a self-signed certificate
    (id 01, label rsa1; made in software so every tool can match key and certificate), an
    EC P-256 key pair (id 02, label ec1) and an AES-256 key (id 03, label aes1)."""
    base = tmp_path_factory.mktemp("matrix-template")
    token = create_token(str(base / "softhsm"), label=LABEL, user_pin=USER_PIN, so_pin="5678")
    tool = ensure_tool("pkcs11-tool", "opensc")
    openssl = ensure_tool("openssl", "openssl")
    env = token.env()

    def sh(cmd: List[str]) -> None:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"token set-up failed: {' '.join(cmd)}: {p.stderr}"

    key, cert = str(base / "rsa1.key.pem"), str(base / "rsa1.cert.pem")
    sh([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
        "-subj", "/CN=pkcs11spy matrix", "-days", "3650"])
    sh([openssl, "pkey", "-in", key, "-outform", "der", "-out", key + ".der"])
    sh([openssl, "pkey", "-in", key, "-pubout", "-outform", "der", "-out", key + ".pub.der"])
    sh([openssl, "x509", "-in", cert, "-outform", "der", "-out", cert + ".der"])
    login = ["--module", token.module, "--login", "--pin", USER_PIN]
    for path, kind in ((key + ".der", "privkey"), (key + ".pub.der", "pubkey"), (cert + ".der", "cert")):
        sh([tool] + login + ["--write-object", path, "--type", kind, "--id", "01", "--label", "rsa1"])
    sh([tool] + login + ["--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec1"])
    sh([tool] + login + ["--keygen", "--key-type", "AES:32", "--id", "03", "--label", "aes1"])
    return token


@pytest.fixture
def twins(template_token, spy, tmp_path) -> Twins:
    return Twins(clone_token(template_token, str(tmp_path / "direct")),
                 clone_token(template_token, str(tmp_path / "spied")),
                 spy, str(tmp_path / "trace.txt"), str(tmp_path))


# --- running and comparing ---------------------------------------------------------------

@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> "Result":
        """Exit status 0, and no word from the spy on stderr (it only speaks when something
        is wrong: tracing off, a bad setting, an internal error)."""
        assert self.returncode == 0, f"exit {self.returncode}: {self.stderr.strip()[-800:] or self.stdout[-800:]}"
        spy_lines = [ln for ln in self.stderr.splitlines() if ln.startswith("pkcs11spy")]
        assert not spy_lines, f"the spy complained on stderr: {spy_lines[:3]}"
        return self


def run(cmd: Sequence[str], env: Dict[str, str], timeout: int = 180, stdin: Optional[str] = None,
        cwd: Optional[str] = None) -> Result:
    p = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=timeout,
                       input=stdin, cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr)


def same_status(results: Dict[str, Result]) -> Dict[str, Result]:
    """The direct and the spied run ended the same way: exit status and stderr, exactly."""
    d, s = results["direct"], results["spied"]
    assert s.returncode == d.returncode, f"exit status {s.returncode} through the spy, {d.returncode} direct"
    assert s.stderr == d.stderr, f"stderr differs:\n direct: {d.stderr[-400:]!r}\n spied:  {s.stderr[-400:]!r}"
    return results


def unordered_blocks(text: str) -> List[str]:
    """Output split into blocks (a line at column 0 and its indented lines), sorted.

    SoftHSM2 returns found objects in the order of its in-memory set, which follows heap
    addresses; a process with the spy (and Python) loaded has a different heap, so the same
    objects can come back in another order.  PKCS#11 leaves the order unspecified, and the
    trace shows the spy hands back exactly what the module returned; so lists of objects are
    compared as sets of blocks."""
    blocks: List[str] = []
    for line in text.splitlines():
        if line[:1] not in (" ", "\t") or not blocks:
            blocks.append(line)
        else:
            blocks[-1] += "\n" + line
    return sorted(b for b in blocks if b.strip())


# --- the trace -----------------------------------------------------------------------------

def check_trace(path: str, expect: Sequence[str] = ()) -> List[Record]:
    """The spied run's trace is complete: every record has its Returned line, and the calls
    the job must make are there."""
    assert os.path.exists(path), f"no trace written at {path}"
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert "*************** pkcs11spy " in text, "the trace has no banner"
    # The spy's own complaints (a decoder that raised, tracing switched off) go to the trace
    # too: any of them means the trace is not the whole story.
    complaints = [ln for ln in text.splitlines() if ln.startswith("[error] ") or ln.startswith("pkcs11spy: ")]
    assert not complaints, f"the spy complained in the trace: {complaints[:3]}"
    records = parse(text)
    assert records, "the trace has no records"
    unfinished = [f"{r.seq}: {r.function} (pid {r.pid})" for r in records if r.rv is None]
    assert not unfinished, f"records without a Returned line: {unfinished[:5]}"
    names = {r.function for r in records}
    missing = [name for name in expect if name not in names]
    assert not missing, f"calls missing from the trace: {missing}"
    summary_hook(path)
    return records


def summary_hook(path: str) -> None:
    """The trace must also be readable by `pkcs11spy summary` (issue 7): no warning about
    its lines, and every call counted.  Exit 1 only says the trace holds non-OK return
    codes, which real sessions have; 2 is an unusable trace."""
    exe = shutil.which("pkcs11spy", path=os.path.dirname(sys.executable)) or shutil.which("pkcs11spy")
    assert exe is not None, "pkcs11spy is not installed next to this Python"
    p = subprocess.run([exe, "summary", "--json", path], capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), f"pkcs11spy summary could not read the trace: {p.stderr.strip()[-300:]}"
    summary = json.loads(p.stdout)
    assert summary["warnings"] == [], summary["warnings"][:3]
    with open(path, encoding="utf-8", errors="replace") as f:
        records = parse(f.read())
    assert summary["calls"] == len(records), (summary["calls"], len(records))


def strip_lines(text: str, pattern: str) -> str:
    """text without the lines matching pattern (for lines that legitimately differ)."""
    rx = re.compile(pattern)
    return "\n".join(ln for ln in text.splitlines() if not rx.search(ln))
