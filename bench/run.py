"""Per-call overhead of the spies over direct SoftHSM2, in one run.

    .venv/bin/python bench/run.py [--quick] [--repeat N]

Builds bench/driver.c, creates a throwaway SoftHSM2 token, and runs each operation
directly, through OpenSC's pkcs11-spy (when installed, logging to a file), and through
ours: text, JSON, with the operation's functions filtered out, and errors-only.  Each
figure is the best of --repeat runs (the least disturbed by the machine).  Traces go to
files in a temporary directory, as a user would set PKCS11SPY_OUTPUT.  The
configurations of one operation run interleaved, round after round, so a busy machine
disturbs all of them alike; the load average is printed before and after.  Last, the
start-up cost: a whole process that makes one call, with and without each spy.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

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
    "sign_rsa": ("RSA-2048 C_SignInit+C_Sign", 1000, "C_Sign*"),
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


def one(driver: str, module: str, op: str, n: int, env: Dict[str, str], trace: Optional[str]) -> Tuple[float, float]:
    if trace and os.path.exists(trace):
        os.unlink(trace)
    r = subprocess.run([driver, module, op, str(n)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{module} {op}: {r.stderr.strip()[-400:]}")
    if trace and os.path.exists(trace):
        os.unlink(trace)  # keep the disk from filling; the write cost was paid
    fields = r.stdout.split()
    return float(fields[2]) / 1000.0, float(fields[4]) / 1000.0  # wall, CPU: us per iteration


def start_up(driver: str, module: str, env: Dict[str, str]) -> Tuple[float, float]:
    """Milliseconds of a whole driver process making one call (exec, dlopen, C_Initialize,
    login, the call, C_Finalize): wall clock, and the child's CPU time.  What loading a
    spy adds here, every process pays once."""
    start = time.perf_counter()
    child = subprocess.Popen([driver, module, "session_info", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{module}: start-up run exited with {child.returncode}")
    return wall * 1000.0, (usage.ru_utime + usage.ru_stime) * 1000.0


def start_up_table(rows: Dict[str, Tuple[float, float]], repeat: int, markdown: bool) -> str:
    title = f"Start-up: a process making one call (ms, best of {repeat}; + = over direct)"
    head = ["", *rows]
    direct = rows["direct"]
    body = []
    for i, label in enumerate(("wall clock", "CPU")):
        body.append([label] + [f"{v[i]:.1f}" if name == "direct" else f"{v[i]:.1f} ({v[i] - direct[i]:+.1f})"
                               for name, v in rows.items()])
    return format_table(title, head, body, markdown)


def loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def format_table(title: str, head: List[str], body: List[List[str]], markdown: bool) -> str:
    """Markdown (for the README), or aligned columns for a terminal."""
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([title, fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in body]) + "\n"


COLUMNS = ["direct", "OpenSC spy", "ours text", "ours json", "ours filtered out", "ours errors-only"]


def table(title: str, rows: List[Tuple[str, Dict[str, float]]], markdown: bool) -> str:
    """One row per operation: direct time, then each spy's time and overhead (+), then
    our overhead divided by OpenSC's."""
    head = ["operation"] + COLUMNS + ["text / OpenSC", "json / OpenSC"]
    body = []
    for label, f in rows:
        direct = f["direct"]
        cells = [label, f"{direct:.2f}"]
        for c in COLUMNS[1:]:
            cells.append(f"{f[c]:.2f} ({f[c] - direct:+.2f})" if c in f else "-")
        base = f["OpenSC spy"] - direct if "OpenSC spy" in f else 0.0
        for c in ("ours text", "ours json"):
            cells.append(f"{(f[c] - direct) / base:.1f}x" if base > 0 else "-")
        body.append(cells)
    return format_table(title, head, body, markdown)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds, best taken (default 3)")
    p.add_argument("--markdown", action="store_true", help="tables in Markdown (for the README)")
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
    print(f"load average before: {loadavg()}", flush=True)
    cpu_rows, wall_rows = [], []
    for op, (label, n, pattern) in OPERATIONS.items():
        n = max(n // 10, 20) if args.quick else n
        configs = {"direct": (token.module, base, None)}
        if opensc:
            configs["OpenSC spy"] = (opensc, spy_env, trace)
        configs["ours text"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="text"), trace)
        configs["ours json"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="json"), trace)
        configs["ours filtered out"] = (ours, dict(spy_env, PKCS11SPY_FUNCTIONS="-" + pattern), trace)
        configs["ours errors-only"] = (ours, dict(spy_env, PKCS11SPY_ERRORS_ONLY="1"), trace)
        wall: Dict[str, float] = {}
        cpu: Dict[str, float] = {}
        for _ in range(args.repeat):
            for name, (module, env, out) in configs.items():
                w, c = one(driver, module, op, n, env, out)
                wall[name] = min(wall.get(name, w), w)
                cpu[name] = min(cpu.get(name, c), c)
        wall_rows.append((f"{label} x{n}", wall))
        cpu_rows.append((f"{label} x{n}", cpu))
    starts: Dict[str, Tuple[float, float]] = {}
    start_configs = {"direct": (token.module, base)}
    if opensc:
        start_configs["OpenSC spy"] = (opensc, spy_env)
    start_configs["ours text"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="text"))
    start_configs["ours json"] = (ours, dict(spy_env, PKCS11SPY_FORMAT="json"))
    for _ in range(args.repeat * 3):  # short runs: more rounds
        for name, (module, env) in start_configs.items():
            w, c = start_up(driver, module, env)
            best = starts.get(name, (w, c))
            starts[name] = (min(best[0], w), min(best[1], c))
    print(f"load average after: {loadavg()}\n")
    print(table(f"CPU time per iteration (us, process user+system, best of {args.repeat} interleaved rounds; "
                f"+ = overhead over direct)", cpu_rows, args.markdown))
    print(table(f"Wall-clock time per iteration (us, best of {args.repeat})", wall_rows, args.markdown))
    print(start_up_table(starts, args.repeat * 3, args.markdown))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
