"""A python-pkcs11 session that puts known secrets through every path redaction covers:
PINs (login, set PIN), a secret key's value (created, then read back), private key
components, plaintext through encrypt/decrypt/sign/verify/digest, random output, a
seed, a wrapped key.  Prints every secret it used, as hex, in JSON, so the test can
search the trace for each one.

argv: MODULE USER_PIN NEW_USER_PIN
"""
import json
import os
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

module, user_pin, new_pin = sys.argv[1:4]
lib = pkcs11.lib(module)
token = lib.get_token(token_label="test-token")
used = {"pins": [user_pin, new_pin]}
key_value = bytes(range(0xA0, 0xB0)) * 2            # 32 bytes, found nowhere by chance
plaintext = b"attack at dawn; bring the snacks"      # 32 bytes
seed = b"seed:" + os.urandom(11)
with token.open(user_pin=user_pin, rw=True) as s:
    s.set_pin(user_pin, new_pin)
    s.set_pin(new_pin, user_pin)
    aes = s.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: key_value, Attribute.TOKEN: False, Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True, Attribute.ENCRYPT: True, Attribute.DECRYPT: True,
        Attribute.SIGN: True, Attribute.VERIFY: True, Attribute.WRAP: True, Attribute.UNWRAP: True,
        Attribute.LABEL: "known-aes"})
    aes = s.get_key(label="known-aes")
    assert aes[Attribute.VALUE] == key_value
    iv = b"\x02" * 16
    ct = aes.encrypt(plaintext, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
    assert aes.decrypt(ct, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == plaintext
    mac = aes.sign(plaintext, mechanism=Mechanism.AES_CMAC)
    assert aes.verify(plaintext, mac, mechanism=Mechanism.AES_CMAC)
    s.digest(plaintext, mechanism=Mechanism.SHA256)
    s.digest(plaintext, mechanism=Mechanism.SHA256)
    random = s.generate_random(256)  # bits: 32 bytes
    s.seed_random(seed)
    kek = s.generate_key(KeyType.AES, 128, store=False, template={Attribute.WRAP: True, Attribute.UNWRAP: True})
    wrapped = kek.wrap_key(aes, mechanism=Mechanism.AES_KEY_WRAP)
    kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=Mechanism.AES_KEY_WRAP,
                   template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}, store=False)
    pub, priv = s.generate_keypair(KeyType.RSA, 1024, store=False,
                                   private_template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True})
    components = [priv[a] for a in (Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1, Attribute.PRIME_2,
                                    Attribute.EXPONENT_1, Attribute.EXPONENT_2, Attribute.COEFFICIENT)]
used.update({
    "key_value": key_value.hex(), "plaintext": plaintext.hex(), "random": random.hex(),
    "seed": seed.hex(), "wrapped": wrapped.hex(), "rsa_private": [c.hex() for c in components],
})
print(json.dumps(used))
