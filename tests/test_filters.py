"""PKCS11SPY_FUNCTIONS (globs, includes and -excludes) and PKCS11SPY_ERRORS_ONLY."""
from __future__ import annotations

from conftest import read, run, spy_env
from trace_parse import parse
from pkcs11spy import filters
from pkcs11spy.functions import FUNCTIONS


def listing(pkcs11_tool, spy, token, env):
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin",
             token.user_pin, "-O"], env)
    assert r.returncode == 0, r.stderr
    return r


def names_in(trace):
    return [r.function for r in parse(read(trace))]


def test_unfiltered_sees_the_session(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "all.txt"
    listing(pkcs11_tool, spy, token, spy_env(token, trace))
    names = set(names_in(trace))
    assert {"C_GetSlotList", "C_GetTokenInfo", "C_Login", "C_FindObjectsInit"} <= names


def test_include_globs(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "inc.txt"
    listing(pkcs11_tool, spy, token, spy_env(token, trace, PKCS11SPY_FUNCTIONS="C_Get*Info,C_Login"))
    names = names_in(trace)
    assert "C_Login" in names and "C_GetTokenInfo" in names
    assert set(names) <= {"C_Login", "C_GetInfo", "C_GetSlotInfo", "C_GetTokenInfo",
                          "C_GetMechanismInfo", "C_GetSessionInfo"}
    # Numbers still increase and records are whole.
    seqs = [r.seq for r in parse(read(trace))]
    assert seqs == sorted(seqs)


def test_exclude_only_and_mixed(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "exc.txt"
    listing(pkcs11_tool, spy, token, spy_env(token, trace, PKCS11SPY_FUNCTIONS="-C_GetTokenInfo,-C_Find*"))
    names = set(names_in(trace))
    assert "C_GetTokenInfo" not in names and not any(n.startswith("C_Find") for n in names)
    assert {"C_GetSlotList", "C_Login", "C_OpenSession"} <= names
    mixed = tmp_path / "mixed.txt"
    listing(pkcs11_tool, spy, token, spy_env(token, mixed, PKCS11SPY_FUNCTIONS="C_Get*, -C_GetTokenInfo"))
    names = set(names_in(mixed))
    assert names and all(n.startswith("C_Get") for n in names) and "C_GetTokenInfo" not in names


def test_typo_gets_one_clear_line(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "typo.txt"
    r = listing(pkcs11_tool, spy, token, spy_env(token, trace, PKCS11SPY_FUNCTIONS="C_Lgoin,C_Login"))
    assert "PKCS11SPY_FUNCTIONS: 'C_Lgoin' matches no function" in r.stderr
    assert names_in(trace) == ["C_Login"]


def test_selecting_nothing_says_so():
    warnings = []
    m = filters.masks("garbage", False, warnings.append)
    assert not any(m.values())
    assert len(warnings) == 2 and "'garbage' matches no function" in warnings[0]
    assert warnings[1] == ("pkcs11spy: PKCS11SPY_FUNCTIONS=garbage selects no function: no call will be "
                           "traced (unset it to trace every call)")
    warnings.clear()
    filters.masks("C_Sign*,-C_Sign*", False, warnings.append)
    assert len(warnings) == 1 and "selects no function" in warnings[0]


def test_masks():
    warnings = []
    m = filters.masks("C_Sign*,-C_SignRecover*", False, warnings.append)
    chosen = {FUNCTIONS[i].name for i, bits in m.items() if bits}
    assert chosen == {f.name for f in FUNCTIONS
                      if f.name.startswith("C_Sign") and not f.name.startswith("C_SignRecover")}
    assert {"C_Sign", "C_SignInit", "C_SignEncryptUpdate"} <= chosen
    assert "C_SignRecover" not in chosen and not warnings
    errors = filters.masks("", True, warnings.append)
    by_name = {FUNCTIONS[i].name: bits for i, bits in errors.items()}
    # Errors-only: Python only after a failure, except where an in/out value is read on entry.
    assert by_name["C_Login"] == filters.WANT_EXIT_ERROR
    assert by_name["C_GetAttributeValue"] == filters.WANT_ENTER | filters.WANT_EXIT


def test_errors_only_captures_the_wrong_pin_and_nothing_else(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "err.txt"
    r = run([pkcs11_tool, "--module", spy, "--token-label", token.label, "--login", "--pin", "999999",
             "-O"], spy_env(token, trace, PKCS11SPY_ERRORS_ONLY="1"))
    assert r.returncode != 0
    records = parse(read(trace))
    assert [(x.function, x.rv, x.rv_name) for x in records] == [("C_Login", 160, "CKR_PIN_INCORRECT")]
    login = records[0]
    assert "[in] userType = CKU_USER" in login.ins
    assert any(ln.startswith("[in] pPin[ulPinLen] = <PIN hidden: 6 bytes") for ln in login.ins)
    assert "999999" not in read(trace)


def test_errors_only_with_a_good_session_writes_no_calls(pkcs11_tool, spy, token, tmp_path):
    trace = tmp_path / "ok.txt"
    listing(pkcs11_tool, spy, token, spy_env(token, trace, PKCS11SPY_ERRORS_ONLY="1"))
    assert parse(read(trace)) == []
    assert 'Loaded: "' in read(trace)


def test_bad_settings_get_one_line_each():
    from pkcs11spy import config
    warnings = []
    s = config.load(warnings.append, {"PKCS11SPY_FORMAT": "xml", "PKCS11SPY_ERRORS_ONLY": "maybe",
                                      "PKCS11SPY_STATS": "yes"})
    assert (s.format, s.errors_only, s.stats) == ("text", False, True)
    assert warnings == [
        "pkcs11spy: PKCS11SPY_FORMAT='xml' is not understood; set it to one of text, json (using text)",
        "pkcs11spy: PKCS11SPY_ERRORS_ONLY='maybe' is not understood; set it to 1 or 0 (using 0)",
    ]
