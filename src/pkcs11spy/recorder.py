"""From a raw call to the fragments of its record parts, reusing what it can.

The tracer's hot path (docs/performance.md).  For each function, a plan made once from
the function table says how each argument becomes its *fragment* of the record: its
lines in the text layout, its object in JSON (``arg_fragment`` of the renderer).

* An argument whose fragment depends only on a few facts is rendered once per distinct
  set of facts, and the fragment is reused after that.  The facts are its raw value for
  handles, numbers, constants and flags; for an output, the return code and the bytes the
  decoder reads (an info structure, a single CK_ULONG), or only the length of a secret
  that is hidden anyway (random data); for a mechanism without a parameter, the bytes of
  the CK_MECHANISM.
* A buffer takes a short road in its usual case: data behind a fingerprint fills a
  template the renderer made once per length; a shown output (a signature, a digest)
  becomes a ``Bytes`` value without the decoders' walk.
* Everything else (templates, parameters, unusual buffers: NULL, unreadable, over the
  cap, size queries, errors) goes through the decoders and the renderer on every call,
  as ``decode_inputs``/``decode_outputs`` would.

A reused fragment is exactly what the decoders and the renderer made for the same facts,
so a trace cannot differ from one rendered afresh; tests/test_recorder.py compares the
two, case by case.  The decoders' own context (``CallData``) is made only when a step needs it.
"""
from __future__ import annotations

import operator
from typing import Callable, Dict, Hashable, List, Optional, Tuple

from .decode.walker import CKR_OK, CallData, buffer_label as _buffer_label, guarded, input_plan, output_plan
from .functions import FUNCTIONS, INOUT, Arg as FnArg, Function
from .memory import memory
from .model import Arg, Bytes, DecodeError
from .native import ffi
from .redact import CHUNK, Policy

# Distinct facts remembered per argument; past this the memory starts again (handles of
# a long run change, and old ones must not crowd out the new).
MEMO_LIMIT = 512

VALUE_KINDS = frozenset({"handle", "ulong", "count", "bool", "pointer"})
POINTEE_KINDS = frozenset({"ulong_ptr", "handle_ptr"})
TEMPLATE_KINDS = frozenset({"template", "template_get"})
MECHANISM_SIZE = ffi.sizeof("CK_MECHANISM")
ULONG_SIZE = ffi.sizeof("CK_ULONG")
NO_NOTES: List[str] = []  # shared: never appended to
NO_PARAMETER = bytes(MECHANISM_SIZE - ULONG_SIZE)  # a CK_MECHANISM's NULL, 0 tail
NOT_REUSABLE = object()  # a key saying: render afresh, remember nothing
HOLE = "PKCS11SPYFINGERPRINTHOLE"  # where a fragment template takes the fingerprint


class Lazy:
    """The decoders' context for one call, made on first need (most calls never do)."""

    __slots__ = ("function", "raw", "recorder", "rv", "data")

    def __init__(self, function: Function, raw: Tuple[int, ...], recorder: "Recorder") -> None:
        self.function, self.raw, self.recorder = function, raw, recorder
        self.rv: Optional[int] = None  # set before the exit's steps run
        self.data: Optional[CallData] = None

    def get(self) -> CallData:
        if self.data is None:
            r = self.recorder
            self.data = CallData(self.function, list(self.raw), r.cap, r.show_secrets, r.policy)
            self.data.rv = self.rv
        return self.data


# A step: (raw, rv, lazy) -> fragment ("" when the argument shows nothing).
Step = Callable[[Tuple[int, ...], Optional[int], Lazy], str]
KeyOf = Callable[[Tuple[int, ...], Optional[int]], Hashable]


class Memo(dict):
    """Fragments by the facts they were made from."""

    def add(self, key: Hashable, fragment: str) -> str:
        if len(self) >= MEMO_LIMIT:
            self.clear()
        self[key] = fragment
        return fragment


def _reusing(key_of: KeyOf, render: Callable[[Lazy], str]) -> Step:
    memo = Memo()

    def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
        key = key_of(raw, rv)
        if key is NOT_REUSABLE:
            return render(lazy)
        fragment = memo.get(key)
        return fragment if fragment is not None else memo.add(key, render(lazy))
    return step


