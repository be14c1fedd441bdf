"""`pkcs11spy apdu` decoding and log reading on small inputs: the tables, ISO 7816-4
decoding, PIN redaction, the hand-written excerpts (tests/data/) in both log forms,
bad input and exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pkcs11spy.apdu import conversation, iso7816, logread, pin, tables

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def apdu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pkcs11spy", "apdu", *args],
                          capture_output=True, text=True, timeout=60)


def test_every_table_loads():
    tables.load_all()
    assert tables.instructions()[0xA4].name == "SELECT"
    assert {i for i, ins in tables.instructions().items() if ins.secret} >= {0x20, 0x24, 0x2C}


@pytest.mark.parametrize("sw, meaning", [
    (0x9000, "success"),
    (0x6110, "16 more response bytes available"),
    (0x6100, "256 more response bytes available"),
    (0x6C08, "wrong Le: 8 bytes available"),
    (0x63C2, "2 tries left"),
    (0x6983, "authentication method blocked"),
    (0x6982, "security status not satisfied"),
    (0x6985, "conditions of use not satisfied"),
    (0x6988, "incorrect secure messaging data objects"),
    (0x6A80, "incorrect parameters in the command data field"),
    (0x6A82, "file or application not found"),
    (0x6A86, "incorrect parameters P1-P2"),
    (0x6D00, "instruction code not supported"),
    (0x6E00, "class not supported"),
    (0x9F42, "application-specific"),
])
def test_status_words(sw, meaning):
    assert meaning in iso7816.status_meaning(sw)


def test_unknown_status_word_says_so():
    assert iso7816.status_meaning(0x1234) == "unknown status word"


@pytest.mark.parametrize("cla, text", [
    (0x00, ""),
    (0x01, "logical channel 1"),
    (0x10, "command chaining, more to follow"),
    (0x0C, "secure messaging (header authenticated)"),
    (0x08, "secure messaging (header not authenticated)"),
    (0x41, "logical channel 5"),
    (0x80, "proprietary class"),
])
def test_class_byte(cla, text):
    assert iso7816.decode_class(cla).describe() == text


def test_select_by_aid_names_the_application():
    cmd = iso7816.decode_command(bytes.fromhex("00A4040006D2760001240100"))
    assert cmd.ins_name == "SELECT" and cmd.case == "4 short"
    assert cmd.p1_meaning == "select by DF name (AID)"
    assert cmd.p2_meaning == "first or only occurrence; return FCI"
    assert cmd.lc == 6 and cmd.le == 256
    assert cmd.data is not None and cmd.data.name == "OpenPGP card application"


def test_select_by_file_id_and_path():
    assert iso7816.decode_command(bytes.fromhex("00A4000C023F00")).data.name == "MF (master file)"
    path = iso7816.decode_command(bytes.fromhex("00A4080C0450155032")).data
    assert path.name == "path DF.PKCS15 (usual PKCS#15 application DF) / EF.TokenInfo (PKCS#15)"


def test_extended_length_and_read_binary_offset():
    cmd = iso7816.decode_command(bytes.fromhex("00B0012C000100"))
    assert cmd.case == "2 extended" and cmd.le == 256
    assert cmd.p1p2_meaning == "offset 300"
    short_ef = iso7816.decode_command(bytes.fromhex("00B0850000"))
    assert short_ef.p1_meaning == "short EF 5" and short_ef.p1p2_meaning == "offset 00"


def test_lengths_that_do_not_add_up_are_kept_and_named():
    cmd = iso7816.decode_command(bytes.fromhex("00A4040009A000"))
    assert cmd.problem and "Lc=9" in cmd.problem
    assert iso7816.decode_command(b"\x00\xA4").problem


@pytest.mark.parametrize("data, text", [
    ("31323334", "4 bytes: ASCII digits, 4 characters"),
    ("313233343536FFFF", "8 bytes: ASCII digits, 6 characters, padded with FF"),
    ("3132333400000000", "8 bytes: ASCII digits, 4 characters, padded with 00"),
    ("241234FFFFFFFFFF", "8 bytes: ISO 9564 format-2 PIN block, PIN of 4 digits"),
    ("26123456FFFFFFFF", "8 bytes: ISO 9564 format-2 PIN block, PIN of 6 digits"),
    ("70617373", "4 bytes: ASCII text, 4 characters"),
    ("9A1B", "2 bytes: binary"),
])
def test_pin_format(data, text):
    assert pin.describe(bytes.fromhex(data)) == text


@pytest.mark.parametrize("ins", ["20", "24", "2C"])
def test_reference_data_is_redacted_by_default(ins):
    raw = bytes.fromhex(f"00{ins}0081083132333435363738")
    hidden = iso7816.decode_command(raw)
    assert hidden.data.redacted and hidden.secret
    shown = iso7816.decode_command(raw, show_secrets=True)
    assert not shown.data.redacted and shown.data.raw == b"12345678"


def test_get_response_after_61xx_is_one_success():
    lines = [
        "P:1; T:0x1 10:00:00.000 [t] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (5 bytes):", "00 84 00 00 08 .....", "",
        "P:1; T:0x1 10:00:00.010 [t] reader-pcsc.c:335:pcsc_transmit: ",
        "Incoming APDU (2 bytes):", "61 08 a.", "",
        "P:1; T:0x1 10:00:00.020 [t] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (5 bytes):", "00 C0 00 00 08 .....", "",
        "P:1; T:0x1 10:00:00.030 [t] reader-pcsc.c:335:pcsc_transmit: ",
        "Incoming APDU (10 bytes):", "01 02 03 04 05 06 07 08 90 00 ..........", "",
    ]
    conv = conversation.build(logread.read_lines(lines))
    assert [ex.command.ins_name for ex in conv.exchanges] == ["GET CHALLENGE", "GET RESPONSE"]
    assert conv.exchanges[0].continued and not conv.exchanges[0].final_error
    assert conv.exchanges[1].response.data == bytes(range(1, 9))
    assert not any(ex.final_error for ex in conv.exchanges)


EXCERPTS = [
    ("verify-63c2", "63C2", "verification failed or counter: 2 tries left", -1214, "C_Login", "CKR_PIN_INCORRECT"),
    ("pin-blocked-6983", "6983", "authentication method blocked", -1212, "C_Login", "CKR_PIN_LOCKED"),
    ("sm-error-6988", "6988", "incorrect secure messaging data objects", -1205, "C_Sign", "CKR_GENERAL_ERROR"),
]


@pytest.mark.parametrize("form", ["", "older-"])
@pytest.mark.parametrize("name, sw, meaning, code, function, rv", EXCERPTS)
def test_hand_written_excerpts(form, name, sw, meaning, code, function, rv):
    path = os.path.join(DATA, f"opensc-{form}{name}.log")
    out = apdu("--json", path)
    assert out.returncode == 1, out.stderr
    assert out.stderr == ""
    doc = json.loads(out.stdout)
    assert doc["form"] == ("older" if form else "current")
    (ex,) = doc["exchanges"]
    assert ex["response"]["sw"] == sw and meaning in ex["response"]["meaning"]
    assert ex["pkcs11"] == function and ex["pkcs11_rv"] == rv
    (chain,) = doc["opensc_errors"]
    assert chain["first"]["code"] == code and chain["pkcs11"] == function
    assert len(chain["chain"]) == 3
    by_function = doc["opensc_errors_by_function"]
    assert [row["function"] for row in by_function] == [link["function"] for link in chain["chain"]]
    assert all(row["code"] == code and row["count"] == 1 for row in by_function)
    text = apdu(path).stdout
    assert f"<- {sw} {meaning}" in text
    assert f"[{function} = {rv}" not in text and f"{function} = {rv} >" in text


@pytest.mark.parametrize("path", ["opensc-verify-63c2.log", "opensc-older-verify-63c2.log"])
def test_pin_never_shows_by_default(path):
    full = os.path.join(DATA, path)
    text = apdu(full).stdout + apdu("--json", full).stdout
    assert "123456" not in text and "31 32 33 34 35 36" not in text and "313233343536" not in text
    assert "8 bytes: ASCII digits, 6 characters, padded with FF" in text
    shown = apdu("--show-secrets", full).stdout
    assert "31 32 33 34 35 36 FF FF" in shown


def test_sm_class_is_decoded():
    doc = json.loads(apdu("--json", os.path.join(DATA, "opensc-sm-error-6988.log")).stdout)
    cla = doc["exchanges"][0]["command"]["cla"]
    assert cla["secure_messaging"] == "header authenticated"


def test_clean_log_exits_0(tmp_path):
    log = tmp_path / "ok.log"
    log.write_text("P:1; T:0x1 10:00:00.000 [t] reader-pcsc.c:326:pcsc_transmit: \n"
                   "Outgoing APDU (5 bytes):\n00 84 00 00 08 .....\n\n"
                   "P:1; T:0x1 10:00:00.010 [t] reader-pcsc.c:335:pcsc_transmit: \n"
                   "Incoming APDU (10 bytes):\n01 02 03 04 05 06 07 08 90 00 ..........\n\n")
    out = apdu(str(log))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "GET CHALLENGE" in out.stdout and "<- 9000 success; 8 bytes" in out.stdout


def test_malformed_dump_is_read_as_far_as_it_goes(tmp_path):
    text = open(os.path.join(DATA, "opensc-verify-63c2.log")).read()
    broken = text.replace("00 20 00 81 08 31 32 33 34 35 36 FF FF", "00 20 00 81 08 31 32 ZZ 34 35 36 FF FF")
    log = tmp_path / "broken.log"
    log.write_text(broken)
    out = apdu(str(log))
    assert out.returncode == 1
    line = broken.splitlines().index("00 20 00 81 08 31 32 ZZ 34 35 36 FF FF . ...123456..") + 1
    assert f"broken.log:{line}: warning: unreadable hex in an APDU dump" in out.stderr
    assert "<- 63C2" in out.stdout                     # the response after it still reads
    assert "31 32" not in out.stdout                   # a broken VERIFY stays redacted


@pytest.mark.parametrize("content, says", [
    (None, "cannot read it"),
    ("hello\nthis is not a log\n", "no OpenSC debug line"),
    (b"\x7fELF\x00\x00binary", "binary file"),
])
def test_unusable_input_exits_2(tmp_path, content, says):
    path = tmp_path / "input.log"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    out = apdu(str(path))
    assert out.returncode == 2
    assert says in out.stderr and out.stderr.count("\n") == 1


def test_windows_and_dated_prefixes():
    lines = [
        "P:11916; T:34500 2023-11-03 18:36:24.891 [cardmod] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (11 bytes):", "00 22 41 B8 06 84 01 02 95 01 40 .\"A.......@", "",
        "P:11916; T:34500 2023-11-03 18:36:24.939 [cardmod] reader-pcsc.c:335:pcsc_transmit: ",
        "Incoming APDU (2 bytes):", "90 00 ..", "",
        "2015-08-21 21:05:07.656 [cardmod] apdu.c:187:sc_apdu_log: ",
    ]
    read = logread.read_lines(lines)
    assert read.form == "current" and not read.warnings
    (ex,) = conversation.build(read).exchanges
    assert ex.thread == "P:11916 T:34500" and ex.time == "2023-11-03 18:36:24.891"
    assert ex.command.ins_name == "MANAGE SECURITY ENVIRONMENT"
    assert ex.command.p1_meaning == ("set; for computation, decipherment, internal authentication "
                                     "and key agreement")
    assert ex.command.p2_meaning == "confidentiality template (CT)"
    assert ex.duration_ms == 48.0


def test_opensc_thread_id_is_shown_in_hex_like_the_spy_trace():
    line = "P:25653; T:0x140568462735424 17:36:09.299 [opensc-pkcs11] card.c:254:sc_connect_card: called"
    (event,) = logread.read_lines([line]).events
    assert event.thread == "P:25653 T:0x7fd8a549b840"


def test_response_without_command_and_dump_cut_short_are_warnings():
    lines = [
        "P:1; T:0x1 10:00:00.000 [t] reader-pcsc.c:335:pcsc_transmit: ",
        "Incoming APDU (2 bytes):", "90 00 ..", "",
        "P:1; T:0x1 10:00:00.010 [t] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (20 bytes):", "00 A4 04 00 0F D2 33 00 00 00 45 73 74 45 49 44 ......3...EstEID", "",
    ]
    conv = conversation.build(logread.read_lines(lines))
    assert [n for n, _ in conv.warnings] == [2, 6]
    assert "20 bytes but 16 were read" in conv.warnings[1][1]
    (ex,) = conv.exchanges
    assert ex.final_error and ex.transport_error == "no response in the log"


def test_decipher_result_is_redacted_by_default():
    lines = [
        "P:1; T:0x1 10:00:00.000 [t] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (10 bytes):", "00 2A 80 86 04 00 11 22 33 00 .*....\"3.", "",
        "P:1; T:0x1 10:00:00.010 [t] reader-pcsc.c:335:pcsc_transmit: ",
        "Incoming APDU (6 bytes):", "DE AD BE EF 90 00 ....", "",
    ]
    (hidden,) = conversation.build(logread.read_lines(lines)).exchanges
    assert hidden.command.p1p2_meaning == "decipher"
    assert hidden.response.data == b"" and hidden.response.data_length == 4
    assert "DECIPHER" in hidden.response.redacted and hidden.response.sw == 0x9000
    (shown,) = conversation.build(logread.read_lines(lines), show_secrets=True).exchanges
    assert shown.response.data == bytes.fromhex("DEADBEEF")


def test_log_line_inside_a_cut_dump_is_still_read():
    lines = [
        "P:1; T:0x1 10:00:00.000 [t] reader-pcsc.c:326:pcsc_transmit: ",
        "Outgoing APDU (20 bytes):", "00 A4 04 00 0F D2 33 00 00 00 45 73 74 45 49 44 ......3...EstEID",
        "P:1; T:0x1 10:00:00.010 [t] iso7816.c:627:iso7816_select_file: returning with: -1201 (File not found)",
    ]
    read = logread.read_lines(lines)
    assert [n for n, _ in read.warnings] == [2]
    conv = conversation.build(read)
    assert len(conv.exchanges) == 1 and conv.chains[0].first.code == -1201


def test_log_from_standard_input():
    with open(os.path.join(DATA, "opensc-pin-blocked-6983.log")) as f:
        out = subprocess.run([sys.executable, "-m", "pkcs11spy", "apdu", "-"], stdin=f,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "<- 6983 authentication method blocked" in out.stdout
