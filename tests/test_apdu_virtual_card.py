"""`pkcs11spy apdu` on genuine OpenSC debug logs: OpenSC tools talk through pcscd to
vsmartcard's virtual card, started and stopped here. If the stack cannot start the
tests fail (with the package to install), never skip.

The virtual card (vicc -t iso7816, PIN 1234) answers VERIFY with 9000, 6300 for a wrong
PIN, and 6983 once three wrong PINs blocked it: the blocking test runs last in this module.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from virtual_card import PIN, StackError, VirtualCard, opensc_debug_run

OPENSC_MODULES = ("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
                  "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
                  "/usr/lib/opensc-pkcs11.so")


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    stack = VirtualCard(str(tmp_path_factory.mktemp("pcsc")))
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        pytest.fail(f"cannot start the virtual smart card stack: {exc}")
    yield stack
    stack.stop()


def apdu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pkcs11spy", "apdu", *args],
                          capture_output=True, text=True, timeout=120)


def verify_apdu(pin: str) -> str:
    data = pin.encode().hex().upper()
    return ":".join(["00", "20", "00", "01", f"{len(pin):02X}"] + [data[i:i + 2] for i in range(0, len(data), 2)])


def test_card_detection_log_reads_as_a_named_conversation(card, tmp_path):
    log = tmp_path / "detect.log"
    ran = opensc_debug_run(["opensc-tool", "-a", "-n"], str(log))
    assert ran.returncode == 0, ran.stdout
    assert "Outgoing APDU" in log.read_text()           # a genuine log of drivers probing

    out = apdu("--json", str(log))
    assert out.returncode == 1, out.stderr               # probing ends in 6A82 and OpenSC errors
    doc = json.loads(out.stdout)
    assert doc["form"] == "current" and doc["opensc_version"]
    exchanges = doc["exchanges"]
    assert len(exchanges) >= 10
    for ex in exchanges:
        assert not ex["command"]["ins"]["name"].startswith("unknown"), ex
        assert ex["response"] is not None and ex["response"]["meaning"] != "unknown status word", ex
    names = {ex["command"]["ins"]["name"] for ex in exchanges}
    assert "SELECT" in names
    aids = {ex["command"]["data"]["name"] for ex in exchanges
            if ex["command"].get("data") and ex["command"]["p1"]["value"] == 4}
    assert "PIV Card Application (NIST SP 800-73)" in aids
    assert "OpenPGP card application" in aids
    assert any(ex["response"]["sw"] == "6A82" for ex in exchanges)
    # OpenSC's own codes: chains, each with its first error and the text OpenSC printed
    assert doc["opensc_errors"]
    firsts = {(c["first"]["code"], c["first"]["text"]) for c in doc["opensc_errors"]}
    assert (-1201, "File not found") in firsts
    assert any(len(c["chain"]) > 1 for c in doc["opensc_errors"])
    # callers: each exchange names the OpenSC functions that caused it
    assert any("sc_connect_card" in ex["opensc"] for ex in exchanges)

    text = apdu(str(log))
    assert text.returncode == 1
    assert "-> SELECT  00 A4 04 00" in text.stdout
    assert "<- 6A82 file or application not found" in text.stdout
    assert "OpenSC errors:" in text.stdout


def test_verify_pin_is_redacted_unless_asked(card, tmp_path):
    log = tmp_path / "verify.log"
    ran = opensc_debug_run(["opensc-tool", "-r", "0", "-s", verify_apdu(PIN), "-s", verify_apdu("9999"),
                            "-s", verify_apdu(PIN)], str(log))
    assert ran.returncode == 0, ran.stdout
    raw = log.read_text()
    assert "31 32 33 34" in raw                           # OpenSC logs the PIN in clear

    out = apdu(str(log))
    verifies = [line for line in out.stdout.splitlines() if "-> VERIFY" in line]
    assert len(verifies) == 3, out.stdout
    assert "31 32 33 34" not in out.stdout and "39 39 39 39" not in out.stdout
    assert "1234" not in out.stdout and "9999" not in out.stdout
    assert out.stdout.count("<redacted: 4 bytes: ASCII digits, 4 characters>") == 3
    assert "<- 9000 success" in out.stdout
    assert "<- 6300 verification failed" in out.stdout
    assert out.returncode == 1                            # the 6300

    doc = json.loads(apdu("--json", str(log)).stdout)
    blob = json.dumps(doc)
    assert "31323334" not in blob and "39393939" not in blob
    verify = [ex for ex in doc["exchanges"] if ex["command"]["ins"]["name"] == "VERIFY"]
    assert all(ex["command"]["hex"] is None and ex["command"]["data"]["redacted"] for ex in verify)
    assert [ex["response"]["sw"] for ex in verify] == ["9000", "6300", "9000"]

    shown = apdu("--show-secrets", str(log))
    assert "31 32 33 34" in shown.stdout and "39 39 39 39" in shown.stdout


def test_side_by_side_spy_trace_and_opensc_log(card, spy, tmp_path):
    module = next((m for m in OPENSC_MODULES if os.path.exists(m)), None)
    assert module, "opensc-pkcs11.so not found: apt-get install opensc-pkcs11"
    trace, log = tmp_path / "spy.trace", tmp_path / "opensc.log"
    env = dict(os.environ, PKCS11SPY=module, PKCS11SPY_OUTPUT=str(trace), OPENSC_DEBUG="9")
    with open(log, "w") as err:
        ran = subprocess.run(["pkcs11-tool", "--module", spy, "-L"], env=env, stdout=subprocess.PIPE,
                             stderr=err, text=True, timeout=180)
    assert ran.returncode == 0, ran.stdout
    assert "Virtual PCD" in ran.stdout
    spy_text = trace.read_text()
    assert "C_GetSlotList" in spy_text and "C_Initialize" in spy_text

    doc = json.loads(apdu("--json", str(log)).stdout)
    callers = {ex["pkcs11"] for ex in doc["exchanges"]}
    # the same PKCS#11 calls name the card traffic in both files
    assert callers & {"C_Initialize", "C_GetSlotList", "C_GetSlotInfo"}, callers
    for name in callers - {None}:
        assert name in spy_text
    # and the same thread label: OpenSC's "T:0x<decimal>" is shown in hex like the spy's
    for thread in {ex["thread"] for ex in doc["exchanges"]}:
        assert thread.replace(" T:", "; T:") in spy_text, thread


def test_blocked_pin_is_named(card, tmp_path):
    """Runs last: it blocks the virtual card's PIN."""
    log = tmp_path / "blocked.log"
    wrong = verify_apdu("0000")
    ran = opensc_debug_run(["opensc-tool", "-r", "0", "-s", wrong, "-s", wrong, "-s", wrong,
                            "-s", verify_apdu(PIN)], str(log))
    assert ran.returncode == 0, ran.stdout
    doc = json.loads(apdu("--json", str(log)).stdout)
    sws = [ex["response"]["sw"] for ex in doc["exchanges"] if ex["command"]["ins"]["name"] == "VERIFY"]
    assert sws == ["6300", "6300", "6300", "6983"]
    text = apdu(str(log)).stdout
    assert "<- 6983 authentication method blocked" in text
    assert "30 30 30 30" not in text
