"""A Python host (python-pkcs11) forks while another thread is making calls through the
spy.  Each child makes one call and exits; a child that does not finish in 10 s is
killed and reported.  Prints "child PID" per child and "hung N".  argv: MODULE FORKS"""
import os
import signal
import sys
import threading
import time

import pkcs11

lib = pkcs11.lib(sys.argv[1])
forks = int(sys.argv[2])
stop = threading.Event()


def busy():
    while not stop.is_set():
        lib.get_slots()


thread = threading.Thread(target=busy)
thread.start()
hung = 0
for _ in range(forks):
    time.sleep(0.03)
    pid = os.fork()
    if pid == 0:
        lib.get_slots()
        os._exit(0)
    deadline = time.monotonic() + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            hung += 1
            break
        time.sleep(0.01)
    print("child", pid, flush=True)
stop.set()
thread.join()
print("hung", hung)
