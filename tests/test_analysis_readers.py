"""The trace readers on hand-written input: resumed parts, processes sharing one file,
OpenSC's quirks (padding, (null) and 0x names, hexdumps, lines mangled by threads),
JSON lines with unknown value types, truncated and unusable input."""
from __future__ import annotations

import json

from pkcs11spy.analysis.reader import read_traces
from pkcs11spy.cli import main

OURS_TWO_PROCESSES = """\
*************** pkcs11spy 0.1.0 *****************
Loaded: "/usr/lib/softhsm/libsofthsm2.so"

0: C_Initialize
P:100; T:0x7f01 2026-12-03 10:00:00.000
[in] pInitArgs = NULL
Returned:  0 CKR_OK (1.000 ms)
*************** pkcs11spy 0.1.0 *****************
Loaded: "/usr/lib/softhsm/libsofthsm2.so"

0: C_Initialize
P:200; T:0x7f09 2026-12-03 10:00:00.001
[in] pInitArgs = NULL
Returned:  0 CKR_OK (2.000 ms)

1: C_WaitForSlotEvent
P:100; T:0x7f01 2026-12-03 10:00:00.002
[in] flags = 0x0

1: C_GetInfo
P:200; T:0x7f09 2026-12-03 10:00:00.003
Returned:  0 CKR_OK (0.500 ms)

1: C_WaitForSlotEvent <resumed>
P:100; T:0x7f01 2026-12-03 10:00:00.009
[out] *pSlot = 0x1
Returned:  0 CKR_OK (7.000 ms)
"""


def events(tmp_path, text, name="t.txt"):
    path = tmp_path / name
    path.write_text(text)
    warnings = []
    evs = list(read_traces([str(path)], warnings.append))
    return evs, [str(w) for w in warnings]


def test_resumed_parts_and_two_processes_in_one_file(tmp_path):
    evs, warnings = events(tmp_path, OURS_TWO_PROCESSES)
    exits = [(e.call.process, e.call.seq, e.call.function, e.call.rv) for e in evs if e.kind == "exit"]
    assert exits == [("100", 0, "C_Initialize", 0), ("200", 0, "C_Initialize", 0), ("200", 1, "C_GetInfo", 0),
                     ("100", 1, "C_WaitForSlotEvent", 0)]
    wait = [e.call for e in evs if e.kind == "exit"][-1]
    assert wait.number("pSlot", "out") == 1 and wait.duration_ms == 7.0
    assert not [e for e in evs if e.kind == "hang"] and warnings == []


