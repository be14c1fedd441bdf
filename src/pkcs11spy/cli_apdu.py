"""`pkcs11spy apdu LOG`: an OpenSC debug log read as the card conversation.

Exit codes: 0 nothing found, 1 errors found (an exchange not completed with 9000, or
an OpenSC error chain), 2 unusable input (missing, unreadable, binary, or no OpenSC
line in it). A partly broken log is read as far as it goes, with a warning per bad line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_CLEAN, EXIT_FOUND, EXIT_UNUSABLE = 0, 1, 2


def _cmd_apdu(args: argparse.Namespace) -> int:
    from .apdu import read_conversation
    from .apdu.render import to_json, write_text

    name = f"pkcs11spy apdu: {args.log}"
    try:
        conv = read_conversation(args.log, show_secrets=args.show_secrets)
    except OSError as exc:
        print(f"{name}: cannot read it ({exc.strerror or exc}); give the file OpenSC wrote "
              "with OPENSC_DEBUG=9 (stderr) or debug_file in opensc.conf", file=sys.stderr)
        return EXIT_UNUSABLE
    except ValueError as exc:
        print(f"{name}: {exc}; give the file OpenSC wrote with OPENSC_DEBUG=9", file=sys.stderr)
        return EXIT_UNUSABLE
    if conv.form is None:
        print(f"{name}: no OpenSC debug line in it (expected lines such as "
              "'P:1234; T:0x7f.. 12:00:00.000 [opensc-pkcs11] card.c:254:sc_connect_card: called'); "
              "set OPENSC_DEBUG=9 when running the application", file=sys.stderr)
        return EXIT_UNUSABLE
    for lineno, text in conv.warnings:
        print(f"{name}:{lineno}: warning: {text}", file=sys.stderr)
    try:
        if args.json:
            json.dump(to_json(conv, args.log), sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            write_text(conv, args.log, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (`| head`) has seen enough; no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    found = any(ex.final_error for ex in conv.exchanges) or bool(conv.chains)
    return EXIT_FOUND if found else EXIT_CLEAN


def register(subparsers: "argparse._SubParsersAction") -> None:
    p = subparsers.add_parser(
        "apdu", help="read an OpenSC debug log (OPENSC_DEBUG=9) as the APDU conversation with the card",
        description="Print the commands sent to the card and its answers, decoded (ISO 7816-4), "
                    "grouped under the PKCS#11 and OpenSC functions that caused them, then the "
                    "first error of each failing OpenSC call chain. PINs in VERIFY, CHANGE "
                    "REFERENCE DATA and RESET RETRY COUNTER are redacted unless --show-secrets. "
                    "Exit status: 0 no error found, 1 errors found, 2 unusable input.",
        epilog="example: OPENSC_DEBUG=9 pkcs11-tool --login --test 2> opensc.log; pkcs11spy apdu opensc.log")
    p.add_argument("log", metavar="LOG", help="the OpenSC debug log (- reads standard input)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of text")
    p.add_argument("--show-secrets", action="store_true",
                   help="show PIN and reference data instead of its length and format")
    p.set_defaults(func=_cmd_apdu)
