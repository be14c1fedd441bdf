"""Four threads each draw 50 random blocks through one token (for the JSON line test)."""
import sys
import threading

import pkcs11

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="test-token")


failures = []
together = threading.Barrier(4)  # all alive at once: four distinct thread ids


def work():
    try:
        with token.open() as s:  # the login below holds for every session of the token
            together.wait(timeout=60)
            for _ in range(50):
                s.generate_random(256)
    except Exception as exc:
        failures.append(exc)


with token.open(user_pin="1234"):
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
if failures:
    sys.exit("failed: %r" % failures)
print("ok")
