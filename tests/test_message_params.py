"""The message-parameter decoder alone (no shim): structures chosen by the session's
message mechanism, bytes when the mechanism or the length does not fit, outputs only
after CKR_OK and only from the calls that write them, bad pointers never fatal."""
from __future__ import annotations

from pkcs11spy.decode import message
from pkcs11spy.model import Bytes, Struct, Unreadable
from pkcs11spy.native import ffi

CKM_AES_GCM = 0x1087
CKM_SHA256_HMAC = 0x251
CAP = 256


def address(cdata) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def gcm(generator: int = 3, iv_address=None):
    iv = ffi.new("CK_BYTE[12]", b"\x11" * 12)
    tag = ffi.new("CK_BYTE[16]", b"\x7a" * 16)
    p = ffi.new("CK_GCM_MESSAGE_PARAMS *")
    p.pIv = iv if iv_address is None else ffi.cast("CK_BYTE_PTR", iv_address)
    p.ulIvLen, p.ulIvFixedBits, p.ivGenerator, p.pTag, p.ulTagBits = 12, 32, generator, tag, 128
    return p, (iv, tag)


def fields(value) -> dict:
    assert isinstance(value, Struct), value
    return {f.name: f.value for f in value.fields}


def test_structure_follows_the_init_of_the_session():
    p, keep = gcm()
    size = ffi.sizeof("CK_GCM_MESSAGE_PARAMS")
    message.SESSIONS.started(0x900, "encrypt", CKM_AES_GCM)
    got = fields(message.decode_entry("C_EncryptMessage", 0x900, address(p), size, CAP))
    assert got["ivGenerator"].name == "CKG_GENERATE_RANDOM"
    assert isinstance(got["pIv"], Bytes) and got["pIv"].data == b"\x11" * 12
    # Another session, or the decrypt side of this one, has no GCM init: bytes.
    assert isinstance(message.decode_entry("C_EncryptMessage", 0x901, address(p), size, CAP), Bytes)
    assert isinstance(message.decode_entry("C_DecryptMessage", 0x900, address(p), size, CAP), Bytes)


def test_bytes_when_the_length_or_mechanism_does_not_fit():
    p, keep = gcm()
    message.SESSIONS.started(0x902, "encrypt", CKM_AES_GCM)
    assert isinstance(message.decode_entry("C_EncryptMessage", 0x902, address(p), 40, CAP), Bytes)
    message.SESSIONS.started(0x903, "sign", CKM_SHA256_HMAC)
    assert isinstance(message.decode_entry("C_SignMessage", 0x903, address(p), 48, CAP), Bytes)


def test_outputs_by_call_and_return_code():
    p, keep = gcm()
    size = ffi.sizeof("CK_GCM_MESSAGE_PARAMS")
    message.SESSIONS.started(0x904, "encrypt", CKM_AES_GCM)
    assert message.decode_exit("C_EncryptMessage", 0x904, address(p), size, CAP, rv=0x150) is None
    assert set(fields(message.decode_exit("C_EncryptMessage", 0x904, address(p), size, CAP, 0))) == {"pIv", "pTag"}
    assert set(fields(message.decode_exit("C_EncryptMessageBegin", 0x904, address(p), size, CAP, 0))) == {"pIv"}
    assert message.decode_exit("C_EncryptMessageNext", 0x904, address(p), size, CAP, 0, flags=0) is None
    assert set(fields(message.decode_exit("C_EncryptMessageNext", 0x904, address(p), size, CAP, 0, 1))) == {"pTag"}
    q, keep2 = gcm(generator=0)
    assert set(fields(message.decode_exit("C_EncryptMessage", 0x904, address(q), size, CAP, 0))) == {"pTag"}


def test_bad_iv_pointer_is_unreadable_not_fatal():
    p, keep = gcm(iv_address=0x10)
    message.SESSIONS.started(0x905, "encrypt", CKM_AES_GCM)
    got = fields(message.decode_entry("C_EncryptMessage", 0x905, address(p), 48, CAP))
    assert isinstance(got["pIv"], Unreadable)
    assert isinstance(message.decode_entry("C_EncryptMessage", 0x905, 0x10, 48, CAP), Unreadable)