# The three below are _reusing with the key made inline: they run on most calls.

def _reusing_value(i: int, render: Callable[[Lazy], str]) -> Step:
    """Keyed by the raw value of argument i."""
    memo = Memo()

    def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
        fragment = memo.get(raw[i])
        return fragment if fragment is not None else memo.add(raw[i], render(lazy))
    return step


def _reusing_structure(i: int, size: int, render: Callable[[Lazy], str]) -> Step:
    """An info structure (argument i points to size bytes), keyed by its bytes; shown
    only after CKR_OK."""
    memo = Memo()
    read = memory.read

    def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
        if rv != CKR_OK:
            return ""
        key = read(raw[i], size)
        if key is None:
            key = ("unreadable", raw[i])
        fragment = memo.get(key)
        return fragment if fragment is not None else memo.add(key, render(lazy))
    return step


def _reusing_pointee(i: int, render: Callable[[Lazy], str]) -> Step:
    """A single CK_ULONG output (argument i points to it), keyed by its value; shown
    only after CKR_OK."""
    memo = Memo()
    ulong = memory.ulong

    def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
        if rv != CKR_OK:
            return ""
        key = ulong(raw[i]) if raw[i] else None
        fragment = memo.get(key)
        return fragment if fragment is not None else memo.add(key, render(lazy))
    return step


def _afresh(render: Callable[[Lazy], str]) -> Step:
    return lambda raw, rv, lazy: render(lazy)


