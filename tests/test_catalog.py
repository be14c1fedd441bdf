"""Tests of pkcs11spy.catalog: data files, lookups, flags, attribute rules."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from pkcs11spy.catalog import (
    CK_EFFECTIVELY_INFINITE,
    CK_INVALID_HANDLE,
    FAMILIES,
    FLAGSETS,
    RV_VENDOR_DEFINED,
    attribute_kind,
    family,
    flagset,
    is_secret_attribute,
    lookup,
    parameter_set_family,
    unavailable,
)
from pkcs11spy.catalog._datafiles import parse

NSS_BASE = 0xCE534350
NAME_PATTERN = re.compile(r"^CK[A-Z0-9_]*$")


def data_files():
    """(tier, entry) for every data file; tier is '' (standard), 'nss' or 'nss_legacy'."""
    root = files("pkcs11spy.catalog").joinpath("data")
    found = []
    for entry in root.iterdir():
        if entry.name.endswith(".txt"):
            parts = entry.name.split(".")
            found.append((parts[1] if len(parts) == 3 else "", entry))
    return found


def v(name: str) -> int:
    value = lookup(name)
    assert value is not None, name
    return value


# --- data files ------------------------------------------------------------


def test_every_data_file_parses_with_valid_unique_names():
    files_seen = data_files()
    assert len(files_seen) > 40
    assert {tier for tier, _ in files_seen} == {"", "nss", "nss_legacy"}
    for tier, entry in files_seen:
        rows = list(parse(entry.read_text(encoding="ascii"), entry.name))
        names = [name for name, _ in rows]
        assert len(names) == len(set(names)), f"duplicate name in {tier}/{entry.name}"
        for name, value in rows:
            assert NAME_PATTERN.match(name), name
            assert 0 <= value <= 0xFFFFFFFF, name


def test_parse_reports_the_bad_line():
    with pytest.raises(ValueError, match="x.txt:2"):
        list(parse("CKR_OK 0x0\nCKR_BROKEN\n", "x.txt"))
    with pytest.raises(ValueError, match="bad hex"):
        list(parse("CKR_OK zz\n", "x.txt"))
    assert list(parse("# comment\n\nCKR_OK 0x0  # trailing\n")) == [("CKR_OK", 0)]


def test_no_name_has_two_values_anywhere():
    seen = {}
    for tier, entry in data_files():
        for name, value in parse(entry.read_text(encoding="ascii"), entry.name):
            assert seen.setdefault(name, value) == value, f"{name} in {tier}/{entry.name}"


def test_vendor_tiers_stay_in_vendor_space():
    for tier, entry in data_files():
        rows = list(parse(entry.read_text(encoding="ascii"), entry.name))
        if tier == "nss":
            for name, value in rows:
                assert value >= 0x80000000, name
        if tier == "nss_legacy":
            # Legacy values are the ones outside the NSS range, hence alias-only.
            for name, value in rows:
                assert not NSS_BASE <= value < NSS_BASE + 0x10000, name


def test_flag_files_hold_distinct_single_bits():
    for context, flags in FLAGSETS.items():
        bits = [bit for bit, _ in flags.family.items()]
        assert len(bits) == len(set(bits)), context
        for bit in bits:
            assert bit and bit & (bit - 1) == 0, (context, hex(bit))


def test_families_are_keyed_by_upper_case_stems():
    for key in ("CKR", "CKM", "CKA", "CKO", "CKK", "CKC", "CKH", "CKU", "CKS", "CKD",
                "CKG_MGF", "CKG_GENERATOR", "CKZ", "CKP_PROFILE", "CKP_PRF", "CKP_ML_DSA",
                "CKP_ML_KEM", "CKP_SLH_DSA", "CKH_HEDGE", "CKT", "CKV_TYPE", "CKV_AUTHORITY",
                "CKS_VALIDATION", "CK_CERTIFICATE_CATEGORY", "CK_SECURITY_DOMAIN",
                "CK_OTP_FORMAT", "CK_OTP_REQUIREMENT", "CK_OTP_PARAM_TYPE", "CKN"):
        assert family(key) is FAMILIES[key]
    with pytest.raises(KeyError):
        family("CKX")
    assert family("CKR").prefix == "CKR"
    assert family("CKG_MGF").prefix == "CKG"
    assert family("CK_OTP_FORMAT").prefix == "CK_OTP_FORMAT"


def test_vendor_bases():
    for key in ("CKR", "CKM", "CKA", "CKO", "CKK", "CKC", "CKH", "CKP_PROFILE", "CKT"):
        assert family(key).vendor_base == 0x80000000, key
    for key in ("CKU", "CKS", "CKD", "CKG_MGF", "CKH_HEDGE", "CKP_ML_DSA"):
        assert family(key).vendor_base is None, key


# --- values from the spec -----------------------------------------------------


@pytest.mark.parametrize("key,name,value", [
    ("CKR", "CKR_PIN_INCORRECT", 0xA0),
    ("CKR", "CKR_OPERATION_CANCEL_FAILED", 0x202),
    ("CKR", "CKR_PARAMETER_SET_NOT_SUPPORTED", 0x209),
    ("CKR", "CKR_AEAD_DECRYPT_FAILED", 0x42),
    ("CKM", "CKM_RSA_PKCS_PSS", 0x0D),
    ("CKM", "CKM_ML_DSA", 0x1D),
    ("CKM", "CKM_ML_DSA_KEY_PAIR_GEN", 0x1C),
    ("CKM", "CKM_ML_KEM", 0x17),
    ("CKM", "CKM_HASH_SLH_DSA_SHAKE256", 0x3F),
    ("CKM", "CKM_AES_GCM", 0x1087),
    ("CKM", "CKM_PUB_KEY_FROM_PRIV_KEY", 0x403A),
    ("CKA", "CKA_ALLOWED_MECHANISMS", 0x40000600),
    ("CKA", "CKA_ENCAPSULATE_TEMPLATE", 0x4000062A),
    ("CKA", "CKA_PARAMETER_SET", 0x61D),
    ("CKA", "CKA_SEED", 0x637),
    ("CKK", "CKK_ML_DSA", 0x4A),
    ("CKK", "CKK_SLH_DSA", 0x4B),
    ("CKO", "CKO_TRUST", 0x0B),
    ("CKT", "CKT_TRUST_MUST_VERIFY_TRUST", 4),
    ("CKP_ML_KEM", "CKP_ML_KEM_768", 2),
    ("CKP_SLH_DSA", "CKP_SLH_DSA_SHAKE_256F", 0x0C),
    ("CKG_MGF", "CKG_MGF1_SHA3_512", 9),
    ("CKG_GENERATOR", "CKG_GENERATE_COUNTER_XOR", 4),
    ("CKD", "CKD_BLAKE2B_512_KDF", 0x1A),
    ("CKH_HEDGE", "CKH_DETERMINISTIC_REQUIRED", 2),
    ("CKV_AUTHORITY", "CKV_AUTHORITY_TYPE_COMMON_CRITERIA", 2),
    ("CKS_VALIDATION", "CKS_LAST_VALIDATION_OK", 1),
    ("CK_SECURITY_DOMAIN", "CK_SECURITY_DOMAIN_THIRD_PARTY", 3),
])
def test_spec_values(key, name, value):
    assert family(key).value_of(name) == value
    assert family(key).name_of(value) == name


@pytest.mark.parametrize("key,alias,preferred", [
    ("CKA", "CKA_SUB_PRIME_BITS", "CKA_SUBPRIME_BITS"),
    ("CKA", "CKA_ECDSA_PARAMS", "CKA_EC_PARAMS"),
    ("CKA", "CKA_KEYS_REMAINING", "CKA_HSS_KEYS_REMAINING"),
    ("CKM", "CKM_ECDSA_KEY_PAIR_GEN", "CKM_EC_KEY_PAIR_GEN"),
    ("CKM", "CKM_CAST5_CBC", "CKM_CAST128_CBC"),
    ("CKM", "CKM_SHA3_256_KEY_DERIVE", "CKM_SHA3_256_KEY_DERIVATION"),
    ("CKM", "CKM_DSA_PROBABLISTIC_PARAMETER_GEN", "CKM_DSA_PROBABILISTIC_PARAMETER_GEN"),
    ("CKK", "CKK_ECDSA", "CKK_EC"),
    ("CKK", "CKK_CAST5", "CKK_CAST128"),
    ("CKF_MECHANISM", "CKF_MULTI_MESSGE", "CKF_MULTI_MESSAGE"),
    ("CKF_MECHANISM", "CKF_EC_NAMEDCURVE", "CKF_EC_OID"),
    ("CK_SP800_108_PRF_DATA", "CK_SP800_108_OPTIONAL_COUNTER", "CK_SP800_108_COUNTER"),
])
def test_aliases_parse_but_preferred_name_displays(key, alias, preferred):
    fam = family(key)
    value = fam.value_of(alias)
    assert value is not None and value == fam.value_of(preferred)
    assert fam.name_of(value) == preferred
    assert alias not in {name for _, name in fam.items()}


def test_items_are_sorted_preferred_names():
    items = family("CKR").items()
    assert items == sorted(items)
    assert items[0] == (0, "CKR_OK")
    assert (0x80000000, "CKR_VENDOR_DEFINED") in items
    assert items[-1] == (NSS_BASE + 2, "CKR_NSS_KEYDB_FAILED")  # NSS values sort last


# --- never failing formatting --------------------------------------------------


def test_vendor_values_are_relative_to_the_vendor_constant():
    ckm = family("CKM")
    assert ckm.name_of(0x80000123) == "CKM_VENDOR_DEFINED+0x123"
    assert ckm.value_of("CKM_VENDOR_DEFINED+0x123") == 0x80000123
    assert ckm.is_vendor(0x80000123) and not ckm.is_vendor(0x123)
    assert family("CKR").name_of(RV_VENDOR_DEFINED) == "CKR_VENDOR_DEFINED"
    assert family("CKA").name_of(0x80000001) == "CKA_VENDOR_DEFINED+0x1"


def test_unknown_values_are_hex_with_eight_digits_minimum():
    assert family("CKR").name_of(0xABCD) == "0x0000abcd"
    assert family("CKM").name_of(0x1E) == "0x0000001e"
    assert family("CKG_MGF").name_of(0x80000001) == "0x80000001"  # no vendor range
    assert family("CKD").name_of(unavailable()) == "0xffffffffffffffff"
    assert family("CKR").value_of("0x0000abcd") == 0xABCD
    assert family("CKR").value_of("CKR_NO_SUCH_THING") is None
    assert family("CKR").value_of("CKM_RSA_PKCS") is None  # other family's name


def test_name_of_tolerates_odd_input():
    assert family("CKR").name_of(True) == "CKR_CANCEL"
    assert family("CKR").name_of("garbage") == "garbage"
    assert family("CKR").name_of(-1) == "-0x00000001"


def test_nss_names():
    assert family("CKM").name_of(NSS_BASE + 49) == "CKM_NSS_ML_KEM"
    assert family("CKM").value_of("CKM_NSS_HKDF_SHA256") == NSS_BASE + 4
    assert family("CKO").name_of(NSS_BASE + 3) == "CKO_NSS_TRUST"
    assert family("CKK").name_of(NSS_BASE + 6) == "CKK_NSS_ML_KEM"
    assert family("CKR").name_of(NSS_BASE + 1) == "CKR_NSS_CERTDB_FAILED"
    assert family("CKT").name_of(NSS_BASE + 1) == "CKT_NSS_TRUSTED"
    assert family("CKT").value_of("CKT_NSS_VALID") == NSS_BASE + 10
    assert family("CKA").name_of(NSS_BASE + 0x2000 + 8) == "CKA_NSS_TRUST_SERVER_AUTH"
    assert family("CKA").value_of("CKA_CERT_SHA1_HASH") == NSS_BASE + 0x2000 + 100
    assert family("CKP_ML_KEM").name_of(NSS_BASE + 2) == "CKP_NSS_ML_KEM_768"
    # NSS's old spelling lost the name to the 3.2 standard attribute.
    assert family("CKA").value_of("CKA_TRUST_SERVER_AUTH") == 0x62C
    # Historical NSS values outside its range parse, but are never displayed.
    assert family("CKM").value_of("CKM_NSS_PBE_SHA1_DES_CBC") == 0x80000002
    assert family("CKM").name_of(0x80000002) == "CKM_VENDOR_DEFINED+0x2"
    assert family("CKM").name_of(NSS_BASE + 1000) == "CKM_VENDOR_DEFINED+0x4e534738"


# --- flags --------------------------------------------------------------------


def test_required_flag_contexts_exist():
    for context in ("token", "slot", "session", "mechanism", "init_args", "interface", "wait",
                    "message", "otp", "hkdf", "session_validation", "session_cancel", "info",
                    "array_attribute"):
        assert flagset(context) is FLAGSETS[context]
    with pytest.raises(KeyError):
        flagset("nope")


def test_flag_split_and_describe():
    session = flagset("session")
    assert session.split(0x106) == (["CKF_RW_SESSION", "CKF_SERIAL_SESSION"], 0x100)
    assert session.describe(0x6) == "CKF_RW_SESSION | CKF_SERIAL_SESSION"
    assert session.describe(0x106) == "CKF_RW_SESSION | CKF_SERIAL_SESSION | 0x00000100"
    assert session.describe(0) == "0"
    assert flagset("wait").describe(1) == "CKF_DONT_BLOCK"
    assert flagset("message").describe(1) == "CKF_END_OF_MESSAGE"
    assert flagset("session_validation").describe(5) == "0x00000005"
    mech = flagset("mechanism").split(0x80000000 | 0x2000 | 0x800 | 0x1)
    assert mech == (["CKF_HW", "CKF_SIGN", "CKF_VERIFY", "CKF_EXTENSION"], 0)


def test_session_cancel_takes_operation_flags():
    names, rest = flagset("session_cancel").split(0x40 | 0x8 | 0x100 | 0x1)
    assert names == ["CKF_MESSAGE_SIGN", "CKF_FIND_OBJECTS", "CKF_ENCRYPT"]
    assert rest == 0x1  # CKF_HW is not an operation


# --- attributes -------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", [
    ("CKA_CLASS", "enum:CKO"),
    ("CKA_KEY_TYPE", "enum:CKK"),
    ("CKA_CERTIFICATE_TYPE", "enum:CKC"),
    ("CKA_HW_FEATURE_TYPE", "enum:CKH"),
    ("CKA_KEY_GEN_MECHANISM", "enum:CKM"),
    ("CKA_NAME_HASH_ALGORITHM", "enum:CKM"),
    ("CKA_MECHANISM_TYPE", "enum:CKM"),
    ("CKA_CERTIFICATE_CATEGORY", "enum:CK_CERTIFICATE_CATEGORY"),
    ("CKA_JAVA_MIDP_SECURITY_DOMAIN", "enum:CK_SECURITY_DOMAIN"),
    ("CKA_PROFILE_ID", "enum:CKP_PROFILE"),
    ("CKA_TRUST_SERVER_AUTH", "enum:CKT"),
    ("CKA_TOKEN", "bool"),
    ("CKA_MODULUS_BITS", "ulong"),
    ("CKA_PARAMETER_SET", "parameter_set"),
    ("CKA_LABEL", "text"),
    ("CKA_UNIQUE_ID", "text"),
    ("CKA_MODULUS", "bigint"),
    ("CKA_PRIME", "bigint"),
    ("CKA_START_DATE", "date"),
    ("CKA_ALLOWED_MECHANISMS", "mechanism_list"),
    ("CKA_DECAPSULATE_TEMPLATE", "template"),
    ("CKA_SUBJECT", "der_name"),
    ("CKA_AC_ISSUER", "der_name"),
    ("CKA_EC_PARAMS", "ec_params"),
    ("CKA_EC_POINT", "ec_point"),
    ("CKA_PUBLIC_KEY_INFO", "der"),
    ("CKA_SERIAL_NUMBER", "der"),
    ("CKA_HSS_LMS_TYPES", "ulong_list"),
    ("CKA_VALIDATION_VERSION", "version"),
    ("CKA_OBJECT_VALIDATION_FLAGS", "flags:session_validation"),
    ("CKA_VALUE", "bytes"),
    ("CKA_ID", "bytes"),
])
def test_attribute_kinds(name, kind):
    assert attribute_kind(v(name)) == kind


def test_unknown_and_vendor_attributes_are_bytes():
    assert attribute_kind(0x80001234) == "bytes"
    assert attribute_kind(0x7FF) == "bytes"


def test_every_kind_points_at_something_that_exists():
    from pkcs11spy.catalog.attributes import KIND_NAMES

    vocabulary = {"bool", "ulong", "parameter_set", "text", "bytes", "bigint", "date",
                  "mechanism_list", "template", "der_name", "ec_params", "ec_point", "der",
                  "ulong_list", "version"}
    for kind, names in KIND_NAMES.items():
        if kind.startswith("enum:"):
            assert kind[len("enum:"):] in FAMILIES, kind
        elif kind.startswith("flags:"):
            assert kind[len("flags:"):] in FLAGSETS, kind
        else:
            assert kind in vocabulary, kind
        for name in names:
            assert attribute_kind(v(name)) == kind, name


def test_parameter_set_family_follows_key_type():
    assert parameter_set_family(v("CKK_ML_DSA")) == "CKP_ML_DSA"
    assert parameter_set_family(v("CKK_ML_KEM")) == "CKP_ML_KEM"
    assert parameter_set_family(v("CKK_SLH_DSA")) == "CKP_SLH_DSA"
    assert parameter_set_family(v("CKK_RSA")) is None
    assert parameter_set_family(None) is None


@pytest.mark.parametrize("attr,cls,secret", [
    ("CKA_VALUE", "CKO_SECRET_KEY", True),
    ("CKA_VALUE", "CKO_PRIVATE_KEY", True),
    ("CKA_VALUE", "CKO_OTP_KEY", True),
    ("CKA_VALUE", None, True),
    ("CKA_VALUE", "CKO_CERTIFICATE", False),
    ("CKA_VALUE", "CKO_PUBLIC_KEY", False),
    ("CKA_VALUE", "CKO_DATA", False),
    ("CKA_VALUE", "CKO_DOMAIN_PARAMETERS", False),
    ("CKA_VALUE", "CKO_NSS_CRL", False),
    ("CKA_PRIVATE_EXPONENT", "CKO_PRIVATE_KEY", True),
    ("CKA_PRIVATE_EXPONENT", None, True),
    ("CKA_PRIME_1", "CKO_PRIVATE_KEY", True),
    ("CKA_PRIME_2", None, True),
    ("CKA_EXPONENT_1", None, True),
    ("CKA_EXPONENT_2", None, True),
    ("CKA_COEFFICIENT", None, True),
    ("CKA_SEED", "CKO_PRIVATE_KEY", True),
    ("CKA_X2RATCHET_RK", "CKO_SECRET_KEY", True),
    ("CKA_X2RATCHET_DHS", None, True),
    ("CKA_X2RATCHET_DHP", None, False),
    ("CKA_MODULUS", "CKO_PRIVATE_KEY", False),
    ("CKA_PUBLIC_EXPONENT", None, False),
    ("CKA_EC_POINT", "CKO_PUBLIC_KEY", False),
    ("CKA_LABEL", "CKO_SECRET_KEY", False),
])
def test_secret_attributes(attr, cls, secret):
    object_class = None if cls is None else v(cls)
    assert is_secret_attribute(v(attr), object_class) is secret


def test_value_of_unknown_vendor_class_is_redacted():
    assert is_secret_attribute(v("CKA_VALUE"), 0x80000042) is True
    assert is_secret_attribute(0x80001234, None) is False


# --- constants ------------------------------------------------------------------------


def test_special_constants():
    assert unavailable() == 2**64 - 1
    assert unavailable(32) == 0xFFFFFFFF
    assert RV_VENDOR_DEFINED == 0x80000000
    assert CK_EFFECTIVELY_INFINITE == 0 and CK_INVALID_HANDLE == 0


# --- completeness -------------------------------------------------------------------

# Every CK_RV of PKCS#11 3.2 (OASIS 3.2 header; the latchset 3.2 prerelease
# header lists the same set), transcribed separately from data/ckr.txt.
CKR_VALUES_3_2 = (
    0x000, 0x001, 0x002, 0x003, 0x005, 0x006, 0x007, 0x008, 0x009, 0x00A,
    0x010, 0x011, 0x012, 0x013, 0x01B, 0x020, 0x021, 0x030, 0x031, 0x032,
    0x040, 0x041, 0x042, 0x050, 0x051, 0x054, 0x060, 0x062, 0x063, 0x064,
    0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x070, 0x071, 0x082, 0x090,
    0x091, 0x0A0, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0B0, 0x0B1, 0x0B3, 0x0B4,
    0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0C0, 0x0C1, 0x0D0, 0x0D1, 0x0E0, 0x0E1,
    0x0E2, 0x0F0, 0x0F1, 0x0F2, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105,
    0x110, 0x112, 0x113, 0x114, 0x115, 0x120, 0x121, 0x130, 0x140, 0x150,
    0x160, 0x170, 0x180, 0x190, 0x191, 0x1A0, 0x1A1, 0x1B0, 0x1B1, 0x1B5,
    0x1B6, 0x1B7, 0x1B8, 0x1B9, 0x200, 0x201, 0x202, 0x203, 0x204, 0x205,
    0x206, 0x207, 0x208, 0x209,
)


def test_every_3_2_return_value_is_named():
    assert len(CKR_VALUES_3_2) == 104  # plus CKR_VENDOR_DEFINED
    ckr = family("CKR")
    for value in CKR_VALUES_3_2:
        assert ckr.find(value) is not None, hex(value)
    standard = [value for value, _ in ckr.items() if value < ckr.vendor_base]
    assert sorted(standard) == sorted(CKR_VALUES_3_2)


# --- cross-check with PyKCS11 -------------------------------------------------------

# PyKCS11 names whose values differ from the spec; the spec decides.
PYKCS11_KNOWN_DIFFERENCES = {
    # 3.2 defines both as (CKF_ARRAY_ATTRIBUTE | 0x62A/0x62B) in the OASIS and the
    # prerelease headers; PyKCS11 1.5.x drops the array bit.
    "CKA_ENCAPSULATE_TEMPLATE": 0x4000062A,
    "CKA_DECAPSULATE_TEMPLATE": 0x4000062B,
}


def test_values_agree_with_pykcs11():
    try:
        import PyKCS11
    except ImportError as error:  # a skip would hide a broken environment
        pytest.fail(f"PyKCS11 is not importable ({error}): pip install PyKCS11")

    ours = {}
    for fam in FAMILIES.values():
        ours.update(fam.names())
    compared, mismatched = 0, {}
    for name in dir(PyKCS11):
        theirs = getattr(PyKCS11, name)
        if not name.startswith("CK") or not isinstance(theirs, int) or name not in ours:
            continue
        compared += 1
        if theirs != ours[name]:
            mismatched[name] = (hex(theirs), hex(ours[name]))
    assert compared > 800, "PyKCS11 exposed too few constants to compare"
    unexplained = {n: d for n, d in mismatched.items() if n not in PYKCS11_KNOWN_DIFFERENCES}
    assert unexplained == {}
    for name, spec_value in PYKCS11_KNOWN_DIFFERENCES.items():
        assert ours[name] == spec_value, name
