"""The parameters of the message-based functions (PKCS#11 3.0: C_EncryptMessage and its
family).

``pParameter`` of C_EncryptMessage and the others is a ``void *`` whose structure is set
by the mechanism of the session's current message operation, given earlier to
C_MessageEncryptInit (or Decrypt, Sign, Verify).  So the inits are remembered per session
and operation, and each message call decodes its parameter with the structure of that
mechanism.  Some fields are outputs: a token-generated IV or nonce (when a generator is
asked for) and the tag or MAC of an encryption; they are shown again on exit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..memory import memory
from ..model import Arg, Field, Scalar, Struct, Unreadable, Value
from ..native import ffi
from . import values

CKR_OK = 0
CKG_NO_GENERATE = 0
POLY1305_TAG_BYTES = 16

# Which operation each message function belongs to.
OPERATION_OF_INIT: Dict[str, str] = {
    "C_MessageEncryptInit": "encrypt", "C_MessageDecryptInit": "decrypt",
    "C_MessageSignInit": "sign", "C_MessageVerifyInit": "verify",
}
OPERATION_OF_CALL: Dict[str, str] = {
    "C_EncryptMessage": "encrypt", "C_EncryptMessageBegin": "encrypt", "C_EncryptMessageNext": "encrypt",
    "C_DecryptMessage": "decrypt", "C_DecryptMessageBegin": "decrypt", "C_DecryptMessageNext": "decrypt",
    "C_SignMessage": "sign", "C_SignMessageBegin": "sign", "C_SignMessageNext": "sign",
    "C_VerifyMessage": "verify", "C_VerifyMessageBegin": "verify", "C_VerifyMessageNext": "verify",
}


class MessageSessions:
    """The mechanism of each session's current message operation, by operation kind."""

    # No lock: one dict store or get is atomic under the GIL, and a lock held by another
    # thread at fork would stay held for ever in the child.
    def __init__(self) -> None:
        self._mechanisms: Dict[Tuple[int, str], int] = {}

    def started(self, session: int, operation: str, mechanism: int) -> None:
        self._mechanisms[(session, operation)] = mechanism

    def mechanism(self, session: int, operation: str) -> Optional[int]:
        return self._mechanisms.get((session, operation))


SESSIONS = MessageSessions()


@dataclass(frozen=True)
class Layout:
    """How one mechanism's message parameter is read."""
    ctype: str
    fields: Callable  # (struct, cap) -> List[Field]
    outputs: Callable  # (struct, cap, operation) -> List[Field]: what the token wrote


def _bytes(address, length: int, cap: int) -> Value:
    return values.buffer(int(ffi.cast("uintptr_t", address)), length, cap)


