"""`pkcs11spy rv`: every code of the three tables answers, by name and by number."""
from __future__ import annotations

import json

import pytest

from pkcs11spy import catalog
from pkcs11spy.analysis.codes import GSKIT, OPENSC, PKCS11, lookup, tables
from pkcs11spy.cli import main


def test_every_code_of_every_table_answers():
    seen = {PKCS11: 0, OPENSC: 0, GSKIT: 0}
    for table in tables():
        for r in table.readings:
            by_name = lookup(r.name)
            assert r.name in [x.name for x in by_name.readings]
            by_number = lookup(str(r.value))
            assert r.name in [x.name for x in by_number.readings], (r.table, r.name, r.value)
            assert r.meaning and r.next_steps
            seen[r.table] += 1
    assert seen[PKCS11] == len(catalog.family("CKR").names())
    assert seen[OPENSC] == 83 and seen[GSKIT] == 80  # rows in data/opensc.txt and data/gskit.txt


def test_every_standard_ckr_has_its_own_explanation():
    generic = [r.name for r in tables()[0].readings if r.meaning == "A PKCS#11 return value."]
    assert generic == []


@pytest.mark.parametrize("query", ["160", "0xA0", "0x000000A0", "CKR_PIN_INCORRECT", "ckr_pin_incorrect"])
def test_forms_of_pin_incorrect(query):
    assert [r.name for r in lookup(query).readings] == ["CKR_PIN_INCORRECT"]


def test_opensc_and_gskit_forms():
    assert [r.name for r in lookup("-1214").readings] == ["SC_ERROR_PIN_CODE_INCORRECT"]
    assert [r.value for r in lookup("SC_ERROR_PIN_CODE_INCORRECT").readings] == [-1214]
    assert [r.name for r in lookup("-1208").readings] == ["SC_ERROR_NO_CARD_SUPPORT"]
    assert [r.name for r in lookup("408").readings] == ["GSK_ERROR_BAD_KEYFILE_PASSWORD"]
    assert [r.value for r in lookup("GSK_ERROR_BAD_KEYFILE_PASSWORD").readings] == [408]


def test_number_in_several_tables_shows_each_reading(capsys):
    assert main(["rv", "2"]) == 1
    out = capsys.readouterr().out
    assert "2 readings" in out and "[PKCS#11] CKR_HOST_MEMORY" in out and "[GSKit] GSK_API_NOT_AVAILABLE" in out
    assert {r.name for r in lookup("203").readings} == {"GSK_RSA_TEMP_KEY_PAIR", "GSK_CLOSE_FAILED"}


def test_unknown_and_vendor_defined(capsys):
    assert main(["rv", "0x80000123", "12345"]) == 1
    out = capsys.readouterr().out
    assert "0x80000123: unknown code" in out and "vendor-defined range" in out
    assert "12345: unknown code" in out
    assert "vendor" not in out.split("12345: unknown code")[1]


def test_control_characters_are_not_echoed(capsys):
    """A pasted escape sequence is shown escaped, never sent to the terminal."""
    assert main(["rv", "\x1b[31mred\x07"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred\\x07: unknown code" in out


def test_ok_exits_zero_and_json(capsys):
    assert main(["rv", "--json", "0"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["readings"][0]["name"] == "CKR_OK" and doc[0]["known"]
    assert {r["table"] for r in doc[0]["readings"]} == {PKCS11, OPENSC, GSKIT}


def test_human_output_has_meaning_causes_next(capsys):
    main(["rv", "CKR_USER_ALREADY_LOGGED_IN"])
    out = capsys.readouterr().out
    assert "0x00000100" in out and "meaning:" in out and "causes:" in out and "next:" in out
