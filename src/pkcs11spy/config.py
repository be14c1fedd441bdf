"""Settings from the environment, read once when the spy starts.

A bad value never stops the application: it gets one line on stderr naming the
variable, what was wrong and what to set, and the default is used.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

DEFAULT_MAX_DUMP = 4096

VARIABLES = {
    "PKCS11SPY": "path of the real PKCS#11 module (required)",
    "PKCS11SPY_OUTPUT": "trace file, opened for append; %p is replaced by the pid, %t by the start time "
                        "(default: stderr)",
    "PKCS11SPY_SHOW_SECRETS": "1 to show PINs, secret key values, key material and the data of "
                              "encrypt/decrypt/sign/verify/digest calls (default: hidden; data shown as "
                              "length and fingerprint)",
    "PKCS11SPY_MAX_DUMP": f"bytes shown per buffer in hexdumps (default: {DEFAULT_MAX_DUMP})",
    "PKCS11SPY_DISABLE_TRACE": "1 to forward calls without starting Python or tracing",
    "PKCS11SPY_FORMAT": "text (OpenSC's layout, the default) or json (JSON lines, docs/json.md)",
    "PKCS11SPY_FUNCTIONS": "functions to trace: globs, comma-separated; -NAME leaves one out "
                           "(e.g. C_Sign*,C_Login or -C_GetAttributeValue; default: all)",
    "PKCS11SPY_ERRORS_ONLY": "1 to write only calls that did not return CKR_OK (with their arguments)",
    "PKCS11SPY_STATS": "1 to write a per-function table of calls, errors and time at C_Finalize "
                       "and at exit",
}

FORMATS = ("text", "json")


@dataclass
class Settings:
    output: Optional[str]
    show_secrets: bool
    max_dump: int
    format: str = "text"
    functions: str = ""
    errors_only: bool = False
    stats: bool = False
    output_template: Optional[str] = None  # PKCS11SPY_OUTPUT as given (before %p/%t)
    started: float = 0.0

    def output_for(self, pid: int) -> Optional[str]:
        """The output path in a process of this pid (a forked child has its own)."""
        if self.output_template is None:
            return None
        return expand_output(self.output_template, pid, self.started)


def expand_output(template: str, pid: int, start: float) -> str:
    """%p: process id, %t: start time (YYYYmmdd-HHMMSS), %%: a percent sign."""
    out, i = [], 0
    while i < len(template):
        ch = template[i]
        if ch == "%" and i + 1 < len(template):
            code = template[i + 1]
            if code == "p":
                out.append(str(pid))
            elif code == "t":
                out.append(time.strftime("%Y%m%d-%H%M%S", time.localtime(start)))
            elif code == "%":
                out.append("%")
            else:
                out.append(ch + code)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _flag(env: Mapping[str, str], name: str, warn: Callable[[str], None]) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "no", "false", "off"):
        return False
    if raw in ("1", "yes", "true", "on"):
        return True
    warn(f"pkcs11spy: {name}={env[name]!r} is not understood; set it to 1 or 0 (using 0)")
    return False


def _size(env: Mapping[str, str], name: str, default: int, warn: Callable[[str], None]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 0)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        warn(f"pkcs11spy: {name}={raw!r} is not a number of bytes; set it to e.g. 65536 (using {default})")
        return default


def _choice(env: Mapping[str, str], name: str, choices, warn: Callable[[str], None]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw in choices:
        return raw
    warn(f"pkcs11spy: {name}={env[name]!r} is not understood; set it to one of "
         f"{', '.join(choices)} (using {choices[0]})")
    return choices[0]


def load(warn: Callable[[str], None], env: Optional[Mapping[str, str]] = None) -> Settings:
    env = os.environ if env is None else env
    template = env.get("PKCS11SPY_OUTPUT") or None
    started = time.time()
    output = None if template is None else expand_output(template, os.getpid(), started)
    return Settings(
        output=output,
        show_secrets=_flag(env, "PKCS11SPY_SHOW_SECRETS", warn),
        max_dump=_size(env, "PKCS11SPY_MAX_DUMP", DEFAULT_MAX_DUMP, warn),
        format=_choice(env, "PKCS11SPY_FORMAT", FORMATS, warn),
        functions=env.get("PKCS11SPY_FUNCTIONS", ""),
        errors_only=_flag(env, "PKCS11SPY_ERRORS_ONLY", warn),
        stats=_flag(env, "PKCS11SPY_STATS", warn),
        output_template=template,
        started=started,
    )