def _gcm_fields(p, cap: int) -> List[Field]:
    return [
        Field("pIv", _bytes(p.pIv, int(p.ulIvLen), cap)),
        Field("ulIvLen", Scalar(int(p.ulIvLen), decimal=True)),
        Field("ulIvFixedBits", Scalar(int(p.ulIvFixedBits), decimal=True)),
        Field("ivGenerator", values.const("CKG_GENERATOR", int(p.ivGenerator))),
        Field("pTag", _bytes(p.pTag, int(p.ulTagBits) // 8, cap)),
        Field("ulTagBits", Scalar(int(p.ulTagBits), decimal=True)),
    ]


def _gcm_outputs(p, cap: int, operation: str) -> List[Field]:
    out = []
    if operation == "encrypt" and int(p.ivGenerator) != CKG_NO_GENERATE:
        out.append(Field("pIv", _bytes(p.pIv, int(p.ulIvLen), cap)))
    if operation == "encrypt":
        out.append(Field("pTag", _bytes(p.pTag, int(p.ulTagBits) // 8, cap)))
    return out


def _ccm_fields(p, cap: int) -> List[Field]:
    return [
        Field("ulDataLen", Scalar(int(p.ulDataLen), decimal=True)),
        Field("pNonce", _bytes(p.pNonce, int(p.ulNonceLen), cap)),
        Field("ulNonceLen", Scalar(int(p.ulNonceLen), decimal=True)),
        Field("ulNonceFixedBits", Scalar(int(p.ulNonceFixedBits), decimal=True)),
        Field("nonceGenerator", values.const("CKG_GENERATOR", int(p.nonceGenerator))),
        Field("pMAC", _bytes(p.pMAC, int(p.ulMACLen), cap)),
        Field("ulMACLen", Scalar(int(p.ulMACLen), decimal=True)),
    ]


def _ccm_outputs(p, cap: int, operation: str) -> List[Field]:
    out = []
    if operation == "encrypt" and int(p.nonceGenerator) != CKG_NO_GENERATE:
        out.append(Field("pNonce", _bytes(p.pNonce, int(p.ulNonceLen), cap)))
    if operation == "encrypt":
        out.append(Field("pMAC", _bytes(p.pMAC, int(p.ulMACLen), cap)))
    return out


def _poly1305_fields(p, cap: int) -> List[Field]:
    return [
        Field("pNonce", _bytes(p.pNonce, int(p.ulNonceLen), cap)),
        Field("ulNonceLen", Scalar(int(p.ulNonceLen), decimal=True)),
        Field("pTag", _bytes(p.pTag, POLY1305_TAG_BYTES, cap)),
    ]


def _poly1305_outputs(p, cap: int, operation: str) -> List[Field]:
    return [Field("pTag", _bytes(p.pTag, POLY1305_TAG_BYTES, cap))] if operation == "encrypt" else []


GCM = Layout("CK_GCM_MESSAGE_PARAMS", _gcm_fields, _gcm_outputs)
CCM = Layout("CK_CCM_MESSAGE_PARAMS", _ccm_fields, _ccm_outputs)
POLY1305 = Layout("CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS", _poly1305_fields, _poly1305_outputs)

# By mechanism name (resolved through the catalog, so no number is written twice).
LAYOUT_BY_MECHANISM: Dict[str, Layout] = {
    "CKM_AES_GCM": GCM,
    "CKM_AES_CCM": CCM,
    "CKM_CHACHA20_POLY1305": POLY1305,
    "CKM_SALSA20_POLY1305": POLY1305,
}


def layout_for(mechanism: Optional[int]) -> Optional[Layout]:
    if mechanism is None:
        return None
    v = values.const("CKM", mechanism)
    return LAYOUT_BY_MECHANISM.get(getattr(v, "name", ""))


def remember_init(function: str, session: int, mechanism_address: int) -> None:
    """A C_Message*Init: remember its mechanism for the session's message calls."""
    operation = OPERATION_OF_INIT.get(function)
    if operation is None or mechanism_address == 0:
        return
    m = memory.struct("CK_MECHANISM", mechanism_address)
    if m is not None:
        SESSIONS.started(session, operation, int(m.mechanism))


def _read(function: str, session: int, address: int, length: int):
    """(layout, struct, operation) for this call, or None when bytes are all we can say."""
    operation = OPERATION_OF_CALL.get(function, "")
    layout = layout_for(SESSIONS.mechanism(session, operation))
    if layout is None or address == 0 or length != ffi.sizeof(layout.ctype):
        return None
    p = memory.struct(layout.ctype, address)
    return None if p is None else (layout, p, operation)


def decode_entry(function: str, session: int, address: int, length: int, cap: int) -> Value:
    found = _read(function, session, address, length)
    if found is None:
        return values.buffer(address, length, cap)
    layout, p, _ = found
    return Struct(layout.ctype, layout.fields(p, cap))


# Which outputs each encrypting call gives: the generated IV or nonce comes from the
# call that starts a message, the tag or MAC from the one that ends it.
CKF_END_OF_MESSAGE = 0x1
WRITES_IV = {"C_EncryptMessage", "C_EncryptMessageBegin"}


def _writes_tag(function: str, flags: int) -> bool:
    return function == "C_EncryptMessage" or (function == "C_EncryptMessageNext"
                                              and bool(flags & CKF_END_OF_MESSAGE))


def decode_exit(function: str, session: int, address: int, length: int, cap: int, rv: int,
                flags: int = 0) -> Optional[Value]:
    """What the token wrote into the parameter (generated IV, tag); None if nothing."""
    if rv != CKR_OK:
        return None
    found = _read(function, session, address, length)
    if found is None:
        return None
    layout, p, operation = found
    tag_fields = {"pTag", "pMAC"}
    fields = [f for f in layout.outputs(p, cap, operation)
              if (f.name in tag_fields and _writes_tag(function, flags))
              or (f.name not in tag_fields and function in WRITES_IV)]
    return Struct(layout.ctype, fields) if fields else None


__all__ = ["SESSIONS", "remember_init", "decode_entry", "decode_exit", "layout_for", "Unreadable", "Arg"]
