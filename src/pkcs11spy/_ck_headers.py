"""The C declarations the decoders lay structures out from: ``ck_types.h`` (shared with
the C shim) and every ``ck_params_*.h`` (structures only the decoders need: mechanism
and message parameters), in name order, without preprocessor lines.

A plain module (no package imports): the install-time build (_build_types.py) reads it
as well as the package.
"""
from __future__ import annotations

import glob
import os
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))


def header_files() -> List[str]:
    return [os.path.join(HERE, "ck_types.h")] + sorted(glob.glob(os.path.join(HERE, "ck_params_*.h")))


def declarations() -> List[str]:
    """One cdef string per header, in the order above."""
    out = []
    for path in header_files():
        with open(path, encoding="utf-8") as f:
            out.append("\n".join(line for line in f if not line.lstrip().startswith("#")))
    return out
