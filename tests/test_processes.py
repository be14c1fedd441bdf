"""Processes and a changing world: fork (also while another thread is inside a traced
call), one file per process with %p, C_Finalize then C_Initialize, the host unloading and
reloading the spy, and the output becoming unwritable mid-run."""
from __future__ import annotations

import os
import sys

import pytest

from conftest import HERE, read, run, spy_env
from trace_parse import parse


def children(stdout: str) -> list:
    return [int(ln.split()[1]) for ln in stdout.splitlines() if ln.startswith("child ")]


@pytest.mark.parametrize("busy", ["softhsm", "blocked"])
def test_fork_while_another_thread_is_in_a_call(c_host, crashmod, spy, token, tmp_path, busy):
    """busy=softhsm: a thread loops on C_GetInfo (mostly inside the spy's Python);
    busy=blocked: a thread sits inside a C_GetSlotInfo the module makes last 300 ms."""
    trace = tmp_path / "trace.txt"
    if busy == "softhsm":
        env, function = spy_env(token, trace), "C_GetInfo"
    else:
        env = {"PKCS11SPY": crashmod, "PKCS11SPY_OUTPUT": str(trace),
               "CRASHMOD_IN": "C_GetSlotInfo", "CRASHMOD_DO": "sleep:300"}
        function = "C_GetSlotInfo"
    r = run([c_host, "fork", spy, function, "8"], env, timeout=200)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "forks 8 hung 0" in r.stdout
    pids = children(r.stdout)
    assert len(pids) == 8
    records = parse(read(trace))
    parent = records[0].pid
    for pid in pids:
        mine = [rec for rec in records if rec.pid == pid]
        assert [rec.function for rec in mine] == ["C_GetInfo"], pid
        assert mine[0].rv == 0
    assert all(rec.pid in pids or rec.pid == parent for rec in records)


def test_fork_while_another_thread_counts_statistics(c_host, spy, token, tmp_path):
    """Statistics are counted in C under a mutex, for traced and filtered-out calls alike.
    Found by review: a fork while the busy thread held it left it held in the child
    (60 of 6,400 children hung); 1,500 quick forks catch that with near certainty."""
    env = spy_env(token, tmp_path / "trace.txt", PKCS11SPY_STATS="1", PKCS11SPY_FUNCTIONS="C_Login",
                  HOST_FORK_PAUSE_MS="0")
    r = run([c_host, "fork", spy, "C_GetInfo", "1500"], env, timeout=300)
    assert "forks 1500 hung 0" in r.stdout, r.stdout[-500:]


def test_one_file_per_process(c_host, spy, token, tmp_path):
    out = tmp_path / "traces"
    out.mkdir()
    r = run([c_host, "fork", spy, "C_GetInfo", "3"], spy_env(token, str(out / "trace-%p.txt")), timeout=200)
    assert "forks 3 hung 0" in r.stdout
    files = sorted(os.listdir(out))
    assert len(files) == 4
    for pid in children(r.stdout):
        text = read(out / f"trace-{pid}.txt")
        assert text.startswith("*************** pkcs11spy ")
        records = parse(text)
        assert [(rec.pid, rec.function) for rec in records] == [(pid, "C_GetInfo")]


def test_finalize_then_initialize_again(c_host, spy, token, tmp_path):
    import cbuild
    first_call = cbuild.compile_host("c/first_call.c", str(tmp_path))
    trace = tmp_path / "trace.txt"
    calls = ["C_Initialize", "C_GetInfo", "C_Finalize"] * 3
    direct = run([first_call, token.module] + calls, token.env())
    spied = run([first_call, spy] + calls, spy_env(token, trace))
    assert spied.stdout == direct.stdout and spied.returncode == 0
    assert all(line.endswith(" 0") for line in spied.stdout.splitlines())
    assert [rec.function for rec in parse(read(trace))] == calls


def test_host_unloads_and_reloads_the_spy(c_host, spy, token, tmp_path):
    trace = tmp_path / "trace.txt"
    direct = run([c_host, "reload", token.module], token.env())
    spied = run([c_host, "reload", spy], spy_env(token, trace))
    assert spied.returncode == 0, spied.stderr
    assert spied.stdout == direct.stdout
    records = parse(read(trace))
    assert [rec.function for rec in records] == ["C_GetFunctionList", "C_Initialize", "C_GetInfo", "C_Finalize"] * 2
    assert all(rec.rv == 0 for rec in records)