class Plan:
    """How one function's arguments become fragments, on entry and on exit."""

    def __init__(self, function: Function, renderer, policy: Policy, cap: int) -> None:
        self.function = function
        self._cap = cap
        self.nargs = len(function.args)
        self.learns = function.name in Policy.LEARNS
        self._renderer = renderer
        self._positions = {a.name: i for i, a in enumerate(function.args)}
        self._has_template = any(a.kind in TEMPLATE_KINDS for a in function.args)
        self._policy = policy
        steps = input_plan(function)
        self.inputs: List[Step] = [self._input_step(arg, decode, label) for arg, decode, label in steps]
        self.outputs: List[Step] = [self._output_step(arg, decode) for arg, decode in output_plan(function)]
        # When every input is a plain value or a mechanism without a parameter, the whole
        # entry is keyed by those facts: one lookup instead of one per argument.
        self.entry_key = self._entry_key([arg for arg, _decode, _label in steps])
        self.entry_memo: Dict[Hashable, Tuple[List[str], List[str]]] = {}  # (fragments, notes)

    # ---- entry ---------------------------------------------------------------------

    def _entry_key(self, inputs: List[FnArg]) -> Optional[Callable[[Tuple[int, ...]], Hashable]]:
        values = [self._positions[a.name] for a in inputs if _is_value(a)]
        mechanisms = [self._positions[a.name] for a in inputs if self._is_plain_mechanism(a)]
        if not inputs or len(values) + len(mechanisms) != len(inputs):
            return None
        of_values = operator.itemgetter(*values) if values else (lambda raw: None)
        if not mechanisms:
            return of_values
        m = mechanisms[0] if len(mechanisms) == 1 else None
        if m is None:
            return None  # no function takes two

        def key(raw: Tuple[int, ...]) -> Hashable:
            mechanism = _mechanism_key(raw[m])
            return NOT_REUSABLE if mechanism is NOT_REUSABLE else (of_values(raw), mechanism)
        return key

    def _is_plain_mechanism(self, arg: FnArg) -> bool:
        """A mechanism whose decoding only its own CK_MECHANISM decides (see _mechanism_key)."""
        return arg.kind == "mechanism" and not self._has_template

    def _input_step(self, arg: FnArg, decode: Callable, label: Callable) -> Step:
        fragment = self._renderer.arg_fragment

        def render(lazy: Lazy) -> str:
            data = lazy.get()
            value = guarded(decode, data, arg)
            if value is None:
                return ""
            if arg.direction == INOUT:
                data.entry[arg.name] = value
            return fragment("[in]", Arg(label(data), value))

        i = self._positions[arg.name]
        if _is_value(arg):
            return _reusing_value(i, render)
        if arg.kind == "bytes" and arg.data and self._policy.hides(arg):
            j = self._positions[arg.length]
            return self._fingerprinted(lambda raw, rv: raw[j], i, _buffer_label(arg), "[in]", render)
        if self._is_plain_mechanism(arg):
            # Decoding it sets the call's mechanism, which only templates read.
            return _reusing(lambda raw, rv: _mechanism_key(raw[i]), render)
        return _afresh(render)

    # ---- exit ----------------------------------------------------------------------

    def _output_step(self, arg: FnArg, decode: Callable) -> Step:
        fragment = self._renderer.arg_fragment

        def render(lazy: Lazy) -> str:
            result = guarded(decode, lazy.get(), arg)
            if isinstance(result, DecodeError):
                return fragment("[out]", Arg(arg.name, result))
            return self._renderer.SEPARATOR.join([fragment("[out]", a) for a in result])

        i = self._positions[arg.name]
        if arg.kind.startswith("struct:"):
            size = ffi.sizeof(arg.kind[7:])
            return _reusing_structure(i, size, render)
        if arg.kind in POINTEE_KINDS or arg.kind.startswith("flags_ptr:"):
            return _reusing_pointee(i, render)
        if arg.kind == "bytes" and arg.data and self._policy.hides(arg):
            length_of = self._output_length(arg)
            return self._fingerprinted(lambda raw, rv: length_of(raw) if rv == CKR_OK else None, i,
                                       _buffer_label(arg), "[out]", render)
        if arg.kind == "bytes" and not self._policy.hides(arg):
            return self._shown_output(arg, i, render)
        if arg.kind == "bytes" and self._hides_all_but_length(arg):
            partner = self.function.arg(arg.length)
            j = self._positions[partner.name]
            if partner.kind == "length_ptr":
                return _reusing(lambda raw, rv: (rv, raw[i] == 0, _pointee_key(raw[j])), render)
            return _reusing(lambda raw, rv: (rv, raw[i] == 0, raw[j]), render)
        return _afresh(render)

    # ---- buffers: the usual case made directly, the rest by the decoders ------------

    def _output_length(self, arg: FnArg) -> Callable[[Tuple[int, ...]], Optional[int]]:
        """The length of an output buffer after the call: a CK_ULONG it points to, or a
        value."""
        partner = self.function.arg(arg.length)
        j = self._positions[partner.name]
        if partner.kind == "length_ptr":
            return lambda raw: memory.ulong(raw[j]) if raw[j] else None
        return lambda raw: raw[j]

    def _fingerprinted(self, length_of: KeyOf, i: int, label: str, side: str,
                       render: Callable[[Lazy], str]) -> Step:
        """A data buffer hidden behind its fingerprint.  The usual case (readable, at most
        CHUNK bytes; length_of says None when the decoders must look) fills a fragment
        the renderer made once per length with a placeholder for the fingerprint."""
        policy, fragment, read = self._policy, self._renderer.arg_fragment, memory.read
        templates = Memo()

        def template(length: int) -> List[str]:
            """[before, after] the fingerprint; [] if the placeholder did not come through."""
            parts = fragment(side, Arg(label, Policy.fingerprinted(length, HOLE))).split(HOLE)
            return parts if len(parts) == 2 else []

        def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
            address, length = raw[i], length_of(raw, rv)
            if address and length is not None and 0 < length <= CHUNK:
                data = read(address, length)
                parts = templates.get(length)
                if parts is None:
                    parts = templates.add(length, template(length))
                if data is not None and parts:
                    return policy.fingerprint(data, length).join(parts)
            return render(lazy)
        return step

    def _shown_output(self, arg: FnArg, i: int, render: Callable[[Lazy], str]) -> Step:
        """A buffer shown whole (a signature, a digest, a ciphertext).  The usual case
        (CKR_OK, readable, within the dump cap) is a Bytes value rendered directly; the
        rest (sizes, errors, NULL, unreadable, cut) goes to the decoders."""
        length_of, fragment, read = self._output_length(arg), self._renderer.arg_fragment, memory.read
        label, cap = _buffer_label(arg), self._cap

        def step(raw: Tuple[int, ...], rv: Optional[int], lazy: Lazy) -> str:
            address = raw[i]
            if rv == CKR_OK and address:
                length = length_of(raw)
                if length is not None and length <= cap:
                    data = read(address, length)
                    if data is not None:
                        return fragment("[out]", Arg(label, Bytes(address, length, data)))
            return render(lazy)
        return step

    def _hides_all_but_length(self, arg: FnArg) -> bool:
        """A secret output shown as its length only (not data: a fingerprint reads the
        bytes; not a PIN: its facts read them too)."""
        return (self._policy.hides(arg) and not arg.data
                and self._policy.redacted_kind(arg.name) != "PIN")