def test_summary_of_two_processes(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(OURS_TWO_PROCESSES)
    assert main(["summary", "--json", str(tmp_path / "t.txt")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {p["process"]: p["calls"] for p in doc["processes"]} == {"100": 2, "200": 2}
    init = [f for f in doc["functions"] if f["function"] == "C_Initialize"][0]
    assert init["calls"] == 2 and init["total_ms"] == 3.0 and init["max_ms"] == 2.0


OPENSC_NEW_MANGLED = """\


*************** OpenSC PKCS#11 spy *****************
Loaded: "/usr/lib/softhsm/libsofthsm2.so"

0: C_Initialize
P:300; T:0x139872 2026-12-03 10:00:00.000
[in] pInitArgs = (nil)
Returned:  0 CKR_OK

1: C_OpenSession
P:300; T:0x139872 2026-12-03 10:00:00.001
[in] slotID = 0x1
[in] flags = 0x6
[out] *phSession = 0x1
Returned:  0 CKR_OK

2: C_Login
P:300; T:0x139872 2026-12-03 10:00:00.002
[in] hSession = 0x1
[in] userType = CKU_USER                     
[in] pPin[ulPinLen] 00007ffc1391da6a / 4
    00000000  39 39 39 39                                      9999            

3: C_GetInfo
P:300; T:0x139999 2026-12-03 10:00:00.003
Returned:  0 CKR_OK
Returned:  160 CKR_PIN_INCORRECT

4: C_Logout
P:300; T:0x139872 2026-12-03 10:00:00.004
[in] hSession = 0x1Returned:  257 (null)

5: C_CloseSession
P:300; T:0x139872 2026-12-03 10:00:00.005
[in] hSession = 0x1
Returned:  2147483913 0x80000109
"""


def test_opensc_new_form_with_mangled_lines(tmp_path):
    evs, warnings = events(tmp_path, OPENSC_NEW_MANGLED)
    exits = {e.call.seq: e.call for e in evs if e.kind == "exit"}
    assert exits[2].function == "C_Login" and exits[2].rv == 0xA0
    assert exits[2].text("userType") == "CKU_USER"  # trailing padding gone
    assert exits[2].arg("pPin").data == b"9999"
    assert exits[3].rv == 0
    assert exits[4].rv == 257 and exits[4].rv_name == "CKR_USER_NOT_LOGGED_IN"  # (null) named from the table
    assert exits[4].session == 1
    assert exits[5].rv_name == "CKR_VENDOR_DEFINED+0x109"
    assert all(c.tid for c in exits.values()) and exits[3].tid == "0x139999"
    assert any(":32:" in w and "fused" in w for w in warnings)
    assert any("attributed to #2 C_Login" in w for w in warnings)


def test_truncated_trace_warns_with_line(tmp_path, capsys):
    text = OURS_TWO_PROCESSES.split("1: C_WaitForSlotEvent <resumed>")[0] + "1: C_WaitFor"
    (tmp_path / "cut.txt").write_text(text)
    assert main(["analyze", str(tmp_path / "cut.txt")]) == 1
    captured = capsys.readouterr()
    last_line = text.count("\n") + 1
    assert f"cut.txt:{last_line}: the file ends in the middle of a line" in captured.err
    assert "[never-returned] #1 C_WaitForSlotEvent" in captured.out


def test_unusable_input_exits_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello\nthis is not a trace\n")
    assert main(["summary", str(tmp_path / "notes.txt")]) == 2
    assert "no PKCS#11 call found" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.txt")]) == 2
    assert "cannot open" in capsys.readouterr().err


def jl(**obj):
    return json.dumps(obj) + "\n"


JSON_TRACE = (
    jl(v=1, event="start", pid=500, module="/usr/lib/softhsm/libsofthsm2.so", version="0.1.0")
    + jl(v=1, event="enter", id=0, pid=500, tid=11, function="C_Initialize", time="2026-12-03T10:00:00.000000Z",
         **{"in": [{"name": "pInitArgs", "value": {"type": "null"}}]})
    + jl(v=1, event="exit", id=0, pid=500, tid=11, function="C_Initialize", time="2026-12-03T10:00:00.001000Z",
         rv=0, rv_name="CKR_OK", duration_us=1000.0, out=[], **{"in": []})
    + jl(v=1, event="enter", id=1, pid=500, tid=11, function="C_OpenSession", time="2026-12-03T10:00:00.002000Z",
         **{"in": [{"name": "slotID", "value": {"type": "ulong", "value": 1}},
                   {"name": "flags", "value": {"type": "a-type-from-the-future", "bits": [1, 2]}}]})
    + jl(v=1, event="exit", id=1, pid=500, tid=11, function="C_OpenSession", time="2026-12-03T10:00:00.003000Z",
         rv=0, rv_name="CKR_OK", duration_us=12.5, out=[{"name": "*phSession", "value": {"type": "ulong", "value": 1}}],
         **{"in": []})
    + jl(v=1, event="enter", id=2, pid=500, tid=11, function="C_Login", time="2026-12-03T10:00:00.004000Z",
         **{"in": [{"name": "hSession", "value": {"type": "ulong", "value": 1}},
                   {"name": "userType", "value": {"type": "const", "family": "CKU", "value": 1, "name": "CKU_USER"}},
                   {"name": "pPin[ulPinLen]", "value": {"type": "redacted", "what": "PIN", "length": 4,
                                                        "facts": ["printable text"]}}]})
    + jl(v=1, event="exit", id=2, pid=500, tid=11, function="C_Login", time="2026-12-03T10:00:00.005000Z",
         rv=160, rv_name="CKR_PIN_INCORRECT", duration_us=2000.0, out=[], **{"in": []})
    + jl(v=1, event="enter", id=3, pid=500, tid=11, function="C_SignInit", time="2026-12-03T10:00:00.006000Z",
         **{"in": [{"name": "hSession", "value": {"type": "ulong", "value": 1}},
                   {"name": "pMechanism", "value": {"type": "mechanism", "parameter_length": 40,
                    "mechanism": {"type": "const", "family": "CKM", "value": 13, "name": "CKM_RSA_PKCS_PSS"},
                    "parameter": {"type": "struct", "struct": "CK_RSA_PKCS_PSS_PARAMS", "fields": {
                        "hashAlg": {"type": "const", "family": "CKM", "value": 0x250, "name": "CKM_SHA256"}}}}},
                   {"name": "hKey", "value": {"type": "ulong", "value": 3}}]})
    + jl(v=1, event="exit", id=3, pid=500, tid=11, function="C_SignInit", time="2026-12-03T10:00:00.006000Z",
         rv=0x71, rv_name="CKR_MECHANISM_PARAM_INVALID", duration_us=5.0, out=[])
    + jl(v=1, event="stats", pid=500, time="2026-12-03T10:00:00.007000Z", at="exit", calls=4, total_us=1.0,
         sessions_max=1, unrecorded_errors=0, functions=[])
    + '{"v": 1, "event": "enter", "id": 4, "pid": 500, "tid": 11, "function": "C_Fina'
)


def test_json_lines(tmp_path, capsys):
    (tmp_path / "t.jsonl").write_text(JSON_TRACE)
    assert main(["analyze", "--json", str(tmp_path / "t.jsonl")]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    rules = {f["rule"]: f for f in doc["findings"]}
    assert rules["wrong-pin"]["calls"][0]["call"] == 2 and "4 bytes" in rules["wrong-pin"]["what"]
    assert rules["session-leak"]["calls"][0]["function"] == "C_OpenSession"
    mech = rules["mechanism-vs-key"]
    assert "CKM_RSA_PKCS_PSS" in mech["what"] and "  pMechanism->pParameter->hashAlg = CKM_SHA256" in mech["details"]
    assert "t.jsonl:11: line is truncated" in captured.err and "stats" not in captured.err
    assert main(["summary", "--json", str(tmp_path / "t.jsonl")]) == 1
    s = json.loads(capsys.readouterr().out)
    assert s["modules"][0]["module"] == "/usr/lib/softhsm/libsofthsm2.so"
    assert s["failures"][0]["rv_name"] == "CKR_PIN_INCORRECT" and s["processes"][0]["threads"] == ["0xb"]


def test_reader_is_independent_of_the_renderer():
    import ast
    import pathlib
    import pkcs11spy.analysis as pkg
    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "render" not in (node.module or "") and "_runtime" not in (node.module or ""), path


OPENSC_DUPLICATE_NUMBERS = """\
*************** OpenSC PKCS#11 spy *****************
Loaded: "/usr/lib/softhsm/libsofthsm2.so"

7: C_GenerateRandom
2026-12-03 10:00:00.000
[in] hSession = 0x1

7: C_GenerateRandom
2026-12-03 10:00:00.000
[in] hSession = 0x2
[out] RandomData[ulRandomLen] 00007f4383ffeea0 / 16
Returned:  0 CKR_OK
[out] RandomData[ulRandomLen] 00007f4383ffeea0 / 16
Returned:  0 CKR_OK
"""


def test_opensc_number_given_twice_by_racing_threads(tmp_path):
    evs, warnings = events(tmp_path, OPENSC_DUPLICATE_NUMBERS)
    assert [e.kind for e in evs if e.kind in ("exit", "hang")] == ["exit", "exit"]
    assert any(":8: call number 7 given twice" in w for w in warnings)


def test_gzip_and_standard_input(tmp_path, capsys, monkeypatch):
    import gzip
    import io
    import sys
    with gzip.open(tmp_path / "t.txt.gz", "wt") as f:
        f.write(OURS_TWO_PROCESSES)
    assert main(["summary", "--json", str(tmp_path / "t.txt.gz")]) == 0
    assert json.loads(capsys.readouterr().out)["calls"] == 4
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(OURS_TWO_PROCESSES.encode())))
    assert main(["summary", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["calls"] == 4


OURS_WITH_RECORD_LIKE_BYTES = """\
*************** pkcs11spy 0.1.0 *****************
Loaded: "/usr/lib/softhsm/libsofthsm2.so"

5: C_CreateObject
P:100; T:0x7f01 2026-12-03 10:00:00.000
[in] hSession = 0x1
[in] pTemplate[2]:
    CKA_SUBJECT           CN=7: C_Login
    CKA_VALUE             00007ffd5ee710b0 / 32
        00000000  78 78 78 78 78 52 65 74 75 72 6E 65 64 3A 20 20  xxxxxReturned:  
        00000010  30 20 4F 4B 20 50 3A 31 3B 20 54 3A 78 78 78 78  0 OK P:1; T:xxxx
Returned:  208 CKR_TEMPLATE_INCOMPLETE (0.020 ms)
"""


def test_application_bytes_in_our_trace_are_never_read_as_records(tmp_path):
    """Found by review: the fused-lines repair (for OpenSC's logs, whose threads write
    without a lock) split a hex row or a name of ours into a fake Returned line or call.
    Our own records are whole, so our traces are read as written."""
    evs, warnings = events(tmp_path, OURS_WITH_RECORD_LIKE_BYTES)
    calls = [(e.call.seq, e.call.function, e.call.rv) for e in evs if e.kind == "exit"]
    assert calls == [(5, "C_CreateObject", 0xD0)]
    assert not [e for e in evs if e.kind == "hang"] and warnings == []


def test_opensc_log_cut_before_its_banner_is_still_repaired(tmp_path):
    """Found by review: without its banner an OpenSC log of the new form (P:/T: lines) was
    taken for ours, and its fused lines were no longer split."""
    cut = "\n".join(ln for ln in OPENSC_NEW_MANGLED.split("\n")
                    if not ln.startswith(("*****", "Loaded:")))
    whole, _ = events(tmp_path, OPENSC_NEW_MANGLED, "whole.txt")
    evs, warnings = events(tmp_path, cut, "cut.txt")
    returned = sorted((e.call.seq, e.call.rv) for e in evs if e.kind == "exit")
    assert (4, 257) in returned  # C_Logout's Returned, fused onto another line
    assert any("fused" in w for w in warnings)
    assert (4, 257) in [(e.call.seq, e.call.rv) for e in whole if e.kind == "exit"]


def test_our_statistics_table_is_not_read_as_calls(tmp_path):
    """Our text trace with PKCS11SPY_STATS: the table between records is neither calls nor
    stray lines (each of its lines was a warning)."""
    stats = """
*************** pkcs11spy statistics (C_Finalize, P:100) ***************
function                      calls  errors    total ms    mean us     max us  share
C_Initialize                      1       0       1.000     1000.0     1000.0 100.0%
total                             1       0       1.000
most sessions open at once: 0
"""
    text = OURS_TWO_PROCESSES.replace("Returned:  0 CKR_OK (1.000 ms)\n", "Returned:  0 CKR_OK (1.000 ms)\n" + stats, 1)
    assert "statistics" in text
    evs, warnings = events(tmp_path, text)
    plain, _ = events(tmp_path, OURS_TWO_PROCESSES, "plain.txt")
    key = lambda evs: [(e.kind, e.call and e.call.seq) for e in evs]  # noqa: E731
    assert key(evs) == key(plain) and warnings == []