def test_full_disk_mid_run(pkcs11_tool, spy, token):
    """/dev/full opens fine and fails every write with ENOSPC, like a disk that fills."""
    r = run([pkcs11_tool, "--module", spy, "-L"], spy_env(token, "/dev/full"))
    assert r.returncode == 0 and "test-token" in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("pkcs11spy:")]
    assert len(warnings) == 1 and "writing the trace to /dev/full failed" in warnings[0], r.stderr
    records = parse(r.stderr.split(warnings[0], 1)[1])
    assert [rec.function for rec in records][-1] == "C_Finalize"
    assert "C_GetTokenInfo" in [rec.function for rec in records]


def test_output_directory_removed_mid_run(spy, token, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    trace = folder / "trace.txt"
    r = run([sys.executable, os.path.join(HERE, "clients", "remove_output.py"), spy, str(folder)],
            spy_env(token, trace), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1:] == ["test-token", "8"]
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("pkcs11spy:")]
    assert len(warnings) == 1 and "the file was removed" in warnings[0] and "continues on stderr" in warnings[0]
    after = parse(r.stderr.split(warnings[0], 1)[1])
    assert "C_GenerateRandom" in [rec.function for rec in after]


def test_fork_in_a_python_host(spy, token, tmp_path):
    """python-pkcs11 releases the GIL in calls; Python's own fork hooks apply here."""
    trace = tmp_path / "trace.txt"
    r = run([sys.executable, os.path.join(HERE, "clients", "fork_busy.py"), spy, "6"], spy_env(token, trace),
            timeout=200)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "hung 0"
    pids = children(r.stdout)
    records = parse(read(trace))
    for pid in pids:
        mine = [rec for rec in records if rec.pid == pid]
        # get_slots(): C_GetSlotList (size, then list), C_GetSlotInfo per slot.
        assert {rec.function for rec in mine} == {"C_GetSlotList", "C_GetSlotInfo"}, pid
        assert all(rec.rv == 0 for rec in mine)



def test_fork_in_errors_only_mode_while_a_thread_decodes_its_first_error(spy, token, tmp_path):
    """Before the call path stopped importing, 63 of 300 such children hung (0 of 300
    after); 40 runs catch that with near certainty."""
    hung = 0
    for _ in range(40):
        r = run([sys.executable, os.path.join(HERE, "clients", "fork_errors_only.py"), spy],
                spy_env(token, tmp_path / "trace.txt", PKCS11SPY_ERRORS_ONLY="1"), timeout=60)
        assert r.returncode == 0 and r.stdout.split() in (["hung", "0"], ["hung", "1"]), (r.stdout, r.stderr)
        hung += r.stdout.split() == ["hung", "1"]
    assert hung == 0
    slots = [rec for rec in parse(read(tmp_path / "trace.txt"))]
    assert slots and all((rec.function, rec.rv_name) == ("C_GetSlotInfo", "CKR_SLOT_ID_INVALID") for rec in slots)

