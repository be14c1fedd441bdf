"""A PyKCS11 session on the matrix's prepared token (tests/matrix): slots, mechanisms, searches,
signatures and encryption with its keys, a new key pair.  Prints JSON of deterministic values,
so a direct run and a spied run on twin tokens compare.  (Not PyKCS11's own test helpers:
they switch to OpenSC's spy when PKCS11SPY is set, which the spied run must set for us.)"""
import json
import sys

import PyKCS11
from PyKCS11 import LowLevel as L

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
out = {"library": lib.getInfo().libraryDescription.strip()}
slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "test-token")
out["mechanisms"] = sorted(lib.getMechanismList(slot))
out["rsa_pkcs_info"] = str(lib.getMechanismInfo(slot, "CKM_RSA_PKCS"))
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
session.login("1234")


def find(cls, label):
    found = session.findObjects([(L.CKA_CLASS, cls), (L.CKA_LABEL, label)])
    assert len(found) == 1, (cls, label, found)
    return found[0]


out["objects"] = sorted((PyKCS11.CKO[cls], label)
                        for cls, label in (session.getAttributeValue(o, [L.CKA_CLASS, L.CKA_LABEL])
                                           for o in session.findObjects()))
priv, pub = find(L.CKO_PRIVATE_KEY, "rsa1"), find(L.CKO_PUBLIC_KEY, "rsa1")
data = b"PyKCS11 through the spy" * 10
mech = PyKCS11.Mechanism(L.CKM_SHA256_RSA_PKCS, None)
sig = bytes(session.sign(priv, data, mech))
out["rsa_signature"] = sig.hex()
out["rsa_verify"] = session.verify(pub, data, sig, mech)
out["rsa_verify_bad"] = session.verify(pub, data + b"!", sig, mech)
pss = PyKCS11.RSA_PSS_Mechanism(L.CKM_SHA256_RSA_PKCS_PSS, L.CKM_SHA256, L.CKG_MGF1_SHA256, 32)
out["pss_verify"] = session.verify(pub, data, bytes(session.sign(priv, data, pss)), pss)
oaep = PyKCS11.RSAOAEPMechanism(L.CKM_SHA_1, L.CKG_MGF1_SHA1)
out["oaep_roundtrip"] = bytes(session.decrypt(priv, session.encrypt(pub, b"secret", oaep), oaep)).decode()
aes = find(L.CKO_SECRET_KEY, "aes1")
cbc = PyKCS11.Mechanism(L.CKM_AES_CBC_PAD, bytes(range(16)))
ct = bytes(session.encrypt(aes, b"PyKCS11 with AES-CBC-PAD", cbc))
out["aes_ciphertext"] = ct.hex()
out["aes_roundtrip"] = bytes(session.decrypt(aes, ct, cbc)).decode()
gcm = PyKCS11.AES_GCM_Mechanism(bytes(12), b"header", 128)
out["gcm_ciphertext"] = bytes(session.encrypt(aes, b"GCM through the spy", gcm)).hex()
out["digest"] = bytes(session.digest(data, PyKCS11.Mechanism(L.CKM_SHA256, None))).hex()
pub2, priv2 = session.generateKeyPair(
    [(L.CKA_CLASS, L.CKO_PUBLIC_KEY), (L.CKA_TOKEN, True), (L.CKA_MODULUS_BITS, 2048),
     (L.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)), (L.CKA_VERIFY, True), (L.CKA_LABEL, "pykcs11-new")],
    [(L.CKA_CLASS, L.CKO_PRIVATE_KEY), (L.CKA_TOKEN, True), (L.CKA_SIGN, True), (L.CKA_SENSITIVE, True),
     (L.CKA_LABEL, "pykcs11-new")], mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
out["new_pair_signs"] = session.verify(pub2, data, bytes(session.sign(priv2, data, mech)), mech)
out["new_pair_bits"] = session.getAttributeValue(pub2, [L.CKA_MODULUS_BITS])[0]
out["labels_after"] = sorted(session.getAttributeValue(o, [L.CKA_LABEL])[0]
                             for o in session.findObjects([(L.CKA_TOKEN, True)]))
session.logout()
session.closeSession()
print(json.dumps(out, sort_keys=True))
