"""A Python host (PyKCS11) in errors-only mode: a thread makes failing calls from the
first moment, and the main thread forks at once, so the fork can fall inside the spy's
first decoding of an error.  The child makes one failing call and exits; one not done in
5 s is killed.  Prints "hung 0" or "hung 1".  argv: MODULE"""
import os
import signal
import sys
import threading
import time

import PyKCS11

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
stop = threading.Event()


def failing_call(slot: int) -> None:
    try:
        lib.getSlotInfo(slot)
    except PyKCS11.PyKCS11Error:
        pass  # CKR_SLOT_ID_INVALID: what errors-only mode writes


def busy():
    while not stop.is_set():
        failing_call(999)


thread = threading.Thread(target=busy)
thread.start()
pid = os.fork()
if pid == 0:
    failing_call(998)
    os._exit(0)
deadline = time.monotonic() + 5
hung = 0
while os.waitpid(pid, os.WNOHANG) == (0, 0):
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        hung = 1
        break
    time.sleep(0.005)
stop.set()
thread.join()
print("hung", hung)
