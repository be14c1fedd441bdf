"""Per-call overhead of the spies over direct SoftHSM2, in one run.

    .venv/bin/python bench/run.py [--quick] [--repeat N]

Builds bench/driver.c, creates a throwaway SoftHSM2 token, and runs each operation
directly, through OpenSC's pkcs11-spy (when installed, logging to a file), and through
ours: text, JSON, with the operation's functions filtered out, and errors-only.  Each
figure is the best of --repeat runs (the least disturbed by the machine).  Traces go to
files in a temporary directory, as a user would set PKCS11SPY_OUTPUT.  The
configurations of one operation run interleaved, round after round, so a busy machine
disturbs all of them alike; the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

from pkcs11spy.cli import shim_path  # the installed spy: run with the venv's python
from pkcs11spy.softhsm import create_token

HERE = os.path.dirname(os.path.abspath(__file__))

OPENSC_SPY_PATHS = ["/usr/lib/x86_64-linux-gnu/pkcs11-spy.so", "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
                    "/usr/lib/pkcs11/pkcs11-spy.so", "/usr/lib64/pkcs11-spy.so"]

# operation: (label, iterations, functions the loop calls)
OPERATIONS = {
    "session_info": ("C_GetSessionInfo", 20000, "C_GetSessionInfo"),
    "random32": ("C_GenerateRandom(32)", 20000, "C_GenerateRandom"),
    "digest": ("C_DigestInit+C_Digest", 10000, "C_Digest*"),
    "sign_rsa": ("RSA-2048 C_SignInit+C_Sign", 300, "C_Sign*"),
}


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def softhsm_version() -> str:
    try:
        return subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def build_driver(workdir: str) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench: needs a C compiler (apt-get install gcc libc6-dev)")
    out = os.path.join(workdir, "driver")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", out, os.path.join(HERE, "driver.c"), "-ldl"], check=True)
    return out


def one(driver: str, module: str, op: str, n: int, env: Dict[str, str], trace: Optional[str]) -> float:
    if trace and os.path.exists(trace):
        os.unlink(trace)
    r = subprocess.run([driver, module, op, str(n)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{module} {op}: {r.stderr.strip()[-400:]}")
    if trace and os.path.exists(trace):
        os.unlink(trace)  # keep the disk from filling; the write cost was paid
    return float(r.stdout.split()[2]) / 1000.0  # microseconds per iteration


def loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure, best taken (default 3)")
    args = p.parse_args(argv)

    work = tempfile.mkdtemp(prefix="pkcs11spy-bench-")
    driver = build_driver(work)
    token = create_token(os.path.join(work, "softhsm"), label="bench", user_pin="1234", so_pin="5678")
    base = token.env({})
    trace = os.path.join(work, "trace")
    ours = shim_path()
    opensc = next((p for p in OPENSC_SPY_PATHS if os.path.exists(p)), None)
    spy_env = dict(base, PKCS11SPY=token.module, PKCS11SPY_OUTPUT=trace)

    print(f"machine: {machine()}")
    print(f"module: {token.module} ({softhsm_version()}); OpenSC spy: {opensc or 'not installed'}")
    print(f"load average before: {loadavg()}")
    print(f"figures: microseconds per iteration, best of {args.repeat} interleaved rounds; "
          f"overhead = spied - direct\n")
    columns = ["direct", "OpenSC spy", "ours text", "ours json", "ours filtered out", "ours errors-only"]
    head = f"{'operation':<28}" + "".join(f"{c:>19}" for c in columns) + f"{'text/OpenSC':>13}{'json/OpenSC':>13}"
    print(head)
    print("-" * len(head))
    for op, (label, n, pattern) in OPERATIONS.items():
        n = max(n // 10, 20) if args.quick else n
        configs = {"direct": (token.module, base, None)}
        if opensc:
            configs["OpenSC spy"] = (opensc, spy_env, trace)
        configs["ours text"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="text"), trace)
        configs["ours json"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="json"), trace)
        configs["ours filtered out"] = (ours, dict(spy_env, PKCS11SPY_FUNCTIONS="-" + pattern), trace)
        configs["ours errors-only"] = (ours, dict(spy_env, PKCS11SPY_ERRORS_ONLY="1"), trace)
        figures: Dict[str, float] = {}
        for _ in range(args.repeat):
            for name, (module, env, out) in configs.items():
                t = one(driver, module, op, n, env, out)
                figures[name] = min(figures.get(name, t), t)
        direct = figures["direct"]
        cells = [f"{direct:>19.2f}"]
        for c in columns[1:]:
            if c in figures:
                cells.append(f"{figures[c]:>10.2f} (+{figures[c] - direct:>5.2f})")
            else:
                cells.append(f"{'-':>19}")
        ratios = []
        for c in ("ours text", "ours json"):
            if opensc and figures["OpenSC spy"] - direct > 0:
                ratios.append(f"{(figures[c] - direct) / (figures['OpenSC spy'] - direct):>12.2f}x")
            else:
                ratios.append(f"{'-':>13}")
        print(f"{label + ' x' + str(n):<28}" + "".join(cells) + "".join(ratios), flush=True)
    print(f"\nload average after: {loadavg()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
