"""Hand-written traces for the analysis tests, in our layout and OpenSC's (old form with a
timestamp line, new form with P:/T:).  Each call is written once as the lines both spies
print the same way, plus per-format lines where they differ (PINs, slot lists)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

CKR_NAMES = {0: "CKR_OK", 0xA0: "CKR_PIN_INCORRECT", 0xA2: "CKR_PIN_LEN_RANGE", 0xA4: "CKR_PIN_LOCKED",
             0x100: "CKR_USER_ALREADY_LOGGED_IN", 0x90: "CKR_OPERATION_ACTIVE",
             0x91: "CKR_OPERATION_NOT_INITIALIZED", 0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
             0x190: "CKR_CRYPTOKI_NOT_INITIALIZED", 0x150: "CKR_BUFFER_TOO_SMALL", 0x5: "CKR_GENERAL_ERROR",
             0x71: "CKR_MECHANISM_PARAM_INVALID", 0x63: "CKR_KEY_TYPE_INCONSISTENT", 0x70: "CKR_MECHANISM_INVALID"}


@dataclass
class C:
    fn: str
    rv: Optional[int] = 0
    lines: List[str] = field(default_factory=list)
    ours: List[str] = field(default_factory=list)
    opensc: List[str] = field(default_factory=list)
    tid: int = 0x7f01


def pin(text: bytes) -> C:
    """The PIN argument of C_Login in each layout."""
    printable = all(0x20 <= b < 0x7F for b in text)
    rows = " ".join(f"{b:02X}" for b in text)
    return C("", ours=[f"[in] pPin[ulPinLen] = <PIN hidden: {len(text)} bytes, "
                       f"{'printable text' if printable else 'not printable text'}>"],
             opensc=[f"[in] pPin[ulPinLen] 00007ffc1391da6a / {len(text)}",
                     f"    00000000  {rows:<47}  ................"])


def login(user: str, rv: int, secret: bytes = b"1234", session: int = 1, tid: int = 0x7f01) -> C:
    p = pin(secret)
    return C("C_Login", rv, [f"[in] hSession = 0x{session:x}", f"[in] userType = {user}"], p.ours, p.opensc, tid)


def token_info(flags: List[str], min_len: int = 4, max_len: int = 8) -> C:
    info = ["[in] slotID = 0x1", "[out] pInfo: ", "      label:                'test-token                      '",
            f"      ulMaxPinLen:          {max_len}", f"      ulMinPinLen:          {min_len}"]
    return C("C_GetTokenInfo", 0, info, ours=["      flags:                0x40d"] + [f"        {f}" for f in flags],
             opensc=["      flags:                   40d"] + [f"        {f:<33}" for f in flags])


def open_session(handle: int, rv: int = 0, tid: int = 0x7f01) -> C:
    return C("C_OpenSession", rv, ["[in] slotID = 0x1", "[in] flags = 0x6", f"[out] *phSession = 0x{handle:x}"], tid=tid)


def simple(fn: str, rv: int = 0, *lines: str, tid: int = 0x7f01) -> C:
    return C(fn, rv, list(lines), tid=tid)


def render(calls: List[C], fmt: str, pid: int = 4242, banner: bool = True) -> str:
    """fmt: 'ours', 'opensc' (old form, timestamp only) or 'opensc-new' (P:/T: line)."""
    out = []
    if banner:
        tool = "pkcs11spy 0.1.0" if fmt == "ours" else "OpenSC PKCS#11 spy"
        out += [f"*************** {tool} *****************", 'Loaded: "/usr/lib/softhsm/libsofthsm2.so"']
    for seq, c in enumerate(calls):
        out += ["", f"{seq}: {c.fn}"]
        if fmt == "ours":
            out.append(f"P:{pid}; T:0x{c.tid:x} 2026-12-03 10:00:00.{seq % 1000:03d}")
        elif fmt == "opensc-new":
            out.append(f"P:{pid}; T:0x{c.tid} 2026-12-03 10:00:00.{seq % 1000:03d}")
        else:
            out.append(f"2026-12-03 10:00:00.{seq % 1000:03d}")
        ins = [ln for ln in c.lines if not ln.startswith("[out]") and not ln.startswith("      ")]
        rest = [ln for ln in c.lines if ln not in ins]
        extra = c.ours if fmt == "ours" else c.opensc
        out += ins + [ln for ln in extra if ln.startswith("[in]") or ln.startswith("    0")] + rest
        out += [ln for ln in extra if not (ln.startswith("[in]") or ln.startswith("    0"))]
        if c.rv is not None:
            name = CKR_NAMES.get(c.rv, "(null)")
            out.append(f"Returned:  {c.rv} {name}" + (" (0.010 ms)" if fmt == "ours" else ""))
    return "\n".join(out) + "\n"


FORMATS = ["ours", "opensc", "opensc-new"]
