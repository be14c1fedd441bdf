"""Each analyze rule on small hand-written traces, in our layout and both OpenSC forms."""
from __future__ import annotations

import json

import pytest

from analysis_traces import FORMATS, C, login, open_session, render, simple, token_info
from pkcs11spy.cli import main


def analyze(tmp_path, capsys, calls, fmt, **kw):
    path = tmp_path / f"trace-{fmt}.txt"
    path.write_text(render(calls, fmt, **kw))
    code = main(["analyze", "--json", str(path)])
    doc = json.loads(capsys.readouterr().out)
    return code, doc["findings"]


def only(findings, rule):
    hits = [f for f in findings if f["rule"] == rule]
    assert hits, f"no {rule} finding in {[f['rule'] for f in findings]}"
    return hits


def calls_of(finding):
    return [(c["call"], c["function"]) for c in finding["calls"]]


INIT = simple("C_Initialize", 0, "[in] pInitArgs = NULL")
FINAL = simple("C_Finalize", 0, "[in] pReserved = NULL")


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_trace_has_no_findings(tmp_path, capsys, fmt):
    code, findings = analyze(tmp_path, capsys, [INIT, open_session(1), login("CKU_USER", 0),
                                                 simple("C_CloseSession", 0, "[in] hSession = 0x1"), FINAL], fmt)
    assert findings == [] and code == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_call_before_initialize_answered_ok(tmp_path, capsys, fmt):
    code, findings = analyze(tmp_path, capsys, [simple("C_GetSlotList", 0, "[in] tokenPresent = 0x0",
                                                       "[out] *pulCount = 0x1"), INIT, FINAL], fmt)
    f = only(findings, "call-outside-init")[0]
    assert calls_of(f) == [(0, "C_GetSlotList")] and "before C_Initialize" in f["what"] and "CKR_OK" in f["what"]
    assert code == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_call_after_finalize(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, FINAL, simple("C_GetInfo", 0x190)], fmt)
    f = only(findings, "call-outside-init")[0]
    assert calls_of(f) == [(1, "C_Finalize"), (2, "C_GetInfo")]
    assert "CKR_CRYPTOKI_NOT_INITIALIZED" in f["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_initialize_twice(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, simple("C_Initialize", 0x191, "[in] pInitArgs = NULL")], fmt)
    f = only(findings, "initialize-twice")[0]
    assert calls_of(f) == [(0, "C_Initialize"), (1, "C_Initialize")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_already_initialized_in_forked_child(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [simple("C_Initialize", 0x191, "[in] pInitArgs = NULL")], fmt)
    assert "forked child" in only(findings, "initialize-twice")[0]["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_trusted_after_error(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(7, rv=5), login("CKU_USER", 0, session=7)], fmt)
    f = only(findings, "output-after-error")[0]
    assert calls_of(f) == [(1, "C_OpenSession"), (2, "C_Login")] and "CKR_GENERAL_ERROR" in f["what"]


def slot_query(count, fmt_rv=0):
    return C("C_GetSlotList", fmt_rv, ["[in] tokenPresent = 0x0"], ours=[f"[out] *pulCount = 0x{count:x}"],
             opensc=["[out] pSlotList: ", f"Count is {count}", f"[out] *pulCount = 0x{count:x}"])


def slot_fill(capacity, slots, count=None, rv=0):
    count = len(slots) if count is None else count
    listed = [f"Slot {s}" for s in slots]
    return C("C_GetSlotList", rv, ["[in] tokenPresent = 0x0"],
             ours=[f"[in] *pulCount = 0x{capacity:x}", f"[out] pSlotList[{count}]: "] + listed +
                  [f"[out] *pulCount = 0x{capacity:x} => 0x{count:x}"],
             opensc=["[out] pSlotList: "] + listed + [f"[out] *pulCount = 0x{count:x}"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_slot_list_without_size_query(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, slot_fill(2, [1, 2]), FINAL], fmt)
    assert calls_of(only(findings, "slotlist-no-size-query")[0]) == [(1, "C_GetSlotList")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_slot_count_changed_between_calls(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, slot_query(1), slot_fill(1, [], count=2, rv=0x150), FINAL], fmt)
    f = only(findings, "slotlist-count-changed")[0]
    assert calls_of(f) == [(1, "C_GetSlotList"), (2, "C_GetSlotList")]


def test_slot_count_equal_to_capacity(tmp_path, capsys):
    # Only our layout prints the caller's capacity on entry; OpenSC's cannot show this.
    _, findings = analyze(tmp_path, capsys, [INIT, slot_query(1), slot_fill(4, [1], count=4), FINAL], "ours")
    assert calls_of(only(findings, "slotlist-count-is-capacity")[0]) == [(2, "C_GetSlotList")]


SIGN_INIT = simple("C_SignInit", 0, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_SHA256_RSA_PKCS",
                   "[in] hKey = 0x3")


@pytest.mark.parametrize("fmt", FORMATS)
def test_context_login_not_right_after_init(tmp_path, capsys, fmt):
    gap = simple("C_GetAttributeValue", 0, "[in] hSession = 0x1", "[in] hObject = 0x3")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT, gap,
                                             login("CKU_CONTEXT_SPECIFIC", 0)], fmt)
    f = only(findings, "context-login")[0]
    assert calls_of(f) == [(2, "C_SignInit"), (3, "C_GetAttributeValue"), (4, "C_Login")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_context_login_after_failed_init(tmp_path, capsys, fmt):
    bad_init = simple("C_SignInit", 0x70, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_SHA256_RSA_PKCS",
                      "[in] hKey = 0x3")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), bad_init, login("CKU_CONTEXT_SPECIFIC", 0x91)], fmt)
    f = only(findings, "context-login")[0]
    assert calls_of(f) == [(2, "C_SignInit"), (3, "C_Login")] and "failed" in f["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_context_login_right_after_init_is_fine(tmp_path, capsys, fmt):
    sign = simple("C_Sign", 0, "[in] hSession = 0x1")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT, login("CKU_CONTEXT_SPECIFIC", 0), sign,
                                             simple("C_CloseSession", 0, "[in] hSession = 0x1"), FINAL], fmt)
    assert findings == []


