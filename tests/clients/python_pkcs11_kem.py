"""python-pkcs11 against a 3.2 module (our test module): it negotiates the 3.0 and 3.2
interfaces and encapsulates a key through the 3.2 list.  Prints the results as JSON."""
import json
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="p11test")
out = {"cryptoki_version": list(lib.cryptoki_version)}
with token.open(user_pin="1234") as s:
    pub = s.get_key(object_class=ObjectClass.PUBLIC_KEY, label="kem")
    ciphertext, key = pub.encapsulate_key(KeyType.AES, key_length=256)
    out["ciphertext"] = ciphertext.hex()
    out["key_label"] = key[Attribute.LABEL]
    out["key_class"] = int(key[Attribute.CLASS])
print(json.dumps(out, sort_keys=True))
