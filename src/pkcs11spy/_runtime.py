"""Where the shim's callbacks land: decode, render, write.

``start`` is called once by the shim's init code, inside the host.  The two callbacks
are called by every traced wrapper: ``on_enter`` before the call is forwarded (its
record reaches the file before the module runs, so a crash inside the module still
shows the call) and ``on_exit`` after.

Ordering and threads: a record part is written whole, under one lock, with one
write.  Call numbers are given under that lock, so they increase in the file.  When
other records were written between a call's entry and its exit, the exit part repeats
the call's number and name, marked ``<resumed>``, so a reader can pair them.

Errors-only mode (PKCS11SPY_ERRORS_ONLY) writes a call's entry and exit together, after
it returned an error; a call that crashes inside the module is then not written.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import Dict, Tuple

from . import __version__, config, filters, stats
from .decode import CallData, decode_inputs, decode_outputs, interfaces
from .functions import FUNCTIONS
from .model import Call
from .render import json as json_render
from .render import text
from .sinks import Sink, warn_stderr

CKR_OK = 0
RENDERERS = {"text": text, "json": json_render}


class Tracer:
    def __init__(self, settings: config.Settings, sink: Sink, module: str) -> None:
        self.settings = settings
        self.sink = sink
        self.module = module
        self._lock = threading.Lock()
        self._next_seq = 0
        self._last_written = -1
        self._pending: Dict[int, Tuple[CallData, Call]] = {}
        self._complained = set()
        self.render = RENDERERS[settings.format]
        self.errors_only = settings.errors_only
        self.stats_source = None  # (ffi, lib) when PKCS11SPY_STATS is on
        self._pid = os.getpid()  # a syscall: not once per call
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # A thread of the parent may have held the lock at fork: it does not exist here.
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def banner(self) -> None:
        if self.render is json_render:
            self.sink.write(json_render.banner(self.module, __version__, self.settings.show_secrets,
                                               os.getpid()))
        else:
            self.sink.write(text.banner(self.module, __version__, self.settings.show_secrets))

    def _begin(self, c) -> Tuple[CallData, Call]:
        fn = FUNCTIONS[c.fn]
        raw = list(c.args[0:len(fn.args)])
        data = CallData(fn, raw, self.settings.max_dump, self.settings.show_secrets)
        call = Call(seq=-1, function=fn.name, pid=self._pid, tid=threading.get_ident(),
                    wall_ns=int(c.wall_ns))
        call.inputs = decode_inputs(data)
        call.notes.extend(data.notes)
        return data, call

    def enter(self, c, key: int) -> None:
        data, call = self._begin(c)
        if self.errors_only:
            self._pending[key] = (data, call)  # written at exit, if the call fails
            return
        with self._lock:
            call.seq = self._next_seq
            self._next_seq += 1
            self.sink.write(self.render.render_enter(call))
            self._last_written = call.seq
        c.seq = call.seq
        self._pending[key] = (data, call)

    def exit(self, c, key: int) -> None:
        rv = int(c.rv)
        if c.entered:
            entry = self._pending.pop(key, None)
            if entry is None:
                return  # entry failed and was reported; nothing to pair with
        elif self.errors_only:
            entry = self._begin(c)  # inputs are the caller's memory, unchanged by the call
        else:
            return
        if self.errors_only and rv == CKR_OK:
            return
        data, call = entry
        call.rv = rv
        call.rv_name = text.rv_name(rv)
        call.duration_ns = int(c.end_ns) - int(c.start_ns)
        call.outputs = decode_outputs(data, rv)
        call.exit_notes.extend(data.exit_notes)
        if self.errors_only:
            with self._lock:
                call.seq = self._next_seq
                self._next_seq += 1
                self.sink.write(self.render.render_enter(call) + self.render.render_exit(call))
                self._last_written = call.seq
            return
        with self._lock:
            call.resumed = self._last_written != call.seq
            self.sink.write(self.render.render_exit(call))
            self._last_written = call.seq

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
        with self._lock:
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
    sink = Sink(settings.output, warn_stderr)
    module = ffi.string(lib.spy_get_module_path()).decode("utf-8", "backslashreplace")
    tracer = Tracer(settings, sink, module)
    interfaces.bind(lib)

    def key_of(c) -> int:
        return int(ffi.cast("uintptr_t", c))

    @ffi.def_extern(onerror=lambda *exc: None)
    def spy_on_enter(c):
        try:
            tracer.enter(c, key_of(c))
        except BaseException as exc:
            tracer.failed(f"entry of {FUNCTIONS[c.fn].name}", exc)

    @ffi.def_extern(onerror=lambda *exc: None)
    def spy_on_exit(c):
        try:
            tracer.exit(c, key_of(c))
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
