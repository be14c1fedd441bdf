"""Turn a call's raw arguments into the record model.

``decode_inputs`` runs before the call is forwarded, ``decode_outputs`` after; both walk
the function table (functions.py) and pick a decoder per argument kind.  Outputs are
decoded only when the return code makes them valid (see ``outputs_valid``).
"""
from __future__ import annotations

from .walker import CallData, decode_inputs, decode_outputs

__all__ = ["CallData", "decode_inputs", "decode_outputs"]
