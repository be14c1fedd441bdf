#!/usr/bin/env python3
"""Resident memory growth of a long traced run: N calls (default 1,000,000) through the
spy against a throwaway SoftHSM2 token, trace to /dev/null.

A C host (tests/c/host.c, mode "loop") cycles C_GetSessionInfo, C_GenerateRandom (a
redacted output) and C_GetInfo (a decoded structure) and reads its own RSS from
/proc/self/statm after a warm-up and at the end.  The same loop without the spy is run
first, so the spy's share can be told from SoftHSM2's.

    .venv/bin/python scripts/memory_growth.py [N]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from pkcs11spy.cli import shim_path  # noqa: E402
from pkcs11spy.softhsm import create_token  # noqa: E402
import cbuild  # noqa: E402


def loop(host: str, module: str, n: int, env: dict) -> dict:
    start = time.monotonic()
    out = subprocess.run([host, "loop", module, str(n)], env=env, capture_output=True, text=True, check=True)
    facts = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return {"start": int(facts["rss_kb_start"]), "end": int(facts["rss_kb_end"]),
            "calls": facts["calls"], "seconds": time.monotonic() - start}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="pkcs11spy-mem-") as tmp:
        host = cbuild.compile_host("c/host.c", tmp)
        token = create_token(os.path.join(tmp, "token"), label="mem")
        env = token.env({"PKCS11SPY": token.module, "PKCS11SPY_OUTPUT": "/dev/null"})
        direct = loop(host, token.module, n, env)
        spied = loop(host, shim_path(), n, env)
    for name, r in (("direct", direct), ("spy", spied)):
        print(f"{name:6}: {r['calls']}; RSS {r['start']} kB after warm-up -> {r['end']} kB at the end: "
              f"growth {r['end'] - r['start']} kB ({r['seconds']:.0f} s)")
    growth = spied["end"] - spied["start"]
    print(f"spy RSS growth over {n} calls: {growth / 1024:.2f} MB (target < 5 MB)")
    return 0 if growth < 5 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
