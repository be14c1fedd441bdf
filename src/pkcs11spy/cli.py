"""The ``pkcs11spy`` command line."""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import List, Optional

from . import __version__
from . import cli_apdu
from .config import VARIABLES
from .analysis import cli_analyze, cli_rv, cli_summary


def shim_path() -> str:
    """The installed shared object, found without loading it (loading it would start
    the spy inside this process)."""
    spec = importlib.util.find_spec("pkcs11spy._shim")
    if spec is None or not spec.origin:
        raise FileNotFoundError("the spy's shared object is not built: reinstall with `pip install .`")
    return os.path.abspath(spec.origin)


def _cmd_path(args: argparse.Namespace) -> int:
    try:
        print(shim_path())
    except FileNotFoundError as exc:
        print(f"pkcs11spy: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(args.output)


def _cmd_env(args: argparse.Namespace) -> int:
    for name, meaning in VARIABLES.items():
        print(f"{name:26} {meaning}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pkcs11spy",
        description="A PKCS#11 spy. Point your application at the spy's shared object "
                    "(`pkcs11spy path`) and set PKCS11SPY to your real module.",
        epilog='example: PKCS11SPY=/usr/lib/softhsm/libsofthsm2.so pkcs11-tool --module "$(pkcs11spy path)" -L')
    parser.add_argument("--version", action="version", version=f"pkcs11spy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("path", help="print the path of the spy's shared object")
    p.set_defaults(func=_cmd_path)
    p = sub.add_parser("demo", help="trace a real session against a throwaway SoftHSM2 token")
    p.add_argument("-o", "--output", help="write the trace to this file instead of printing it")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("env", help="list the environment variables the spy reads")
    p.set_defaults(func=_cmd_env)
    cli_rv.register(sub)
    cli_summary.register(sub)
    cli_analyze.register(sub)
    cli_apdu.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
