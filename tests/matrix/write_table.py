"""Turn the rows recorded by a matrix run (JSON lines, see matrix_support.RESULTS_ENV) into
the table of docs/transparency.md.  Usage: write_table.py RESULTS.jsonl DOC.md

The document keeps its text; only the part between the two markers below is replaced."""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from typing import Dict, List

BEGIN = "<!-- matrix:begin (written by tests/matrix/write_table.py from a real run) -->"
END = "<!-- matrix:end -->"


def debian_version(package: str) -> str:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return p.stdout.strip() or "?"


def os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"') or platform.system()
    except OSError:
        return platform.system()


def table(rows: List[Dict[str, str]]) -> str:
    passed = sum(1 for r in rows if r["result"] == "pass")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [BEGIN, "",
           f"Run of {when} on {os_name()} ({platform.machine()}), SoftHSM2 {debian_version('softhsm2')}, "
           f"Python {platform.python_version()}: **{passed} of {len(rows)} jobs pass**.", "",
           "| client | version | job | result |", "| --- | --- | --- | --- |"]
    for r in rows:
        cells = [r["client"], r["version"], r["job"], r["result"]]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", END]
    return "\n".join(out)


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[1], file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        print(f"write_table.py: {argv[1]} holds no rows: did the matrix run?", file=sys.stderr)
        return 1
    with open(argv[2], encoding="utf-8") as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        print(f"write_table.py: {argv[2]} lacks the markers {BEGIN!r} / {END!r}", file=sys.stderr)
        return 1
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(head + table(rows) + tail)
    print(f"{argv[2]}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
