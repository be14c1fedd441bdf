"""The tracer's hot path (recorder.py) writes exactly what the decoders and renderers make
afresh: the same calls go through the real Tracer and through decode_inputs /
decode_outputs + render_enter / render_exit, and every record part must be equal, the
first time a fact is seen and when its fragment is reused, and again after the memory
behind a reused fragment changed."""
from __future__ import annotations

import os
import threading
from typing import List

import cffi
import pytest

import pkcs11spy
from decode_helpers import addr, buf, const, new
from pkcs11spy import _runtime, config
from pkcs11spy.decode import CallData, decode_inputs, decode_outputs
from pkcs11spy.functions import BY_NAME, MAX_ARGS
from pkcs11spy.model import Call
from pkcs11spy.native import ffi as native
from pkcs11spy.render import json as json_render
from pkcs11spy.render import text
from pkcs11spy.sinks import Sink

CKR_OK, CKR_PIN_INCORRECT, CKR_BUFFER_TOO_SMALL = 0x0, 0xA0, 0x150
SHARED_H = os.path.join(os.path.dirname(pkcs11spy.__file__), "spy_shared.h")


def call_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    with open(SHARED_H, encoding="utf-8") as f:
        ffi.cdef("typedef unsigned long CK_RV;\n" + f.read().replace("SPY_MAX_ARGS", str(MAX_ARGS)))
    return ffi


class Harness:
    """A Tracer fed by hand-made struct spy_call records; its parts land in a list."""

    def __init__(self, fmt: str) -> None:
        self.ffi = call_ffi()
        self.parts: List[str] = []
        settings = config.load(lambda m: None, {"PKCS11SPY_FORMAT": fmt})
        sink = Sink(None, lambda m: None, writer=self._write)
        self.tracer = _runtime.Tracer(settings, sink, "module")
        self.tracer.bind(self.ffi)
        self.render = _runtime.RENDERERS[fmt]
        self.wall_ns = 1_700_000_000_123_456_789

    def _write(self, fd: int, data: bytes, length: int) -> int:
        self.parts.append(data.decode("utf-8"))
        return 0

    def call(self, name: str, args: List[int], rv: int, write_outputs=None) -> None:
        """One call through the tracer, and the same call rendered afresh; they must agree."""
        fn = BY_NAME[name]
        c = self.ffi.new("struct spy_call *")
        c.fn, c.entered, c.key, c.pid = fn.index, 1, 42, os.getpid()
        c.wall_ns, c.start_ns, c.end_ns = self.wall_ns, 1000, 3500
        for i, a in enumerate(args):
            c.args[i] = a
        seq = self.tracer._next_seq
        # Afresh, on entry: the decoders' own walk over the same memory.
        data = CallData(fn, list(args), self.tracer.settings.max_dump, False, self.tracer.policy)
        expected = Call(seq=seq, function=name, pid=os.getpid(), tid=threading.get_ident(),
                        wall_ns=self.wall_ns, inputs=decode_inputs(data), notes=list(data.notes))
        self.tracer.enter(c)
        if write_outputs:
            write_outputs()  # the module's work
        c.rv = rv
        self.tracer.exit(c)
        expected.rv, expected.rv_name, expected.duration_ns = rv, text.rv_name(rv), 2500
        expected.outputs = decode_outputs(data, rv)
        expected.exit_notes = list(data.exit_notes)
        assert self.parts[-2] == self.render.render_enter(expected)
        assert self.parts[-1] == self.render.render_exit(expected)


