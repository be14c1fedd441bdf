# The cffi builds need setup.py's cffi_modules hook: the shim (C, embedding mode) and the
# decoders' C types (an out-of-line ABI module, parsed at install rather than at start).
from setuptools import setup

setup(cffi_modules=["src/pkcs11spy/_build_shim.py:ffibuilder", "src/pkcs11spy/_build_types.py:ffibuilder"])