def _is_value(arg: FnArg) -> bool:
    """An input shown from its raw value alone (no memory read, no other argument)."""
    return arg.kind in VALUE_KINDS or arg.kind.startswith(("enum:", "flags:"))


def _pointee_key(address: int) -> Hashable:
    value = memory.ulong(address) if address else None
    return value if value is not None else ("unreadable", address)


def _mechanism_key(address: int) -> Hashable:
    """The CK_MECHANISM's bytes when it has no parameter (then they are all its decoding
    reads); otherwise NOT_REUSABLE: it is decoded afresh."""
    data = memory.read(address, MECHANISM_SIZE) if address else None
    if data is None:
        return ("unreadable", address)
    if data[ULONG_SIZE:] != NO_PARAMETER:  # pParameter and ulParameterLen
        return NOT_REUSABLE
    return data


class Recorder:
    """Fragments of calls for one renderer, with the tracer's policy and dump cap."""

    def __init__(self, renderer, policy: Policy, cap: int, show_secrets: bool) -> None:
        self.renderer = renderer
        self.policy = policy
        self.cap = cap
        self.show_secrets = show_secrets
        self._plans: List[Optional[Plan]] = [None] * len(FUNCTIONS)

    def plan(self, index: int) -> Plan:
        plan = self._plans[index]
        if plan is None:
            plan = self._plans[index] = Plan(FUNCTIONS[index], self.renderer, self.policy, self.cap)
        return plan

    def start(self, plan: Plan, raw: Tuple[int, ...]) -> Lazy:
        return Lazy(plan.function, raw, self)

    def inputs(self, plan: Plan, lazy: Lazy) -> Tuple[List[str], List[str]]:
        """The entry's fragments and notes.  Reads only what the caller passed in.  The
        lists returned may be shared with other calls: read them, never change them."""
        raw = lazy.raw
        key = plan.entry_key(raw) if plan.entry_key is not None else NOT_REUSABLE
        if key is not NOT_REUSABLE:
            entry = plan.entry_memo.get(key)
            if entry is None:
                fragments = [f for f in [step(raw, None, lazy) for step in plan.inputs] if f]
                entry = (fragments, list(lazy.data.notes) if lazy.data is not None else NO_NOTES)
                if len(plan.entry_memo) >= MEMO_LIMIT:
                    plan.entry_memo.clear()
                plan.entry_memo[key] = entry
            return entry
        fragments = [f for f in [step(raw, None, lazy) for step in plan.inputs] if f]
        return fragments, (lazy.data.notes if lazy.data is not None else NO_NOTES)

    def outputs(self, plan: Plan, lazy: Lazy, rv: int) -> Tuple[List[str], List[str]]:
        """The exit's fragments and notes, for the return code rv."""
        raw = lazy.raw
        lazy.rv = rv
        if lazy.data is not None:
            lazy.data.rv = rv
        fragments = [f for f in [step(raw, rv, lazy) for step in plan.outputs] if f]
        if plan.learns:
            try:
                self.policy.learn(plan.function.name, lazy.get().raw, rv)
            except Exception:
                pass  # only PIN facts of later calls depend on it
        return fragments, (lazy.data.exit_notes if lazy.data is not None else NO_NOTES)
