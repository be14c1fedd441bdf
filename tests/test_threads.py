"""Threads: 16 threads x 2,000 calls through the spy against SoftHSM2.  Every call is in
the trace exactly once, every record parses, no line belongs to two records, numbers
are unique and increase in the file, and a record split by other threads' records
carries <resumed> with its number and name."""
from __future__ import annotations

import collections
import re

from conftest import read, run, spy_env
from trace_parse import HEADER, parse

THREADS, CALLS = 16, 2000


def test_sixteen_threads(c_host, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    r = run([c_host, "threads", spy, str(THREADS), str(CALLS)], spy_env(token, trace), timeout=600)
    assert r.returncode == 0, r.stderr
    done = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("thread ")]
    assert len(done) == THREADS
    assert all(int(calls) == CALLS and int(failed) == 0 for _t, _tid, calls, failed in done), done
    text = read(trace)
    records = parse(text)  # raises on a line that does not fit its record

    # Every call exactly once: per thread, its 2,000 calls; plus C_Initialize, the slot
    # list and C_Finalize of the main thread.
    per_thread = collections.Counter(rec.tid for rec in records)
    for _t, tid, _calls, _failed in done:
        assert per_thread[tid] == CALLS, (tid, per_thread[tid])
    assert len(records) == THREADS * CALLS + 3
    assert all(rec.rv == 0 for rec in records)

    # Numbers: unique, and headers (not resumed) appear in increasing order.
    seqs = [int(m.group(1)) for m in map(HEADER.match, text.split("\n")) if m and not m.group(3)]
    assert seqs == list(range(len(records)))

    # Each record's lines are its own: a call's [in] lines come right after its header,
    # its [out] lines and Returned after its own header or its <resumed> header.
    expected = {"C_GetSessionInfo": (1, 1), "C_GenerateRandom": (1, 1), "C_GetInfo": (0, 1),
                "C_OpenSession": (4, 1), "C_CloseSession": (1, 0)}
    for rec in records:
        if rec.function in expected:
            n_in, n_out = expected[rec.function]
            assert (len(rec.ins), len(rec.outs)) == (n_in, n_out), rec.text()
    # Interleaving did happen (16 threads contend) and was marked, never fused.
    resumed = sum(rec.resumed_parts for rec in records)
    assert resumed > 0
    assert len(re.findall(r"^Returned:", text, re.M)) == len(records)
