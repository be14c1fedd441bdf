"""Where the shim's callbacks land: decode, render, write.

``start`` is called once by the shim's init code, inside the host.  The two callbacks
are called by every traced wrapper: ``on_enter`` before the call is forwarded (its
record reaches the file before the module runs, so a crash inside the module still
shows the call) and ``on_exit`` after.

Ordering and threads: a record part is written whole, under one lock, with one
write.  Call numbers are given under that lock, so they increase in the file.  When
other records were written between a call's entry and its exit, the exit part repeats
the call's number and name, marked ``<resumed>``, so a reader can pair them.  After a
fork, parent and child may write the same file (no ``%p``) and cannot see each other's
records: then every exit part carries its header.

Fork: a host may fork while its other threads are inside our Python code; in the child
those threads do not exist, and any lock they held stays held.  So every lock of ours is
renewed in the child (see _locked), none is taken elsewhere on the call path, and nothing
on the call path imports a module (an import takes that module's lock): what has a
first-time cost (codecs, C types) is done at start.  tests/test_processes.py checks it.

Errors-only mode (PKCS11SPY_ERRORS_ONLY) writes a call's entry and exit together, after
it returned an error; a call that crashes inside the module is then not written.
"""
from __future__ import annotations

import atexit
import os
import struct
import sys
import threading
import time
from typing import Dict, Tuple

from . import __version__, config, filters, redact, stats
from .decode import interfaces
from .functions import FUNCTIONS, MAX_ARGS
from .memory import memory
from .recorder import Recorder
from .render import json as json_render
from .render import text
from .sinks import Sink, warn_stderr

CKR_OK = 0
RV_NAMES = {CKR_OK: "CKR_OK"}
get_ident = threading.get_ident
RENDERERS = {"text": text, "json": json_render}

# struct spy_call (spy_shared.h) as the struct module reads it, native alignment:
# fn, entered, args[MAX_ARGS], key, rv, wall_ns, start_ns, end_ns, pid, forks.
KEY = 2 + MAX_ARGS
RV, WALL_NS, START_NS, END_NS, PID, FORKS = KEY + 1, KEY + 2, KEY + 3, KEY + 4, KEY + 5, KEY + 6


def call_layout(ffi) -> struct.Struct:
    """The unpacker of struct spy_call, checked against cffi's view of the layout (a
    mismatch stops tracing at start, with a message, rather than mis-read calls)."""
    layout = struct.Struct(f"@ii{MAX_ARGS}PPLqqqqq")
    fields = [("fn", "@"), ("entered", "@i"), ("args", "@ii"), ("key", f"@ii{MAX_ARGS}P"),
              ("rv", f"@ii{MAX_ARGS}PP"), ("wall_ns", f"@ii{MAX_ARGS}PPL"),
              ("start_ns", f"@ii{MAX_ARGS}PPLq"), ("end_ns", f"@ii{MAX_ARGS}PPLqq"),
              ("pid", f"@ii{MAX_ARGS}PPLqqq"), ("forks", f"@ii{MAX_ARGS}PPLqqqq")]
    for name, before in fields:
        if ffi.offsetof("struct spy_call", name) != struct.calcsize(before):
            raise RuntimeError(f"struct spy_call: field {name} is not where the tracer reads it")
    if ffi.sizeof("struct spy_call") != layout.size:
        raise RuntimeError("struct spy_call: its size is not what the tracer reads")
    return layout


def partial_description(settings: config.Settings) -> str:
    """What the banner says when calls are left out on purpose ("" when none are)."""
    parts = []
    if settings.functions.strip():
        parts.append(f"only the functions PKCS11SPY_FUNCTIONS={settings.functions.strip()} selects")
    if settings.errors_only:
        parts.append("only calls that did not return CKR_OK (PKCS11SPY_ERRORS_ONLY)")
    return "; ".join(parts)


