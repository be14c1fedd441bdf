"""What the trace may show of a secret: the one policy every decoder asks.

Decoders never read a secret and drop it later: before reading a buffer they ask the
policy, and for a secret the policy returns a ``Redacted`` value built from what may be
said about it.  The secret's bytes never reach the record model, so no renderer (text,
JSON, filters) can leak them.

Default (``PKCS11SPY_SHOW_SECRETS`` unset), per issue 5:

* PINs (arguments flagged ``secret`` whose name says PIN): length, whether the bytes were
  printable text, and whether the length is within the token's ``ulMinPinLen`` ..
  ``ulMaxPinLen`` (learnt from ``C_GetTokenInfo`` outputs per slot, and from
  ``C_OpenSession`` per session).
* Other ``secret`` arguments (wrapped keys, seeds, random output, operation state):
  length only.
* Secret attribute values in templates, nested ones included (``catalog``'s list).
* Secret fields of mechanism parameters (``SECRET_PARAMETER_FIELDS``).
* Application data of Encrypt/Decrypt/Sign/Verify/Digest calls (arguments flagged
  ``data``): length and a keyed fingerprint, keyed BLAKE2b (a MAC; one call into C,
  several times cheaper than HMAC-SHA256 on the hot path) under a random key made once per
  process, 8 bytes.  Equal buffers have equal fingerprints within one process, so
  "was the data signed the same as the data verified?" can be answered without the data;
  across processes the key differs, so a fingerprint cannot be tested against guesses.

``PKCS11SPY_SHOW_SECRETS=1`` shows all of it, and the banner says so in words.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional, Tuple

from . import catalog
from .memory import ULONG_MAX, memory
from .model import Null, Redacted, Value

FINGERPRINT_BYTES = 8
FINGERPRINT_LIMIT = 64 * 1024 * 1024  # larger buffers: fingerprint of the first 64 MiB
CHUNK = 1024 * 1024
PRINTABLE_CHECK = 4096                # PIN bytes looked at for "printable"

# Fields of mechanism parameter structures that carry a secret: decoders of parameters
# ask ``hides_parameter_field`` before reading the buffer a field points to.
SECRET_PARAMETER_FIELDS = frozenset({
    ("CK_PKCS5_PBKD2_PARAMS", "pPassword"),
    ("CK_PKCS5_PBKD2_PARAMS2", "pPassword"),
    ("CK_PBE_PARAMS", "pPassword"),
    ("CK_KIP_PARAMS", "pSeed"),
    ("CK_KEY_DERIVATION_STRING_DATA", "pData"),  # XOR/concatenated with a key: key material
})
# TLS/SSL pre-master and master secrets and ECDH/DH shared secrets are key objects
# (handles), never parameter buffers, so they need no entry here.


def _kind_of_secret(name: str) -> str:
    """What a secret argument holds, from its name in the function table."""
    lowered = name.lower()
    for word, what in (("pin", "PIN"), ("username", "user name"), ("wrapped", "wrapped key"),
                       ("random", "random data"), ("seed", "seed"), ("operationstate", "operation state")):
        if word in lowered:
            return what
    return "secret"


def printable(data: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in data)


class Policy:
    """One per process (the tracer's): the switch, the fingerprint key, PIN limits."""

    # The functions whose results ``learn`` reads.
    LEARNS = frozenset({"C_GetTokenInfo", "C_OpenSession", "C_CloseSession", "C_CloseAllSessions",
                        "C_Finalize"})

    # No lock: single dict operations are atomic under the GIL, and a lock held by
    # another thread at fork would hang the child.
    def __init__(self, show_secrets: bool) -> None:
        self.show_secrets = show_secrets
        self._key = b""
        os.register_at_fork(after_in_child=self.forget_key)
        self._pin_limits: Dict[int, Tuple[int, int]] = {}  # slot -> (min, max)
        self._session_slot: Dict[int, int] = {}           # session handle -> slot

    def _fingerprint_key(self) -> bytes:
        # Made on first use and again in a forked child: one key per process.
        if not self._key:
            self._key = os.urandom(32)
        return self._key

    def forget_key(self) -> None:
        """After a fork: Python's fork hook calls it, and the tracer for forks no Python
        hook saw (C code forking in a Python host)."""
        self._key = b""

    # ---- what is hidden -------------------------------------------------------------

    def hides(self, arg) -> bool:
        """arg: a functions.Arg.  True when its bytes must not be read into the trace."""
        return not self.show_secrets and (arg.secret or arg.data)

    @staticmethod
    def redacted_kind(name: str) -> str:
        """What a hidden argument of this name is said to hold ("PIN", "random data", ...)."""
        return _kind_of_secret(name)

    def hides_attribute(self, attr_type: int, object_class: Optional[int]) -> bool:
        if self.show_secrets:
            return False
        try:
            return catalog.is_secret_attribute(attr_type, object_class)
        except Exception:
            return True  # cannot tell: hide

    def hides_parameter_field(self, struct_name: str, field: str) -> bool:
        return not self.show_secrets and (struct_name, field) in SECRET_PARAMETER_FIELDS

    # ---- what is shown instead --------------------------------------------------------

    def redacted(self, arg, address: int, length: int, slot: Optional[int] = None) -> Value:
        """The stand-in for a hidden argument's buffer (see ``hides``)."""
        if address == 0:
            return Null(length if length else None)
        if arg.data:
            return self.data(address, length)
        what = _kind_of_secret(arg.name)
        if what == "PIN":
            return self.pin(address, length, slot)
        return Redacted(length, what)

    def pin(self, address: int, length: int, slot: Optional[int]) -> Redacted:
        facts = []
        sample = memory.read(address, min(length, PRINTABLE_CHECK)) if length else b""
        if sample is None:
            facts.append("unreadable")
        elif length:
            facts.append("printable text" if printable(sample) else "not printable text")
        del sample
        facts.append(self._pin_length_fact(length, slot))
        return Redacted(length, "PIN", facts)

    def _pin_length_fact(self, length: int, slot: Optional[int]) -> str:
        limits = self._pin_limits.get(slot) if slot is not None else None
        if limits is None:
            return "token PIN limits not seen"
        low, high = limits
        if length < low:
            return f"shorter than the token's minimum {low}"
        if high >= ULONG_MAX:  # CK_UNAVAILABLE_INFORMATION: no maximum given
            return f"not shorter than the token's minimum {low}"
        if length > high:
            return f"longer than the token's maximum {high}"
        return f"length within the token's {low}..{high}"

    def fingerprint(self, data: bytes, length: int) -> str:
        """The fingerprint of a buffer of length bytes, all of them in data (length at
        most CHUNK)."""
        mac = hashlib.blake2b(data, key=self._fingerprint_key(), digest_size=FINGERPRINT_BYTES)
        mac.update(length.to_bytes(8, "little"))
        return mac.hexdigest()

    @staticmethod
    def fingerprinted(length: int, fingerprint: str) -> Redacted:
        """What the trace shows of a data buffer of that length and fingerprint."""
        return Redacted(length, "data", [f"fingerprint {fingerprint}"])

    def data(self, address: int, length: int) -> Redacted:
        limit = min(length, FINGERPRINT_LIMIT)
        if limit <= CHUNK:  # the usual buffer: one read, one call into the hash
            chunk = memory.read(address, limit)
            if chunk is None:
                return Redacted(length, "data", ["unreadable"])
            return self.fingerprinted(length, self.fingerprint(chunk, length))
        mac = hashlib.blake2b(key=self._fingerprint_key(), digest_size=FINGERPRINT_BYTES)
        done = 0
        while done < limit:
            chunk = memory.read(address + done, min(CHUNK, limit - done))
            if chunk is None:
                return Redacted(length, "data", ["unreadable"])
            mac.update(chunk)
            done += len(chunk)
        mac.update(length.to_bytes(8, "little"))
        note = f"fingerprint {mac.hexdigest()}"
        if length > limit:
            note += f" (of the first {limit} bytes)"
        return Redacted(length, "data", [note])

    # ---- learning PIN limits ---------------------------------------------------------

    def slot_of_session(self, session: int) -> Optional[int]:
        return self._session_slot.get(session)

    def learn(self, function: str, raw: Dict[str, int], rv: int) -> None:
        """After a call: remember what later PIN facts need.  Reads only outputs the
        return code made valid."""
        if rv != 0:
            return
        if function == "C_GetTokenInfo":
            info = memory.struct("CK_TOKEN_INFO", raw["pInfo"]) if raw["pInfo"] else None
            if info is not None:
                self._pin_limits[raw["slotID"]] = (int(info.ulMinPinLen), int(info.ulMaxPinLen))
        elif function == "C_OpenSession":
            handle = memory.ulong(raw["phSession"]) if raw["phSession"] else None
            if handle is not None:
                self._session_slot[handle] = raw["slotID"]
        elif function == "C_CloseSession":
            self._session_slot.pop(raw["hSession"], None)
        elif function == "C_CloseAllSessions":
            for h, s in list(self._session_slot.items()):
                if s == raw["slotID"]:
                    self._session_slot.pop(h, None)
        elif function == "C_Finalize":
            self._session_slot.clear()


_defaults: Dict[bool, Policy] = {}


def default_policy(show_secrets: bool) -> Policy:
    """A shared policy for decoding outside a tracer (tests, tools)."""
    if show_secrets not in _defaults:
        _defaults[show_secrets] = Policy(show_secrets)
    return _defaults[show_secrets]
