"""Flags by name wherever a function takes or returns them; unknown bits as a remainder."""
from __future__ import annotations

from decode_helpers import addr, keep
from pkcs11spy.decode import CallData, decode_inputs
from pkcs11spy.functions import BY_NAME
from pkcs11spy.native import ffi
from pkcs11spy.render.text import render_arg


def inputs(name: str, **raw) -> list:
    fn = BY_NAME[name]
    c = CallData(fn, [raw.get(a.name, 0) for a in fn.args], 4096, False)
    return [ln for a in decode_inputs(c) for ln in render_arg("[in]", a)]


def test_initialize_args():
    args = ffi.new("CK_C_INITIALIZE_ARGS *")
    keep.append(args)
    args.flags = 0x2 | 0x1 | 0x100
    args.CreateMutex = ffi.cast("CK_CREATEMUTEX", 0x1234)
    assert inputs("C_Initialize", pInitArgs=addr(args)) == [
        "[in] pInitArgs: ",
        "      CreateMutex:  0x1234",
        "      DestroyMutex: NULL",
        "      LockMutex:    NULL",
        "      UnlockMutex:  NULL",
        "      flags:        0x103",
        "        CKF_LIBRARY_CANT_CREATE_OS_THREADS",
        "        CKF_OS_LOCKING_OK",
        "        0x100 (unknown bits)",
        "      pReserved:    NULL"]


def test_open_session_cancel_interface_wait():
    assert inputs("C_OpenSession", slotID=1, flags=0x6)[1:4] == [
        "[in] flags = 0x6", "        CKF_RW_SESSION", "        CKF_SERIAL_SESSION"]
    assert "        CKF_SIGN" in inputs("C_SessionCancel", hSession=1, flags=0x800)
    assert "        CKF_INTERFACE_FORK_SAFE" in inputs("C_GetInterface", flags=0x1)
    assert inputs("C_WaitForSlotEvent", flags=0x1)[:2] == ["[in] flags = 0x1", "        CKF_DONT_BLOCK"]
