"""A python-pkcs11 session: keys, signatures, encryption and searches.  Prints the
results that do not depend on randomness as JSON, so direct and spied runs compare."""
import json
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="test-token")
out = {}
with token.open(user_pin="1234", rw=True) as s:
    aes = s.generate_key(KeyType.AES, 256, label="aes-key", store=True)
    iv = b"\x01" * 16
    ct = aes.encrypt(b"sixteen byte msg", mechanism_param=iv)
    out["aes_roundtrip"] = aes.decrypt(ct, mechanism_param=iv).decode()
    pub, priv = s.generate_keypair(KeyType.RSA, 2048, label="rsa-key", store=True)
    sig = priv.sign(b"data", mechanism=Mechanism.SHA256_RSA_PKCS)
    out["rsa_sig_len"] = len(sig)
    out["rsa_verify"] = pub.verify(b"data", sig, mechanism=Mechanism.SHA256_RSA_PKCS)
    out["rsa_verify_bad"] = pub.verify(b"other", sig, mechanism=Mechanism.SHA256_RSA_PKCS)
    # PKCS#1 v1.5 signing is deterministic: the same key signs the same data the same way.
    out["rsa_deterministic"] = priv.sign(b"data", mechanism=Mechanism.SHA256_RSA_PKCS) == sig
    rsa_ct = pub.encrypt(b"secret", mechanism=Mechanism.RSA_PKCS_OAEP)
    out["rsa_oaep_roundtrip"] = priv.decrypt(rsa_ct, mechanism=Mechanism.RSA_PKCS_OAEP).decode()
    # EC_PARAMS for P-256 is the DER of its OID, 1.2.840.10045.3.1.7.
    ec_params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, local=True)
    ec_pub, ec_priv = ec_params.generate_keypair(store=False)
    # SoftHSM2 2.6 signs with raw CKM_ECDSA over a digest the caller computed.
    digest = s.digest(b"data", mechanism=Mechanism.SHA256)
    ec_sig = ec_priv.sign(digest, mechanism=Mechanism.ECDSA)
    out["ec_verify"] = ec_pub.verify(digest, ec_sig, mechanism=Mechanism.ECDSA)
    out["found_labels"] = sorted(o[Attribute.LABEL] for o in s.get_objects({Attribute.TOKEN: True}))
    out["found_private"] = len(list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})))
    out["modulus_bits"] = pub[Attribute.MODULUS_BITS]
    out["digest"] = s.digest(b"abc", mechanism=Mechanism.SHA256).hex()
print(json.dumps(out, sort_keys=True))
