"""Large traces stream: the readers and rules keep only unfinished calls and open
sessions, so peak memory does not grow with the trace's length."""
from __future__ import annotations

import tracemalloc

from analysis_traces import login, open_session, render, simple
from pkcs11spy.analysis.reader import read_traces
from pkcs11spy.analysis.rules import Analyzer
from pkcs11spy.analysis.summary import Summary

BLOCK = [open_session(1), login("CKU_USER", 0),
         simple("C_SignInit", 0, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_SHA256_RSA_PKCS", "[in] hKey = 0x3"),
         simple("C_Sign", 0, "[in] hSession = 0x1", "[in] pData[ulDataLen] 00007ffe96119cc0 / 3",
                "    00000000  68 69 0A                                         hi.             "),
         simple("C_Logout", 0, "[in] hSession = 0x1"), simple("C_CloseSession", 0, "[in] hSession = 0x1")]


def write_trace(path, repeats: int) -> None:
    with open(path, "w") as f:
        f.write(render([simple("C_Initialize", 0, "[in] pInitArgs = NULL")], "ours", pid=7))
        seq = 1
        chunk = render(BLOCK * 50, "ours", pid=7, banner=False).split("\n")
        for _ in range(repeats):
            out = []
            for ln in chunk:
                if ln[:1].isdigit() and ": C_" in ln:
                    ln = f"{seq}: {ln.split(': ', 1)[1]}"
                    seq += 1
                out.append(ln)
            f.write("\n".join(out))


def peak_while_reading(path) -> int:
    analyzer, summary = Analyzer(), Summary()
    tracemalloc.start()
    try:
        for event in read_traces([str(path)], lambda w: None):
            analyzer.feed(event)
            summary.feed(event)
        analyzer.finish()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_trace_length(tmp_path):
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    write_trace(small, 2)
    write_trace(large, 16)
    assert large.stat().st_size > 7 * small.stat().st_size
    p_small, p_large = peak_while_reading(small), peak_while_reading(large)
    assert p_large < 1.5 * p_small + 64 * 1024, (p_small, p_large)
