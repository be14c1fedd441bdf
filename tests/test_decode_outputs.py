"""The output rules, for every function: outputs only when the return code makes them
valid, sizes on size queries and CKR_BUFFER_TOO_SMALL, per-attribute results of
C_GetAttributeValue under its three partial codes."""
from __future__ import annotations

from decode_helpers import addr, buf, const, template, ulong
from pkcs11spy.decode import CallData, decode_inputs, decode_outputs
from pkcs11spy.functions import BY_NAME
from pkcs11spy.memory import ULONG_MAX
from pkcs11spy.native import ffi
from pkcs11spy.render.text import render_arg

CKR = {"OK": 0, "GENERAL_ERROR": 5, "ATTRIBUTE_SENSITIVE": 0x11, "ATTRIBUTE_TYPE_INVALID": 0x12,
       "BUFFER_TOO_SMALL": 0x150, "NO_EVENT": 8}


def call(name: str, **raw) -> CallData:
    fn = BY_NAME[name]
    return CallData(fn, [raw.get(a.name, 0) for a in fn.args], 4096, False)


def lines(side: str, args) -> list:
    return [ln for a in args for ln in render_arg(side, a)]


def run(c: CallData, rv: str):
    ins = lines("[in]", decode_inputs(c))
    return ins, lines("[out]", decode_outputs(c, CKR[rv]))


def test_get_attribute_value_partial_results_are_shown_and_marked():
    for rv in ("ATTRIBUTE_SENSITIVE", "ATTRIBUTE_TYPE_INVALID", "BUFFER_TOO_SMALL"):
        array = template(("CKA_CLASS", ulong(const("CKO_SECRET_KEY"))), ("CKA_VALUE_LEN", ulong(0)),
                         ("CKA_VALUE", b"\x00" * 32))
        c = call("C_GetAttributeValue", hSession=1, hObject=2, pTemplate=addr(array), ulCount=3)
        ins = lines("[in]", decode_inputs(c))
        assert "    CKA_VALUE             requested with 32 bytes" in ins  # the buffer is not dumped
        array[1].pValue = buf(ulong(32))
        array[2].ulValueLen = ULONG_MAX  # what the module writes for the one it could not give
        outs = lines("[out]", decode_outputs(c, CKR[rv]))
        assert outs == ["[out] pTemplate[3]: ",
                        "    CKA_CLASS             CKO_SECRET_KEY",
                        "    CKA_VALUE_LEN         32",
                        "    CKA_VALUE             CK_UNAVAILABLE_INFORMATION"], rv
    c = call("C_GetAttributeValue", hSession=1, hObject=2, pTemplate=addr(array), ulCount=3)
    decode_inputs(c)
    assert decode_outputs(c, CKR["GENERAL_ERROR"]) == []


def test_size_query_and_buffer_too_small_show_the_length():
    data = buf(b"data")
    length = ffi.new("CK_ULONG *", 256)
    c = call("C_Sign", hSession=1, pData=addr(data), ulDataLen=4, pSignature=0, pulSignatureLen=addr(length))
    _, outs = run(c, "OK")
    assert outs == ["[out] pSignature[ulSignatureLen] = NULL [size : 0x100 (256)]"]
    sig = buf(b"\x00" * 16)
    c = call("C_Sign", hSession=1, pData=addr(data), ulDataLen=4, pSignature=addr(sig), pulSignatureLen=addr(length))
    _, outs = run(c, "BUFFER_TOO_SMALL")
    assert outs == ["[out] *pulSignatureLen = 256"]
    _, outs = run(c, "GENERAL_ERROR")
    assert outs == []


def test_slot_list_count_in_and_out():
    count = ffi.new("CK_ULONG *", 4)
    slots = ffi.new("CK_SLOT_ID[4]", [0x11, 0x22, 0, 0])
    c = call("C_GetSlotList", tokenPresent=1, pSlotList=addr(slots), pulCount=addr(count))
    ins = lines("[in]", decode_inputs(c))
    count[0] = 2
    outs = lines("[out]", decode_outputs(c, 0))
    assert "[in] *pulCount = 4" in ins
    assert outs == ["[out] pSlotList[2]: ", "Slot 0x11", "Slot 0x22", "[out] *pulCount = 4 => 2"]


def test_wait_for_slot_event_and_open_session_outputs_only_on_ok():
    slot = ffi.new("CK_SLOT_ID *", 7)
    c = call("C_WaitForSlotEvent", flags=1, pSlot=addr(slot))
    ins, outs = run(c, "OK")
    assert ins[:2] == ["[in] flags = 0x1", "        CKF_DONT_BLOCK"] and outs == ["[out] *pSlot = 0x7"]
    _, outs = run(c, "NO_EVENT")
    assert outs == []
    handle = ffi.new("CK_SESSION_HANDLE *", 0xdead)
    c = call("C_OpenSession", slotID=1, flags=6, phSession=addr(handle))
    _, outs = run(c, "GENERAL_ERROR")
    assert outs == []


def test_hexdump_rows_printable_ascii_and_the_cap():
    data = buf(bytes(range(0x1E, 0x2E)) + b"\x7e\x7f\x80\xff" + b"\x00" * (1048576 - 20))
    # A signature: not application data, so dumped (data is fingerprinted by default).
    fn = BY_NAME["C_VerifyFinal"]
    raw = {"hSession": 1, "pSignature": addr(data), "ulSignatureLen": 1048576}
    c = CallData(fn, [raw.get(a.name, 0) for a in fn.args], 4096, False)
    ins = lines("[in]", decode_inputs(c))
    assert ins[1].endswith(" / 1048576")
    assert ins[2] == "    00000000  1E 1F 20 21 22 23 24 25 26 27 28 29 2A 2B 2C 2D  .. !\"#$%&'()*+,-"
    assert ins[3].startswith("    00000010  7E 7F 80 FF 00") and ins[3].endswith("  ~...............")
    assert len(ins) == 2 + 4096 // 16 + 1 and ins[-1] == "    ... 1048576 bytes, 4096 shown"
