"""Five sessions open at once in one thread (one logged in), four of them drawing 50
random blocks each (for the statistics test).  One thread: python-pkcs11 initialises the
module with NULL arguments, which promises it no concurrent calls (SoftHSM2 then runs
without its locks, and crashes under threads even without the spy)."""
import sys

import pkcs11

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="test-token")
with token.open(user_pin="1234"):
    sessions = [token.open() for _ in range(4)]
    for _ in range(50):
        for s in sessions:
            s.generate_random(256)
    for s in sessions:
        s.close()
print("ok")