class Tracer:
    def __init__(self, settings: config.Settings, sink: Sink, module: str) -> None:
        self.settings = settings
        self.sink = sink
        self.module = module
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._current_pid = self._lock_pid  # set by _locked(), read under the lock
        self._next_seq = 0
        self._last_written = -1
        self._pending: Dict[int, Tuple[tuple, int]] = {}  # key -> (entry, call number)
        self._complained = set()
        self.render = RENDERERS[settings.format]
        self.errors_only = settings.errors_only
        self.stats_source = None  # (ffi, lib) when PKCS11SPY_STATS is on
        # The pid whose file we write; differs from getpid() first thing in a forked child.
        self._pid = os.getpid()
        self._file_shared = False  # with another process (after fork): always resume
        self._forks = 0  # forks C had counted at the last record part (struct spy_call)
        self.policy = redact.Policy(settings.show_secrets)
        self.recorder = Recorder(self.render, self.policy, settings.max_dump, settings.show_secrets)
        self._unpack = None  # set by bind(): the shim's struct spy_call, read in one go
        self._buffer = None
        os.register_at_fork(before=self._before_fork, after_in_child=self._after_fork_in_child,
                            after_in_parent=self._after_fork_in_parent)

    def bind(self, ffi) -> None:
        """Read each struct spy_call with one unpack (cffi field reads cost more each)."""
        self._unpack = call_layout(ffi).unpack_from
        self._buffer = ffi.buffer

    def _before_fork(self) -> None:
        # A record part being written (os.write lets go of the GIL) completes before the
        # fork: otherwise a part judged "not resumed" before the fork would land after
        # the child's records.  acquire() lets go of the GIL while it waits.
        self._locked(os.getpid()).acquire()

    def _after_fork_in_child(self, pid: int = 0) -> None:
        # A thread of the parent may have held the lock at fork: it does not exist here.
        self._lock = threading.Lock()
        self._lock_pid = pid or os.getpid()

    def _locked(self, pid: int) -> threading.Lock:
        """The lock, renewed in a forked child even when no Python fork hook ran (a fork
        by C code in a Python host runs none).  pid: the caller's, as the shim keeps it
        (a system call saved per record part); _check_fork reads it too."""
        self._current_pid = pid
        if self._lock_pid != pid:
            self._after_fork_in_child(pid)
            memory.forget()  # its descriptor still reads the parent's memory
            self.policy.forget_key()  # a child fingerprints with a key of its own
        return self._lock

    def _after_fork_in_parent(self) -> None:
        if not self.sink.per_process():
            self._file_shared = True
        self._lock.release()

    def _check_fork(self, forks: int = -1) -> None:
        """Under the lock, first thing: in a forked child (also one forked without
        Python's hooks), move to its own file or note that the file is shared; in a
        parent that forked (forks: C's count, when the caller has it), note it too."""
        if forks >= 0 and forks != self._forks:
            # No Python hook told us when a module forked inside a call of a Python host.
            self._forks = forks
            if not self.sink.per_process():
                self._file_shared = True
        if self._current_pid == self._pid:
            return
        self._pid = self._current_pid
        if self.sink.reopen_if_forked():
            self.banner()  # a forked child's own file (%p) starts with a banner
            # Its first exit part may end a call the parent entered (a module that forked
            # inside the call): that part needs its header, the entry is in another file.
            self._last_written = -1
        elif not self.sink.per_process():
            self._file_shared = True

    def banner(self) -> None:
        if self.render is json_render:
            self.sink.write(json_render.banner(self.module, __version__, self.settings.show_secrets,
                                               os.getpid(), partial_description(self.settings)))
        else:
            self.sink.write(text.banner(self.module, __version__, self.settings.show_secrets,
                                        partial_description(self.settings)))

    def _entry(self, raw_call: tuple):
        """What an exit needs of its entry: (plan, lazy, fragments, notes, tid, wall_ns)."""
        recorder = self.recorder
        plan = recorder.plan(raw_call[0])
        lazy = recorder.start(plan, raw_call[2:2 + plan.nargs])
        fragments, notes = recorder.inputs(plan, lazy)
        return plan, lazy, fragments, notes, get_ident(), raw_call[WALL_NS]

    def enter(self, c) -> None:
        raw_call = self._unpack(self._buffer(c))
        pid = raw_call[PID]
        if pid != self._lock_pid:
            self._locked(pid)  # forked: before reading memory (memory.forget)
        plan, lazy, fragments, notes, tid, wall_ns = entry = self._entry(raw_call)
        if self.errors_only:
            self._pending[raw_call[KEY]] = (entry, -1)  # written at exit, if the call fails
            return
        with self._lock:
            if pid != self._pid or raw_call[FORKS] != self._forks:
                self._current_pid = pid
                self._check_fork(raw_call[FORKS])
            seq = self._next_seq
            self._next_seq = seq + 1
            self.sink.write(self.render.enter_part(seq, plan.function.name, pid, tid, wall_ns, fragments, notes))
            self._last_written = seq
        self._pending[raw_call[KEY]] = (entry, seq)

    def exit(self, c) -> None:
        raw_call = self._unpack(self._buffer(c))
        pid = raw_call[PID]
        if pid != self._lock_pid:
            self._locked(pid)  # forked: before reading memory (memory.forget)
        rv = raw_call[RV]
        if raw_call[1]:  # entered
            pending = self._pending.pop(raw_call[KEY], None)
            if pending is None:
                return  # entry failed and was reported; nothing to pair with
            entry, seq = pending
        elif self.errors_only:
            entry, seq = self._entry(raw_call), -1  # inputs are the caller's memory, unchanged by the call
        else:
            return
        if self.errors_only and rv == CKR_OK:
            return
        plan, lazy, in_fragments, in_notes, tid, wall_ns = entry
        fragments, notes = self.recorder.outputs(plan, lazy, rv)
        name = plan.function.name
        rv_name = RV_NAMES.get(rv) or text.rv_name(rv)
        duration_ns = raw_call[END_NS] - raw_call[START_NS]
        render = self.render
        with self._lock:
            if pid != self._pid or raw_call[FORKS] != self._forks:
                self._current_pid = pid
                self._check_fork(raw_call[FORKS])
            if self.errors_only:
                seq = self._next_seq
                self._next_seq = seq + 1
                part = (render.enter_part(seq, name, pid, tid, wall_ns, in_fragments, in_notes)
                        + render.exit_part(seq, name, pid, tid, wall_ns, False, rv, rv_name, duration_ns,
                                           fragments, notes))
            else:
                resumed = self._file_shared or self._last_written != seq
                part = render.exit_part(seq, name, pid, tid, wall_ns, resumed, rv, rv_name, duration_ns,
                                        fragments, notes)
            self.sink.write(part)
            self._last_written = seq

    def write_stats(self, when: str) -> None:
        """The statistics table, if calls were made since it was last written."""
        if self.stats_source is None:
            return
        ffi, lib = self.stats_source
        snapshot = stats.collect(ffi, lib)
        if not snapshot.dirty:
            return
        if self.render is json_render:
            part = json_render.render_stats(stats.as_dict(snapshot), os.getpid(), when, time.time_ns())
        else:
            part = stats.render_text(snapshot, os.getpid(), when)
        with self._locked(os.getpid()):
            self._check_fork()
            self.sink.write(part)
            self._last_written = -1

    def failed(self, where: str, exc: BaseException) -> None:
        """Our own bug: say it once per place, in the trace and on stderr."""
        message = f"pkcs11spy: internal error in {where}: {type(exc).__name__}: {exc} (the call went through)"
        if where not in self._complained:
            self._complained.add(where)
            warn_stderr(message)
        try:
            self.sink.write(f"[error] {message}\n")
        except Exception:
            pass


