"""Catalog of PKCS#11 3.2 constants (plus NSS vendor values) as data.

Every lookup answers: unknown values get a vendor-relative or hex spelling
instead of an exception, because a tracer must never fail on what it sees.

    family("CKR").name_of(0xA0)               -> "CKR_PIN_INCORRECT"
    family("CKM").name_of(0x80000123)         -> "CKM_VENDOR_DEFINED+0x123"
    flagset("session").describe(6)            -> "CKF_RW_SESSION | CKF_SERIAL_SESSION"
    attribute_kind(0x40000600)                -> "mechanism_list"
    is_secret_attribute(0x11, 4)              -> True   (CKA_VALUE of a secret key)
"""

from __future__ import annotations

from .attributes import attribute_kind, is_secret_attribute, parameter_set_family
from .families import FAMILIES, FLAGSETS, Family, FlagSet, family, flagset, format_hex, lookup

RV_VENDOR_DEFINED = 0x80000000
CK_EFFECTIVELY_INFINITE = 0
CK_INVALID_HANDLE = 0


def unavailable(ulong_bits: int = 64) -> int:
    """CK_UNAVAILABLE_INFORMATION (~0UL) for a CK_ULONG of ulong_bits bits.

    CK_ULONG is 64 bits on LP64 (Linux, macOS x86_64/arm64) and 32 bits on
    Windows and 32-bit platforms, so the all-ones value depends on the target.
    """
    return (1 << ulong_bits) - 1


__all__ = [
    "CK_EFFECTIVELY_INFINITE",
    "CK_INVALID_HANDLE",
    "FAMILIES",
    "FLAGSETS",
    "Family",
    "FlagSet",
    "RV_VENDOR_DEFINED",
    "attribute_kind",
    "family",
    "flagset",
    "format_hex",
    "is_secret_attribute",
    "lookup",
    "parameter_set_family",
    "unavailable",
]
