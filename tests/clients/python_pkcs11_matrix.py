"""A python-pkcs11 session on the matrix's prepared token (tests/matrix): searches, signatures
and encryption with its keys, new keys, attributes.  Prints JSON; every value is either
deterministic or reduced to a property, so a direct run and a spied run on twin tokens compare."""
import json
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="test-token")
out = {"token": token.label, "manufacturer": lib.manufacturer_id}
with token.open(user_pin="1234", rw=True) as s:
    out["objects"] = sorted((str(o[Attribute.CLASS]), o[Attribute.LABEL], o[Attribute.ID].hex())
                            for o in s.get_objects())
    priv = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label="rsa1")
    pub = s.get_key(object_class=ObjectClass.PUBLIC_KEY, label="rsa1")
    data = b"python-pkcs11 through the spy" * 10
    sig = priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
    out["rsa_signature"] = sig.hex()  # deterministic; the twins hold the same key
    out["rsa_verify"] = pub.verify(data, sig, mechanism=Mechanism.SHA256_RSA_PKCS)
    out["rsa_verify_bad"] = pub.verify(data + b"!", sig, mechanism=Mechanism.SHA256_RSA_PKCS)
    oaep = pub.encrypt(b"secret", mechanism=Mechanism.RSA_PKCS_OAEP)
    out["rsa_oaep_roundtrip"] = priv.decrypt(oaep, mechanism=Mechanism.RSA_PKCS_OAEP).decode()
    aes = s.get_key(key_type=KeyType.AES, label="aes1")
    iv = bytes(range(16))
    ct = aes.encrypt(b"a message of thirty-two bytes!!!", mechanism_param=iv)
    out["aes_ciphertext"] = ct.hex()
    out["aes_roundtrip"] = aes.decrypt(ct, mechanism_param=iv).decode()
    ec = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label="ec1")
    ec_pub = s.get_key(object_class=ObjectClass.PUBLIC_KEY, label="ec1")
    digest = s.digest(data, mechanism=Mechanism.SHA256)
    out["digest"] = digest.hex()
    out["ec_verify"] = ec_pub.verify(digest, ec.sign(digest, mechanism=Mechanism.ECDSA), mechanism=Mechanism.ECDSA)
    new_pub, new_priv = s.generate_keypair(KeyType.RSA, 2048, label="py-new", store=True)
    out["new_modulus_bits"] = new_pub[Attribute.MODULUS_BITS]
    out["new_sensitive"] = new_priv[Attribute.SENSITIVE]
    aes2 = s.generate_key(KeyType.AES, 128, label="py-aes", store=False)
    out["aes128_roundtrip"] = aes2.decrypt(aes2.encrypt(b"sixteen byte msg", mechanism_param=iv),
                                           mechanism_param=iv).decode()
    out["found_after"] = sorted(o[Attribute.LABEL] for o in s.get_objects({Attribute.TOKEN: True}))
    out["random_len"] = len(s.generate_random(256))
print(json.dumps(out, sort_keys=True))
