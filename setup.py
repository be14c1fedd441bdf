# The cffi build of the shim needs setup.py's cffi_modules hook.
from setuptools import setup

setup(cffi_modules=["src/pkcs11spy/_build_shim.py:ffibuilder"])
