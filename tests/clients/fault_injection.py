"""The python-pkcs11 session of python_pkcs11_session.py, with every decoder of the spy
made to raise (the spy runs in this interpreter, so its modules can be patched here).
The session's printed results must equal a direct run's: a decoder failure never changes
what the application sees.  argv: MODULE"""
import os
import runpy

from pkcs11spy.decode import walker


class InjectedFault(RuntimeError):
    pass


def raising(kind):
    def decode(call, arg):
        raise InjectedFault(f"injected fault in the {kind} decoder")
    return decode


original_entry, original_exit = walker.entry_decoder, walker.exit_decoder
walker.entry_decoder = lambda kind: raising(kind) if original_entry(kind) is not None else None
walker.exit_decoder = lambda kind: raising(kind) if original_exit(kind) is not None else None
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_pkcs11_session.py"),
               run_name="__main__")