@pytest.mark.parametrize("fmt", ["ours", "opensc-new"])  # the old OpenSC form has no thread ids
def test_already_logged_in_from_another_thread(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), open_session(2, tid=0x7f02),
                                             login("CKU_USER", 0), login("CKU_USER", 0x100, session=2, tid=0x7f02)], fmt)
    f = only(findings, "login-concurrent-threads")[0]
    assert calls_of(f) == [(3, "C_Login"), (4, "C_Login")] and "thread" in f["what"]


@pytest.mark.parametrize("fmt", ["ours", "opensc-new"])
def test_operation_error_on_session_shared_by_threads(tmp_path, capsys, fmt):
    sign_b = simple("C_Sign", 0x91, "[in] hSession = 0x1", tid=0x7f02)
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT, sign_b], fmt)
    assert calls_of(only(findings, "session-shared-by-threads")[0]) == [(3, "C_Sign")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_operation_abandoned(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT,
                                             simple("C_CloseSession", 0, "[in] hSession = 0x1"), FINAL], fmt)
    f = only(findings, "operation-abandoned")[0]
    assert calls_of(f) == [(2, "C_SignInit")] and "C_CloseSession #3" in f["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_size_query_keeps_operation_alive(tmp_path, capsys, fmt):
    query = simple("C_Sign", 0, "[in] hSession = 0x1", "[out] pSignature[*pulSignatureLen] = NULL [size : 0x100 (256)]")
    sign = simple("C_Sign", 0, "[in] hSession = 0x1")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT, query, sign,
                                             simple("C_CloseSession", 0, "[in] hSession = 0x1"), FINAL], fmt)
    assert findings == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_session_never_closed(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), open_session(2),
                                             simple("C_CloseSession", 0, "[in] hSession = 0x2")], fmt)
    f = only(findings, "session-leak")
    assert [calls_of(x) for x in f] == [[(1, "C_OpenSession")]] and "0x1" in f[0]["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_attribute_ok_with_unavailable_length(tmp_path, capsys, fmt):
    value = ("    CKA_VALUE             CK_UNAVAILABLE_INFORMATION" if fmt == "ours"
             else "    CKA_VALUE             0000000000000000 / -1")
    get = C("C_GetAttributeValue", 0, ["[in] hSession = 0x1", "[in] hObject = 0x3"],
            ours=["[out] pTemplate[1]: ", value], opensc=["[out] pTemplate[1]: ", value])
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), get], fmt)
    f = only(findings, "attribute-unavailable-ok")[0]
    assert calls_of(f) == [(2, "C_GetAttributeValue")] and "CKA_VALUE" in f["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_pin_then_token_flags(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), token_info([]),
                                             login("CKU_USER", 0xA0), token_info(["CKF_USER_PIN_FINAL_TRY"]),
                                             login("CKU_USER", 0xA4)], fmt)
    wrong = only(findings, "wrong-pin")
    assert calls_of(wrong[0]) == [(3, "C_Login"), (4, "C_GetTokenInfo")]
    assert any("one try is left" in d for d in wrong[0]["details"])
    assert calls_of(wrong[1])[0] == (5, "C_Login") and "CKR_PIN_LOCKED" in wrong[1]["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_pin_length_outside_token_range(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), token_info([], 4, 8),
                                             login("CKU_USER", 0xA2, b"1234567890")], fmt)
    f = only(findings, "pin-length")[0]
    assert calls_of(f) == [(2, "C_GetTokenInfo"), (3, "C_Login")] and "10 bytes" in f["what"] and "4..8" in f["what"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_pin_not_printable(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), login("CKU_USER", 0xA0, b"12\x0034")], fmt)
    assert calls_of(only(findings, "pin-not-printable")[0]) == [(2, "C_Login")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_key_type_inconsistent_shows_mechanism_and_key_type(tmp_path, capsys, fmt):
    get = C("C_GetAttributeValue", 0, ["[in] hSession = 0x1", "[in] hObject = 0x3"],
            ours=["[out] pTemplate[1]: ", "    CKA_KEY_TYPE          CKK_EC"],
            opensc=["[out] pTemplate[1]: ", "    CKA_KEY_TYPE          CKK_EC  "])
    init = simple("C_SignInit", 0x63, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_RSA_PKCS_PSS",
                  "[in] pMechanism->pParameter->hashAlg = CKM_SHA256", "[in] hKey = 0x3")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), get, init], fmt)
    f = only(findings, "mechanism-vs-key")[0]
    text = " ".join(f["details"])
    assert calls_of(f) == [(3, "C_SignInit")] and "CKM_RSA_PKCS_PSS" in text and "CKK_EC" in text
    assert "hashAlg = CKM_SHA256" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_mechanism_param_invalid(tmp_path, capsys, fmt):
    init = simple("C_EncryptInit", 0x71, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_AES_GCM",
                  "[in] pMechanism->pParameter->ulTagBits = 0x200", "[in] hKey = 0x3")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), init], fmt)
    f = only(findings, "mechanism-vs-key")[0]
    assert "CKM_AES_GCM" in f["what"] and any("ulTagBits" in d for d in f["details"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_call_that_never_returned(tmp_path, capsys, fmt):
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1),
                                             C("C_WaitForSlotEvent", None, ["[in] flags = 0x0"])], fmt)
    assert calls_of(only(findings, "never-returned")[0]) == [(2, "C_WaitForSlotEvent")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_operation_active_on_one_thread(tmp_path, capsys, fmt):
    enc = simple("C_EncryptInit", 0x90, "[in] hSession = 0x1", "[in] pMechanism->type = CKM_AES_GCM", "[in] hKey = 0x4")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), SIGN_INIT, enc], fmt)
    f = only(findings, "operation-active")[0]
    assert calls_of(f) == [(2, "C_SignInit"), (3, "C_EncryptInit")] and "Sign operation" in f["what"]


@pytest.mark.parametrize("fmt", ["ours", "opensc-new"])
def test_login_after_logout_is_not_paired_with_the_old_login(tmp_path, capsys, fmt):
    logout = simple("C_Logout", 0, "[in] hSession = 0x1")
    _, findings = analyze(tmp_path, capsys, [INIT, open_session(1), open_session(2, tid=0x7f02), login("CKU_USER", 0),
                                             logout, login("CKU_USER", 0x100, session=2, tid=0x7f02)], fmt)
    f = only(findings, "login-concurrent-threads")[0]
    assert calls_of(f) == [(5, "C_Login")]