# Run in a fresh interpreter: import what the shim's init imports, then decode and render
# what has a first-time cost (every constant table; every DER string type; a label with
# characters that must be escaped).  Print the modules that appeared meanwhile.
FIRST_TIME_WORK = r"""
import sys
from pkcs11spy import _runtime
before = set(sys.modules)
from pkcs11spy.catalog.families import FAMILIES
from pkcs11spy.decode import der
from pkcs11spy.render import text
for family in FAMILIES.values():
    family.find(0)
for tag in der.STRING_TAGS:
    der.string(tag, bytes(8))
    der.string(tag, b"\xff\xfe\xd8")  # not valid in any of them: the fallback path
text.quote("\x07\u0085\u2028\U000E0001")
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_tracing_imports_nothing_after_start():
    """An import on the call path can hang a forked child: the parent thread that held
    that module's import lock at fork does not exist there (seen: a child of a threaded
    host in errors-only mode, waiting for ever to load the ascii codec).  So after start
    no call's decoding or rendering may import anything."""
    r = run([sys.executable, "-c", FIRST_TIME_WORK], dict(os.environ), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == []


def test_a_module_that_forks_inside_a_call(c_host, crashmod, spy, tmp_path):
    """The call returns in two processes: each process's file shows the call's end with
    its own pid (in the child's file as a <resumed> part: its start is in the parent's),
    and the child's file then goes on with the child's calls."""
    env = {"PKCS11SPY": crashmod, "PKCS11SPY_OUTPUT": str(tmp_path / "trace-%p.txt"),
           "CRASHMOD_IN": "C_GetInfo", "CRASHMOD_DO": "fork"}
    r = run([c_host, "session", spy, "1234"], env)
    assert r.returncode == 0, r.stderr
    texts = {int(name[len("trace-"):-len(".txt")]): read(tmp_path / name) for name in os.listdir(tmp_path)}
    assert len(texts) == 2
    session = ["C_GetSlotList", "C_OpenSession", "C_Login", "C_Logout", "C_CloseSession", "C_Finalize"]
    parent = next(pid for pid, text in texts.items() if "\n0: C_Initialize\n" in text)
    child = next(pid for pid in texts if pid != parent)
    parents = parse(texts[parent])
    assert [(rec.pid, rec.function) for rec in parents] == [(parent, f) for f in ["C_Initialize", "C_GetInfo"] + session]

    banner, resumed = texts[child].split("\n\n", 1)
    assert banner.startswith("*************** pkcs11spy ")
    first, rest = resumed.split("\n\n", 1)
    assert first.startswith(f"1: C_GetInfo <resumed>\nP:{child}; ")
    assert "\n[out] pInfo: \n" in first and "libraryDescription: 'crashmod " in first
    assert first.split("\n")[-1].startswith("Returned:  0 CKR_OK (")
    assert [(rec.pid, rec.function) for rec in parse(rest)] == [(child, f) for f in session]


# The memory reader's lock, held at fork as a thread of the parent opening the descriptor
# would hold it; the child then reads memory.  (The tracer's lock is taken by the forking
# thread itself before a fork: _runtime's fork hooks.)
LOCK_HELD_AT_FORK = r"""
import ctypes, os, sys, time
from pkcs11spy.memory import memory
memory.forget()
memory._lock.acquire()
data = ctypes.create_string_buffer(b"abc")
pid = os.fork()
if pid == 0:
    os._exit(0 if memory.read(ctypes.addressof(data), 3) == b"abc" else 1)
memory._lock.release()
deadline = time.monotonic() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status))
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        print("hung")
        break
    time.sleep(0.01)
"""


def test_a_child_forked_while_the_memory_lock_was_held_does_not_wait_for_it():
    """Found by review: memory.py's lock was not renewed at fork, and 166 of 8,000 children
    of a forking Python host hung on it (the first memory read of each process opens
    /proc/self/mem under it)."""
    r = run([sys.executable, "-W", "ignore", "-c", LOCK_HELD_AT_FORK], dict(os.environ), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["exit", "0"]


def test_a_module_that_forks_inside_a_call_of_a_python_host_sharing_one_file(crashmod, spy, tmp_path):
    """Found by review: no Python fork hook runs when a module forks, so the parent did not
    know its file was now shared and wrote exit parts without their header, which joined
    the child's records.  Every part now carries its header once C has counted a fork."""
    trace = tmp_path / "trace.txt"
    env = {"PKCS11SPY": crashmod, "PKCS11SPY_OUTPUT": str(trace), "CRASHMOD_IN": "C_GetInfo",
           "CRASHMOD_DO": "fork", "PATH": os.environ["PATH"]}
    r = run([sys.executable, os.path.join(HERE, "clients", "module_fork.py"), spy, "3000"], env)
    assert r.returncode == 0 and r.stdout.split() == ["calls", "failed", "0", "0"], (r.stdout, r.stderr)
    blocks = [b.split("\n") for b in read(trace).split("\n\n") if b and not b.startswith("*****")]
    assert len(blocks) > 2 * 3000
    for block in blocks:
        function = block[0].split()[1]
        returned = [line for line in block if line.startswith("Returned:")]
        assert len(returned) <= 1, block
        if function == "C_GetSlotList":
            assert not any("libraryDescription" in line for line in block), block  # C_GetInfo's
