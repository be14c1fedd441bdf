"""Three real mistakes, made with PyKCS11's low-level calls so each call is ours to order:
1. C_Login with a wrong PIN (then the right one);
2. a context-specific login that does not follow its C_SignInit immediately
   (a C_GetAttributeValue slips into the gap);
3. a session opened and never closed (the process ends without C_Finalize).
Prints "STEP rv" lines so the test knows what the module answered."""
import os
import sys

import PyKCS11

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = lib.getSlotList(tokenPresent=True)[0]
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
low, h = session.lib, session.session

print("wrong_pin", low.C_Login(h, PyKCS11.CKU_USER, PyKCS11.ckbytelist("0000")))
lib.getTokenInfo(slot)
print("right_pin", low.C_Login(h, PyKCS11.CKU_USER, PyKCS11.ckbytelist("1234")))

template = [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SIGN, True),
            (PyKCS11.CKA_ALWAYS_AUTHENTICATE, True)]
pub, priv = session.generateKeyPair(
    [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_MODULUS_BITS, 2048)],
    template, mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None).to_native()
print("sign_init", low.C_SignInit(h, mech, priv))
session.getAttributeValue(priv, [PyKCS11.CKA_ALWAYS_AUTHENTICATE])  # the call in the gap
print("context_login", low.C_Login(h, PyKCS11.CKU_CONTEXT_SPECIFIC, PyKCS11.ckbytelist("1234")))

leaked = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
print("leaked_session", leaked.session.value() if hasattr(leaked.session, "value") else leaked.session)
sys.stdout.flush()
os._exit(0)  # end without C_CloseSession or C_Finalize, as a crashing or careless client would
