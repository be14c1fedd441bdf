"""A real CKR_OPERATION_ACTIVE on one thread: C_SignInit, then C_EncryptInit on the same
session before the signature is made (SoftHSM2 runs one operation per session at a time).
Prints "sign_init <rv>" and "encrypt_init <rv>"."""
import sys

import PyKCS11

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = lib.getSlotList(tokenPresent=True)[0]
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
session.login("1234")
pub, priv = session.generateKeyPair(
    [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_MODULUS_BITS, 1024)],
    [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_SIGN, True)], mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
aes = session.generateKey(
    [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_ENCRYPT, True),
     (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES)],
    mecha=PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN, None))
low, h = session.lib, session.session
print("sign_init", low.C_SignInit(h, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None).to_native(), priv))
print("encrypt_init", low.C_EncryptInit(h, PyKCS11.Mechanism(PyKCS11.CKM_AES_ECB, None).to_native(), aes))
session.logout()
session.closeSession()