def start(ffi, lib) -> None:
    """Set up tracing; the last step tells C that Python is ready."""
    settings = config.load(warn_stderr)
    sink = Sink(settings.output, warn_stderr, settings.output_for,
                writer=lib.spy_write)
    module = ffi.string(lib.spy_get_module_path()).decode("utf-8", "backslashreplace")
    tracer = Tracer(settings, sink, module)
    tracer.bind(ffi)
    interfaces.bind(lib)

    @ffi.def_extern(onerror=lambda *exc: None)
    def spy_on_enter(c):
        try:
            tracer.enter(c)
        except BaseException as exc:
            tracer.failed(f"entry of {FUNCTIONS[c.fn].name}", exc)

    @ffi.def_extern(onerror=lambda *exc: None)
    def spy_on_exit(c):
        try:
            tracer.exit(c)
        except BaseException as exc:
            tracer.failed(f"exit of {FUNCTIONS[c.fn].name}", exc)

    @ffi.def_extern(onerror=lambda *exc: None)
    def spy_on_stats(at_exit):
        try:
            tracer.write_stats("exit" if at_exit else "C_Finalize")
        except BaseException as exc:
            tracer.failed("statistics", exc)

    for index, wants in filters.masks(settings.functions, settings.errors_only, warn_stderr).items():
        lib.spy_set_traced(index, wants)
    if settings.stats:
        tracer.stats_source = (ffi, lib)
        lib.spy_set_stats(1)
        # A Python host finalises Python before C's atexit runs: say it from here then.
        atexit.register(spy_on_stats, 1)
    tracer.banner()
    sys.modules[__name__].tracer = tracer  # for tests and debugging
    lib.spy_set_python_ready(1)
