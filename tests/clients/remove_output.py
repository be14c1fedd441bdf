"""python-pkcs11 calls; between two of them the trace file's directory is removed (argv[2]).
Prints the results, so the test can check the calls still succeed."""
import shutil
import sys

import pkcs11

lib = pkcs11.lib(sys.argv[1])
before = [slot.slot_id for slot in lib.get_slots()]
shutil.rmtree(sys.argv[2])
token = lib.get_token(token_label="test-token")
with token.open() as s:
    random = s.generate_random(64)
print(len(before), token.label, len(random))
