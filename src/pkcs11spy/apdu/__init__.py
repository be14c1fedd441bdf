"""Below PKCS#11: an OpenSC debug log read as the APDU conversation with the card.

``logread`` turns the log's lines into events, ``iso7816`` names every part of a
command and response from the tables in ``data/``, ``conversation`` pairs commands
with responses and rebuilds who caused them and OpenSC's error chains, ``render``
prints text or JSON. `read_conversation(path)` does the first three.
"""
from __future__ import annotations

from .conversation import Conversation, build
from .logread import read_file


def read_conversation(path: str, show_secrets: bool = False) -> Conversation:
    """Raises OSError (cannot open) or ValueError (not text)."""
    return build(read_file(path), show_secrets=show_secrets)


__all__ = ["Conversation", "read_conversation"]
