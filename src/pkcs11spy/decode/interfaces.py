"""Interfaces (PKCS#11 3.0): C_GetInterfaceList's list and C_GetInterface's answer.

The spy answers both itself (see _shim.c): in front of a 3.x module with its own
interfaces standing for the module's, in front of a 2.x module with one "PKCS 11"
interface it makes up.  The trace says which: answers the spy made up are marked, and an
interface the spy hands through (a vendor interface, or one it cannot proxy) is named as
unseen, because calls through it go straight to the module.  The shim is asked through
two small C functions, bound at start; without them (unit tests) no note is made.
"""
from __future__ import annotations

from typing import List, Optional

from ..memory import memory
from ..model import Field, Items, Null, Pointer, Struct, Unreadable, Value
from ..native import ffi
from . import values

CKR_OK = 0
MAX_INTERFACES_SHOWN = 64

_lib = None


def bind(lib) -> None:
    """Called once by the runtime with the shim's C functions."""
    global _lib
    _lib = lib


def spy_answers_itself() -> bool:
    return bool(_lib is not None and _lib.spy_get_interfaces_ours())


def is_own_list(address: int) -> Optional[bool]:
    if _lib is None:
        return None
    return bool(_lib.spy_is_own_list(address))


SPY_OWN_NOTE = ("answered by the spy itself: the module has no PKCS#11 3.x interfaces (a 2.x "
                "module), so the spy offers one \"PKCS 11\" interface of the module's version")


def _unseen_note(name: Value, version: Value) -> str:
    label = values_text(name)
    shown = f"{version.major}.{version.minor}" if hasattr(version, "major") else "?"
    return f"interface {label} {shown} is the module's own: calls through it are not seen by the spy"


def values_text(v: Value) -> str:
    # repr: quoted, with control characters escaped, whichever renderer shows the note.
    return repr(v.value) if hasattr(v, "value") and isinstance(v.value, str) else "(unnamed)"


def interface(address: int, notes: List[str]) -> Value:
    """One CK_INTERFACE; a note is added when its list is not one of the spy's."""
    i = memory.struct("CK_INTERFACE", address)
    if i is None:
        return Unreadable(address, ffi.sizeof("CK_INTERFACE"))
    name_address = int(ffi.cast("uintptr_t", i.pInterfaceName))
    raw_name = memory.cstring(name_address) if name_address else None
    name: Value = values.utf8_text(raw_name) if raw_name is not None else Null()
    list_address = int(ffi.cast("uintptr_t", i.pFunctionList))
    v = memory.struct("CK_VERSION", list_address) if list_address else None
    version: Value = values.version(v) if v is not None else Null()
    if list_address and is_own_list(list_address) is False:
        notes.append(_unseen_note(name, version))
    return Struct("CK_INTERFACE", [
        Field("pInterfaceName", name),
        Field("version", version),
        Field("pFunctionList", Pointer(list_address)),
        Field("flags", values.flags("interface", int(i.flags))),
    ])


def interface_list(address: int, count: Optional[int], rv: int, notes: List[str]) -> Optional[Value]:
    if spy_answers_itself():
        notes.append(SPY_OWN_NOTE)
    if rv != CKR_OK or address == 0 or count is None:
        return None
    size = ffi.sizeof("CK_INTERFACE")
    items = [interface(address + n * size, notes) for n in range(min(count, MAX_INTERFACES_SHOWN))]
    return Items("interface", items, count)


def interface_answer(pointer: Optional[int], rv: int, notes: List[str]) -> Optional[Value]:
    """*ppInterface: looked at only after CKR_OK, and read only when not NULL."""
    if spy_answers_itself():
        notes.append(SPY_OWN_NOTE)
    if rv != CKR_OK:
        return None
    if not pointer:
        if pointer == 0:
            notes.append("the module returned CKR_OK with *ppInterface NULL (a module bug); "
                         "the spy passed it on unchanged")
        return Null()
    return interface(pointer, notes)
