"""pkcs11spy: a PKCS#11 spy.  Load its shared object in place of your real module (set
PKCS11SPY to the real one) and read a trace of every call.  ``pkcs11spy path`` prints
where the shared object is."""

__version__ = "0.1.0"
