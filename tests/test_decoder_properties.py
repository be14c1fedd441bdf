"""Property test: random argument shapes through every decoder of every function.

For each function of the table, hypothesis builds raw arguments the way a broken or
hostile application might pass them: NULL, small numbers, CK_UNAVAILABLE_INFORMATION,
addresses that are not mapped, and pointers to real buffers of random bytes (so
templates, mechanisms and structures are made of random fields, pointers included).
Inputs and outputs (under a random return code) are decoded and rendered.  Nothing may
raise, and no argument may end as a decode error (which is what a decoder that raised
becomes): bad input must come out as NULL, unreadable or cut values."""
from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings, strategies as st

from pkcs11spy.decode import CallData, decode_inputs, decode_outputs
from pkcs11spy.functions import FUNCTIONS
from pkcs11spy.model import Call, DecodeError
from pkcs11spy.native import ffi
from pkcs11spy.render import text

ULONG_MAX = 2 ** (8 * ffi.sizeof("CK_ULONG")) - 1
UNMAPPED = (0x10, 0xDEAD0000, 0x7FFFFFFFF000, ULONG_MAX - 7)
RETURN_CODES = (0x0, 0x7, 0x11, 0x12, 0x150, 0x1B0, 0xFFFFFFFF)


@st.composite
def raw_arguments(draw, function):
    keep = []  # buffers must live while decoding

    def buffer():
        data = draw(st.binary(min_size=0, max_size=512))
        # Now and then a buffer made of pointers to other random buffers.
        if data and draw(st.booleans()):
            inner = ffi.new("unsigned char[]", draw(st.binary(min_size=1, max_size=64)))
            keep.append(inner)
            address = int(ffi.cast("uintptr_t", inner)).to_bytes(8, "little")
            data = (data[:8] + address + data[16:]) if len(data) >= 16 else data
        b = ffi.new("unsigned char[]", data or b"\0")
        keep.append(b)
        return int(ffi.cast("uintptr_t", b))

    raw = []
    for arg in function.args:
        choice = draw(st.sampled_from(["zero", "small", "max", "unmapped", "buffer", "buffer", "buffer"]))
        if choice == "zero":
            raw.append(0)
        elif choice == "small":
            raw.append(draw(st.integers(min_value=1, max_value=2048)))
        elif choice == "max":
            raw.append(ULONG_MAX)
        elif choice == "unmapped":
            raw.append(draw(st.sampled_from(UNMAPPED)))
        else:
            raw.append(buffer())
    return raw, keep


def decode_errors(value, path="") -> list:
    if isinstance(value, DecodeError):
        return [f"{path}: {value.message}"]
    found = []
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            found += decode_errors(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += decode_errors(item, f"{path}[{i}]")
    return found


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_shapes_through_every_decoder(data):
    function = data.draw(st.sampled_from(FUNCTIONS))
    raw, keep = data.draw(raw_arguments(function))
    show = data.draw(st.booleans())
    call_data = CallData(function, raw, data.draw(st.sampled_from([0, 16, 4096])), show)
    call = Call(seq=1, function=function.name, pid=1, tid=1, wall_ns=0)
    call.inputs = decode_inputs(call_data)
    call.rv = data.draw(st.sampled_from(RETURN_CODES))
    call.rv_name = text.rv_name(call.rv)
    call.outputs = decode_outputs(call_data, call.rv)
    rendered = text.render_enter(call) + text.render_exit(call)
    assert function.name in rendered
    errors = decode_errors(call.inputs) + decode_errors(call.outputs)
    assert not errors, f"{function.name} raw={[hex(r) for r in raw]}: {errors}"
    del keep
