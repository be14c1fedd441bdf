"""A real PC/SC stack with no hardware: pcscd with vsmartcard's virtual reader (vpcd)
and its card emulator (vicc) behind it, started and stopped by the tests.

Debian packages: pcscd, vsmartcard-vpcd, vsmartcard-vpicc, python3-virtualsmartcard,
python3-pycryptodome. Two facts about them: the emulator's Python package sits one
folder too deep (its parent goes on PYTHONPATH), and it imports `Crypto`, which Debian
ships as `Cryptodome` (a symlink named Crypto on PYTHONPATH fixes that). Our reader.conf
uses its own vpcd port so a system vpcd entry cannot answer instead of ours.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
VICC_PACKAGE_PARENT = "/usr/lib/python3/site-packages/virtualsmartcard"
CRYPTODOME = "/usr/lib/python3/dist-packages/Cryptodome"
SYSTEM_PYTHON = "/usr/bin/python3"
PORT = 0x9C7B  # vpcd's default is 0x8C7B; ours differs on purpose
PIN = "1234"   # vicc's iso7816 card
OTHER_PCSCD_WAIT = 180  # seconds


class StackError(RuntimeError):
    pass


def _need(path: str, package: str) -> str:
    if not os.path.exists(path):
        raise StackError(f"{path} is missing: apt-get install {package}")
    return path


def _which(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} is not installed: apt-get install {package}")
    return path


@dataclass
class VirtualCard:
    directory: str
    pcscd: Optional[subprocess.Popen] = None
    vicc: Optional[subprocess.Popen] = None
    logs: Dict[str, str] = field(default_factory=dict)

    def start(self) -> "VirtualCard":
        """Start pcscd and the card; on failure, stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        pcscd = _which("pcscd", "pcscd")
        _need(VPCD_DRIVER, "vsmartcard-vpcd")
        vicc = _which("vicc", "vsmartcard-vpicc")
        _need(os.path.join(VICC_PACKAGE_PARENT, "virtualsmartcard"), "python3-virtualsmartcard")
        _need(CRYPTODOME, "python3-pycryptodome")
        _which("opensc-tool", "opensc")
        # pcscd's socket path is fixed: one at a time.  Another test run on this machine
        # may hold it for a minute; wait for it before giving up.
        deadline = time.monotonic() + OTHER_PCSCD_WAIT
        while subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                raise StackError(f"another pcscd is running and owns the PC/SC socket (waited "
                                 f"{OTHER_PCSCD_WAIT} s); stop it (the tests start their own with "
                                 f"the virtual reader)")
            time.sleep(1)
        conf = os.path.join(self.directory, "reader.conf.d")
        shims = os.path.join(self.directory, "pyshims")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(shims, exist_ok=True)
        with open(os.path.join(conf, "vpcd"), "w") as f:
            f.write(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{PORT:04X}\n'
                    f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{PORT:04X}\n")
        link = os.path.join(shims, "Crypto")
        if not os.path.islink(link):
            os.symlink(CRYPTODOME, link)
        self.pcscd = self._spawn("pcscd", [pcscd, "-f", "-c", conf], os.environ.copy())
        env = dict(os.environ, PYTHONPATH=f"{VICC_PACKAGE_PARENT}:{shims}")
        self.vicc = self._spawn("vicc", [SYSTEM_PYTHON, vicc, "-t", "iso7816", "-P", str(PORT)], env)
        self._wait_for_card()

    def _spawn(self, name: str, cmd: List[str], env: Dict[str, str]) -> subprocess.Popen:
        path = os.path.join(self.directory, f"{name}.out")
        self.logs[name] = path
        out = open(path, "w")
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def _tail(self, name: str) -> str:
        try:
            with open(self.logs[name], errors="replace") as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def _wait_for_card(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        listing = ""
        while time.monotonic() < deadline:
            for name, proc in (("pcscd", self.pcscd), ("vicc", self.vicc)):
                if proc is not None and proc.poll() is not None:
                    raise StackError(f"{name} exited with {proc.returncode}: {self._tail(name)}")
            listing = subprocess.run(["opensc-tool", "-l"], capture_output=True, text=True,
                                     timeout=30).stdout
            if any(line.split()[1:2] == ["Yes"] for line in listing.splitlines()
                   if "Virtual PCD" in line):
                return
            time.sleep(0.5)
        raise StackError(f"no card in the virtual reader after {timeout:.0f} s; opensc-tool -l said:\n"
                         f"{listing}\npcscd: {self._tail('pcscd')}\nvicc: {self._tail('vicc')}")

    def stop(self) -> None:
        for proc in (self.vicc, self.pcscd):
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def opensc_debug_run(args: List[str], log_path: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run an OpenSC tool with OPENSC_DEBUG=9; its debug log (stderr) goes to log_path."""
    env = dict(os.environ, OPENSC_DEBUG="9")
    with open(log_path, "w") as err:
        return subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=timeout)
