"""The 3.x arguments decoded in the trace: message parameters by the mechanism of the
session's message operation (and what the token wrote into them), C_LoginUser's user
name hidden like a PIN, validation flags, async data, encapsulation.  Driven through the
spy in front of our C test module, whose results are fixed."""
from __future__ import annotations

from typing import Dict, List

import pytest

from conftest import read, run
from trace_parse import Record, parse


@pytest.fixture(scope="module")
def records(iface_host, p11test, spy, tmp_path_factory) -> Dict[str, List[Record]]:
    return _run(iface_host, p11test, spy, tmp_path_factory.mktemp("decode"), {})


def _run(host, module, spy, directory, extra) -> Dict[str, List[Record]]:
    trace = directory / "trace.txt"
    env = {"PKCS11SPY": module, "PKCS11SPY_OUTPUT": str(trace), **extra}
    r = run([host, spy, "run", "3.2"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    by_name: Dict[str, List[Record]] = {}
    for rec in parse(read(trace)):
        by_name.setdefault(rec.function, []).append(rec)
    return by_name


def block(rec: Record, start: str) -> List[str]:
    """The lines of one argument: its first line and the indented or dump lines after it."""
    lines = rec.lines
    i = lines.index(start)
    out = [lines[i]]
    for ln in lines[i + 1:]:
        if ln.startswith("[") and not ln.startswith("[note"):
            break
        out.append(ln)
    return out


def test_gcm_parameters_and_generated_iv_and_tag(records):
    rec = records["C_EncryptMessage"][0]
    ins = block(rec, "[in] pParameter[ulParameterLen]: ")
    assert "      ulIvFixedBits: 32" in ins
    assert "      ivGenerator:   CKG_GENERATE_RANDOM" in ins
    assert "      ulTagBits:     128" in ins
    assert "      pIv:           12 bytes 111111111111111111111111" in ins  # the IV as given
    outs = block(rec, "[out] pParameter: ")
    # The token generated the IV after its 32 fixed bits, and wrote a 16-byte tag.
    assert "      pIv:  12 bytes 11111111A4A5A6A7A8A9AAAB" in outs
    assert "      pTag: 16 bytes 7A7A7A7A7A7A7A7A7A7A7A7A7A7A7A7A" in outs


def test_outputs_only_where_the_spec_puts_them(records):
    begin = records["C_EncryptMessageBegin"][0]
    assert [ln.strip().split(" bytes")[0] for ln in block(begin, "[out] pParameter: ")
            if ln.strip().startswith("p")] == ["pIv: 12"]  # IV at the start of a message, no tag yet
    final_part = records["C_EncryptMessageNext"][0]
    assert [ln.strip().split(" bytes")[0] for ln in block(final_part, "[out] pParameter: ")
            if ln.strip().startswith("p")] == ["pTag: 16"]  # the tag with CKF_END_OF_MESSAGE
    for name in ("C_DecryptMessage", "C_DecryptMessageNext", "C_SignMessage"):
        assert not any(ln.startswith("[out] pParameter") for ln in records[name][0].lines)


def test_ccm_and_chacha_parameters_follow_the_init(records):
    ccm, chacha = records["C_DecryptMessage"]
    assert "      nonceGenerator:   CKG_NO_GENERATE" in ccm.lines
    assert "      ulMACLen:         16" in ccm.lines
    assert ccm.rv == 0
    assert "      ulNonceLen: 12" in chacha.lines
    assert any("16 bytes 007A7A7A" in ln for ln in block(chacha, "[in] pParameter[ulParameterLen]: "))
    assert chacha.rv_name == "CKR_ENCRYPTED_DATA_INVALID" and chacha.outs == []
    assert [r.lines[1] for r in records["C_MessageDecryptInit"]] == \
        ["[in] pMechanism->type = CKM_AES_CCM", "[in] pMechanism->type = CKM_CHACHA20_POLY1305"]


def test_message_without_parameter(records):
    assert "[in] pParameter[ulParameterLen] = NULL" in records["C_SignMessage"][0].lines


def test_login_user_hides_pin_and_user_name(records):
    rec = records["C_LoginUser"][0]
    assert "[in] pPin[ulPinLen] = <PIN hidden: 4 bytes, printable text, token PIN limits not seen>" in rec.lines
    assert "[in] pUsername[ulUsernameLen] = <user name hidden: 5 bytes>" in rec.lines
    assert "alice" not in rec.text()


def test_login_user_shown_on_purpose(iface_host, p11test, spy, tmp_path):
    recs = _run(iface_host, p11test, spy, tmp_path, {"PKCS11SPY_SHOW_SECRETS": "1"})
    assert any("alice" in ln for ln in recs["C_LoginUser"][0].lines)


def test_3_2_arguments(records):
    assert "[out] *pFlags = 0x5" in records["C_GetSessionValidationFlags"][0].lines
    assert "[in] type = CKS_LAST_VALIDATION_OK" in records["C_GetSessionValidationFlags"][0].lines
    complete = records["C_AsyncComplete"][0]
    assert block(complete, "[out] pResult: ")[1:] == [
        "      ulVersion:         1", "      pValue:            NULL", "      ulValue:           0",
        "      hObject:           0x101", "      hAdditionalObject: 0x0"]
    assert "[in] pFunctionName = 'C_GenerateKey'" in records["C_AsyncGetID"][0].lines
    assert "[out] *pulID = 0x7" in records["C_AsyncGetID"][0].lines
    size_query = records["C_EncapsulateKey"][0]
    assert not any("phKey" in ln for ln in size_query.lines)  # no key made by a size query
    assert "[out] pCiphertext[ulCiphertextLen] = NULL [size : 0x4 (4)]" in size_query.lines
    encap = records["C_EncapsulateKey"][1]
    assert "    CKA_KEY_TYPE          CKK_AES" in encap.lines
    assert "[out] *phKey = 0x101" in encap.lines
    assert any("45 4E 43 31" in ln for ln in encap.lines)
    wrapped = records["C_WrapKeyAuthenticated"][0]
    assert "[out] pWrappedKey[ulWrappedKeyLen] = <wrapped key hidden: 8 bytes>" in wrapped.lines
    assert records["C_SessionCancel"][0].lines[-1].strip() == "CKF_MESSAGE_ENCRYPT"
    assert records["C_VerifySignatureFinal"][0].rv_name == "CKR_SIGNATURE_INVALID"
