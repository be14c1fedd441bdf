"""What a redacted PIN field still tells: its length and its format, never its digits.

A reader of the conversation needs to know whether the application sent an ASCII PIN,
a padded PIN block or an ISO 9564 format-2 block (wrong format is a common cause of
63Cx), but must not learn the PIN itself.
"""
from __future__ import annotations

from typing import Optional, Tuple

PAD_BYTES = (0xFF, 0x00)


def _padding(data: bytes) -> Tuple[Optional[int], int]:
    """(pad byte, count) of a trailing run of 0xFF or 0x00; (None, 0) if none."""
    for pad in PAD_BYTES:
        count = len(data) - len(data.rstrip(bytes([pad])))
        if count:
            return pad, count
    return None, 0


def _format2_length(data: bytes) -> Optional[int]:
    """PIN length if `data` is an ISO 9564 format-2 PIN block (2L PP PP .. FF)."""
    if len(data) != 8 or data[0] >> 4 != 2:
        return None
    length = data[0] & 0x0F
    if not 4 <= length <= 12:
        return None
    nibbles = "".join(f"{b:02X}" for b in data[1:])
    digits, fill = nibbles[:length], nibbles[length:]
    if digits.isdigit() and set(fill) <= {"F"}:
        return length
    return None


def describe(data: bytes) -> str:
    """A description such as "8 bytes: ASCII digits, 6 characters, padded with FF"."""
    if not data:
        return "no data"
    size = f"{len(data)} byte{'s' if len(data) != 1 else ''}"
    block = _format2_length(data)
    if block is not None:
        return f"{size}: ISO 9564 format-2 PIN block, PIN of {block} digits"
    pad, count = _padding(data)
    core = data[: len(data) - count]
    padded = f", padded with {pad:02X}" if count else ""
    if core and all(0x30 <= b <= 0x39 for b in core):
        return f"{size}: ASCII digits, {len(core)} characters{padded}"
    if core and all(0x20 <= b <= 0x7E for b in core):
        return f"{size}: ASCII text, {len(core)} characters{padded}"
    if core and all(b >> 4 <= 9 and b & 0x0F <= 9 for b in core):
        return f"{size}: BCD digits{padded}"
    return f"{size}: binary{padded}"