FORMATS = ["text", "json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_info_structure_reused_and_renewed(fmt):
    h = Harness(fmt)
    info = new("CK_SESSION_INFO", slotID=3, state=3, flags=6, ulDeviceError=0)
    for _ in range(3):  # first seen, then reused
        h.call("C_GetSessionInfo", [1, addr(info)], CKR_OK)
    info.state, info.flags = 2, 4  # same address, new contents: a new fragment
    h.call("C_GetSessionInfo", [1, addr(info)], CKR_OK)
    assert "CKS_RW_PUBLIC_SESSION" in h.parts[-1] or '"CKS_RW_PUBLIC_SESSION"' in h.parts[-1]
    h.call("C_GetSessionInfo", [2, addr(info)], 0xB3)  # CKR_SESSION_HANDLE_INVALID: no output
    h.call("C_GetSessionInfo", [2, 0], CKR_OK)          # NULL output pointer
    h.call("C_GetSessionInfo", [2, 16], CKR_OK)         # unreadable output pointer


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_length_only_output(fmt):
    h = Harness(fmt)
    out = buf(b"SECRET-RANDOM-BYTES-0123456789ab")
    for rv in (CKR_OK, CKR_OK, 0x5):
        h.call("C_GenerateRandom", [1, addr(out), 32], rv)
    h.call("C_GenerateRandom", [1, addr(out), 16], CKR_OK)
    h.call("C_GenerateRandom", [1, 0, 16], CKR_OK)
    shown = "".join(h.parts)
    assert "SECRET" not in shown and b"SECRET".hex() not in shown.lower() and "53 45 43" not in shown


@pytest.mark.parametrize("fmt", FORMATS)
def test_digest_data_and_size_query(fmt):
    h = Harness(fmt)
    mech = new("CK_MECHANISM", mechanism=const("CKM_SHA256"))
    for _ in range(2):
        h.call("C_DigestInit", [1, addr(mech)], CKR_OK)
    mech.mechanism = const("CKM_SHA384")
    h.call("C_DigestInit", [1, addr(mech)], CKR_OK)
    data, digest, length = buf(b"abc" * 20), buf(bytes(32)), new("CK_ULONG", )
    length[0] = 0
    h.call("C_Digest", [1, addr(data), 60, 0, addr(length)], CKR_OK, lambda: length.__setitem__(0, 32))
    length[0] = 16
    h.call("C_Digest", [1, addr(data), 60, addr(digest), addr(length)], CKR_BUFFER_TOO_SMALL,
           lambda: length.__setitem__(0, 32))

    def fill():
        native.memmove(digest, bytes(range(32)), 32)
    for _ in range(2):
        h.call("C_Digest", [1, addr(data), 60, addr(digest), addr(length)], CKR_OK, fill)


@pytest.mark.parametrize("fmt", FORMATS)
def test_mechanism_with_parameter_decoded_each_time(fmt):
    h = Harness(fmt)
    iv = buf(bytes(range(16)))
    mech = new("CK_MECHANISM", mechanism=const("CKM_AES_CBC"), pParameter=iv, ulParameterLen=16)
    h.call("C_EncryptInit", [1, addr(mech), 7], CKR_OK)
    native.memmove(iv, bytes(16), 16)  # same mechanism bytes, different parameter
    h.call("C_EncryptInit", [1, addr(mech), 7], CKR_OK)
    assert "0" * 32 in h.parts[-2] and "000102030405" in h.parts[-4]


@pytest.mark.parametrize("fmt", FORMATS)
def test_login_open_session_and_templates(fmt):
    h = Harness(fmt)
    pin = buf(b"1234")
    for rv in (CKR_PIN_INCORRECT, CKR_OK):
        h.call("C_Login", [1, 1, addr(pin), 4], rv)
    handle = new("CK_ULONG")
    for n in (5, 5, 9):
        h.call("C_OpenSession", [7, 6, 0, 0, addr(handle)], CKR_OK, lambda n=n: handle.__setitem__(0, n))
    label = buf(b"my key")
    template = native.new("CK_ATTRIBUTE[2]")
    template[0].type, template[0].pValue, template[0].ulValueLen = const("CKA_LABEL"), label, 6
    template[1].type, template[1].pValue, template[1].ulValueLen = const("CKA_ID"), label, 2
    h.call("C_FindObjectsInit", [1, addr(template), 2], CKR_OK)
    h.call("C_FindObjectsInit", [1, addr(template), 1], CKR_OK)
    found, count = native.new("CK_ULONG[4]"), new("CK_ULONG")
    h.call("C_FindObjects", [1, addr(found), 4, addr(count)], CKR_OK,
           lambda: (found.__setitem__(0, 11), count.__setitem__(0, 1)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_buffers_direct_and_by_the_decoders(fmt):
    """Every case of a buffer argument: the usual ones the recorder makes itself, and
    the ones it hands to the decoders, agree with the decoders' own rendering."""
    h = Harness(fmt)
    plain, cipher, length = buf(b"attack at dawn!!" * 4), buf(bytes(range(64))), new("CK_ULONG")
    big, big_out = buf(bytes(8000)), buf(bytes(8000))  # over the dump cap
    for data, n, into in ((plain, 64, cipher), (plain, 0, cipher), (big, 8000, big_out)):
        length[0] = n
        h.call("C_Encrypt", [1, addr(data), n, addr(into), addr(length)], CKR_OK)
    length[0] = 64
    h.call("C_Encrypt", [1, 16, 64, addr(cipher), addr(length)], CKR_OK)       # unreadable data
    h.call("C_Encrypt", [1, 0, 64, addr(cipher), addr(length)], 0x7)            # NULL data, error
    out = buf(bytes(64))

    def decrypted():
        native.memmove(out, b"attack at dawn!!" * 4, 64)
        length[0] = 64
    for _ in range(2):
        h.call("C_Decrypt", [1, addr(cipher), 64, addr(out), addr(length)], CKR_OK, decrypted)
    length[0] = 8
    h.call("C_Decrypt", [1, addr(cipher), 64, addr(out), addr(length)], CKR_BUFFER_TOO_SMALL,
           lambda: length.__setitem__(0, 64))
    h.call("C_Decrypt", [1, addr(cipher), 64, addr(out), 16], CKR_OK)          # unreadable length
    length[0] = 8000
    h.call("C_Decrypt", [1, addr(cipher), 64, addr(big_out), addr(length)], CKR_OK)
    assert "attack" not in "".join(h.parts) and b"attack".hex() not in "".join(h.parts).lower()


def test_cached_times_match_the_clock():
    """The per-second and per-millisecond caches of the two renderers give the same text
    as formatting each time afresh, in any order of times."""
    import datetime
    import random
    import time as clock
    rng = random.Random(7)
    times = [rng.randrange(0, 4 * 10 ** 18) for _ in range(3000)]
    base = 1_700_000_000_999_999_000
    times += [base, base + 1, base + 1000, base + 1_000_000, base - 1, base + 10 ** 9]
    for t in times:
        utc = datetime.datetime.fromtimestamp(t // 10 ** 9, datetime.timezone.utc)
        assert json_render.iso_time(t) == utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{t // 1000 % 10 ** 6:06d}Z"
        local = clock.strftime("%Y-%m-%d %H:%M:%S", clock.localtime(t // 10 ** 9))
        assert text.timestamp(t) == f"{local}.{t // 10 ** 6 % 1000:03d}"
