"""How to render each attribute's value, and which values are secret.

Tables are keyed by name (readable, reviewable) and resolved to numbers on
first use through the CKA family, so a typo fails the tests, not a trace.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional

from .families import family

# kind -> attribute names. Anything absent (unknown, vendor) renders as "bytes".
KIND_NAMES: Dict[str, tuple] = {
    "bool": (
        "CKA_TOKEN", "CKA_PRIVATE", "CKA_TRUSTED", "CKA_SENSITIVE", "CKA_ENCRYPT",
        "CKA_DECRYPT", "CKA_WRAP", "CKA_UNWRAP", "CKA_SIGN", "CKA_SIGN_RECOVER",
        "CKA_VERIFY", "CKA_VERIFY_RECOVER", "CKA_DERIVE", "CKA_EXTRACTABLE", "CKA_LOCAL",
        "CKA_NEVER_EXTRACTABLE", "CKA_ALWAYS_SENSITIVE", "CKA_MODIFIABLE", "CKA_COPYABLE",
        "CKA_DESTROYABLE", "CKA_SECONDARY_AUTH", "CKA_ALWAYS_AUTHENTICATE",
        "CKA_WRAP_WITH_TRUSTED", "CKA_OTP_USER_FRIENDLY_MODE", "CKA_RESET_ON_INIT",
        "CKA_HAS_RESET", "CKA_COLOR", "CKA_X2RATCHET_BOBS1STMSG", "CKA_X2RATCHET_ISALICE",
        "CKA_ENCAPSULATE", "CKA_DECAPSULATE",
        "CKA_NSS_MOZILLA_CA_POLICY", "CKA_NSS_TRUST_STEP_UP_APPROVED",
    ),
    "ulong": (
        "CKA_MODULUS_BITS", "CKA_PRIME_BITS", "CKA_SUBPRIME_BITS", "CKA_VALUE_BITS",
        "CKA_VALUE_LEN", "CKA_AUTH_PIN_FLAGS", "CKA_OTP_LENGTH", "CKA_OTP_TIME_INTERVAL",
        "CKA_PIXEL_X", "CKA_PIXEL_Y", "CKA_RESOLUTION", "CKA_CHAR_ROWS", "CKA_CHAR_COLUMNS",
        "CKA_BITS_PER_PIXEL", "CKA_X2RATCHET_BAGSIZE", "CKA_X2RATCHET_NR",
        "CKA_X2RATCHET_NS", "CKA_X2RATCHET_PNS", "CKA_HSS_LEVELS",
        # LMS/LM-OTS types are IANA registry numbers; the spec names none of them.
        "CKA_HSS_LMS_TYPE", "CKA_HSS_LMOTS_TYPE", "CKA_HSS_KEYS_REMAINING",
        "CKA_VALIDATION_LEVEL", "CKA_NSS_VALIDATION_LEVEL", "CKA_NSS_PQG_SEED_BITS",
    ),
    "enum:CKO": ("CKA_CLASS",),
    "enum:CKK": ("CKA_KEY_TYPE",),
    "enum:CKC": ("CKA_CERTIFICATE_TYPE",),
    "enum:CKH": ("CKA_HW_FEATURE_TYPE",),
    "enum:CKM": ("CKA_KEY_GEN_MECHANISM", "CKA_NAME_HASH_ALGORITHM", "CKA_MECHANISM_TYPE"),
    "enum:CK_CERTIFICATE_CATEGORY": ("CKA_CERTIFICATE_CATEGORY",),
    "enum:CK_SECURITY_DOMAIN": ("CKA_JAVA_MIDP_SECURITY_DOMAIN",),
    "enum:CKP_PROFILE": ("CKA_PROFILE_ID",),
    "enum:CK_OTP_FORMAT": ("CKA_OTP_FORMAT",),
    "enum:CK_OTP_REQUIREMENT": (
        "CKA_OTP_CHALLENGE_REQUIREMENT", "CKA_OTP_TIME_REQUIREMENT",
        "CKA_OTP_COUNTER_REQUIREMENT", "CKA_OTP_PIN_REQUIREMENT",
    ),
    "enum:CKV_TYPE": ("CKA_VALIDATION_TYPE",),
    "enum:CKV_AUTHORITY": ("CKA_VALIDATION_AUTHORITY_TYPE",),
    # Standard CKO_TRUST attributes and NSS's CKO_NSS_TRUST ones both hold CK_TRUST.
    "enum:CKT": (
        "CKA_TRUST_SERVER_AUTH", "CKA_TRUST_CLIENT_AUTH", "CKA_TRUST_CODE_SIGNING",
        "CKA_TRUST_EMAIL_PROTECTION", "CKA_TRUST_IPSEC_IKE", "CKA_TRUST_TIME_STAMPING",
        "CKA_TRUST_OCSP_SIGNING",
        "CKA_NSS_TRUST_DIGITAL_SIGNATURE", "CKA_NSS_TRUST_NON_REPUDIATION",
        "CKA_NSS_TRUST_KEY_ENCIPHERMENT", "CKA_NSS_TRUST_DATA_ENCIPHERMENT",
        "CKA_NSS_TRUST_KEY_AGREEMENT", "CKA_NSS_TRUST_KEY_CERT_SIGN",
        "CKA_NSS_TRUST_CRL_SIGN", "CKA_NSS_TRUST_SERVER_AUTH", "CKA_NSS_TRUST_CLIENT_AUTH",
        "CKA_NSS_TRUST_CODE_SIGNING", "CKA_NSS_TRUST_EMAIL_PROTECTION",
        "CKA_NSS_TRUST_IPSEC_END_SYSTEM", "CKA_NSS_TRUST_IPSEC_TUNNEL",
        "CKA_NSS_TRUST_IPSEC_USER", "CKA_NSS_TRUST_TIME_STAMPING",
    ),
    # The parameter-set family depends on CKA_KEY_TYPE: see parameter_set_family().
    "parameter_set": ("CKA_PARAMETER_SET", "CKA_NSS_PARAMETER_SET"),
    "text": (
        "CKA_LABEL", "CKA_UNIQUE_ID", "CKA_APPLICATION", "CKA_URL",
        "CKA_OTP_USER_IDENTIFIER", "CKA_OTP_SERVICE_IDENTIFIER", "CKA_OTP_SERVICE_LOGO_TYPE",
        "CKA_OTP_TIME", "CKA_CHAR_SETS", "CKA_ENCODING_METHODS", "CKA_MIME_TYPES",
        "CKA_VALIDATION_MODULE_ID", "CKA_VALIDATION_COUNTRY",
        "CKA_VALIDATION_CERTIFICATE_IDENTIFIER", "CKA_VALIDATION_CERTIFICATE_URI",
        "CKA_VALIDATION_VENDOR_URI", "CKA_VALIDATION_PROFILE",
        "CKA_NSS_URL", "CKA_NSS_EMAIL", "CKA_NSS_MODULE_SPEC", "CKA_NSS_VALIDATION_MODULE_ID",
    ),
    "bigint": (
        "CKA_MODULUS", "CKA_PUBLIC_EXPONENT", "CKA_PRIVATE_EXPONENT", "CKA_PRIME_1",
        "CKA_PRIME_2", "CKA_EXPONENT_1", "CKA_EXPONENT_2", "CKA_COEFFICIENT", "CKA_PRIME",
        "CKA_SUBPRIME", "CKA_BASE",
    ),
    "date": ("CKA_START_DATE", "CKA_END_DATE"),
    "mechanism_list": ("CKA_ALLOWED_MECHANISMS",),
    "template": (
        "CKA_WRAP_TEMPLATE", "CKA_UNWRAP_TEMPLATE", "CKA_DERIVE_TEMPLATE",
        "CKA_ENCAPSULATE_TEMPLATE", "CKA_DECAPSULATE_TEMPLATE",
    ),
    "der_name": ("CKA_SUBJECT", "CKA_ISSUER", "CKA_OWNER", "CKA_AC_ISSUER"),
    "ec_params": ("CKA_EC_PARAMS",),
    "ec_point": ("CKA_EC_POINT",),
    "der": (
        "CKA_PUBLIC_KEY_INFO", "CKA_OBJECT_ID", "CKA_SERIAL_NUMBER", "CKA_ATTR_TYPES",
        "CKA_GOSTR3410_PARAMS", "CKA_GOSTR3411_PARAMS", "CKA_GOST28147_PARAMS",
        "CKA_REQUIRED_CMS_ATTRIBUTES", "CKA_DEFAULT_CMS_ATTRIBUTES",
        "CKA_SUPPORTED_CMS_ATTRIBUTES",
    ),
    "ulong_list": ("CKA_HSS_LMS_TYPES", "CKA_HSS_LMOTS_TYPES"),
    "version": ("CKA_VALIDATION_VERSION", "CKA_NSS_VALIDATION_VERSION"),
    # Validation flag bits are assigned at run time, so the flag set names none.
    "flags:session_validation": ("CKA_OBJECT_VALIDATION_FLAGS", "CKA_VALIDATION_FLAG"),
}

# Secret whatever the object class.
ALWAYS_SECRET_NAMES = (
    "CKA_PRIVATE_EXPONENT", "CKA_PRIME_1", "CKA_PRIME_2", "CKA_EXPONENT_1",
    "CKA_EXPONENT_2", "CKA_COEFFICIENT", "CKA_SEED",
    # Double Ratchet state: chain, header, root keys, own DH private key, skipped keys.
    "CKA_X2RATCHET_BAG", "CKA_X2RATCHET_CKR", "CKA_X2RATCHET_CKS", "CKA_X2RATCHET_DHS",
    "CKA_X2RATCHET_HKR", "CKA_X2RATCHET_HKS", "CKA_X2RATCHET_NHKR", "CKA_X2RATCHET_NHKS",
    "CKA_X2RATCHET_RK",
    # NSS J-PAKE private exponents.
    "CKA_NSS_JPAKE_X2", "CKA_NSS_JPAKE_X2S",
)

# Classes whose CKA_VALUE is public. Every other class, known secret (private,
# secret and OTP keys) or unknown (vendor), is redacted: leaking costs more
# than hiding.
PUBLIC_VALUE_CLASS_NAMES = (
    "CKO_DATA", "CKO_CERTIFICATE", "CKO_PUBLIC_KEY", "CKO_HW_FEATURE",
    "CKO_DOMAIN_PARAMETERS", "CKO_MECHANISM", "CKO_PROFILE", "CKO_VALIDATION", "CKO_TRUST",
    "CKO_NSS_CRL", "CKO_NSS_SMIME", "CKO_NSS_TRUST", "CKO_NSS_BUILTIN_ROOT_LIST",
    "CKO_NSS_NEWSLOT", "CKO_NSS_DELSLOT", "CKO_NSS_VALIDATION",
)

# CKA_PARAMETER_SET family per key type.
PARAMETER_SET_FAMILY_BY_KEY_TYPE = {
    "CKK_ML_DSA": "CKP_ML_DSA",
    "CKK_ML_KEM": "CKP_ML_KEM",
    "CKK_SLH_DSA": "CKP_SLH_DSA",
    "CKK_NSS_ML_KEM": "CKP_ML_KEM",
    "CKK_NSS_KYBER": "CKP_ML_KEM",
}


class _Resolved:
    """Name tables turned into numbers, built once on first use."""

    def __init__(self) -> None:
        cka, cko, ckk = family("CKA"), family("CKO"), family("CKK")
        self.kind_by_type: Dict[int, str] = {}
        for kind, names in KIND_NAMES.items():
            for name in names:
                self.kind_by_type[_required(cka.value_of(name), name)] = kind
        self.always_secret: FrozenSet[int] = frozenset(
            _required(cka.value_of(name), name) for name in ALWAYS_SECRET_NAMES
        )
        self.public_value_classes: FrozenSet[int] = frozenset(
            _required(cko.value_of(name), name) for name in PUBLIC_VALUE_CLASS_NAMES
        )
        self.value_type = _required(cka.value_of("CKA_VALUE"), "CKA_VALUE")
        self.parameter_set_family = {
            _required(ckk.value_of(name), name): key
            for name, key in PARAMETER_SET_FAMILY_BY_KEY_TYPE.items()
        }


def _required(value: Optional[int], name: str) -> int:
    if value is None:
        raise LookupError(f"catalog table names unknown constant {name}")
    return value


_resolved: Optional[_Resolved] = None


def _tables() -> _Resolved:
    global _resolved
    if _resolved is None:
        _resolved = _Resolved()
    return _resolved


def attribute_kind(attr_type: int) -> str:
    """How to render a value of attr_type; unknown and vendor types are 'bytes'."""
    return _tables().kind_by_type.get(attr_type, "bytes")


def is_secret_attribute(attr_type: int, object_class: Optional[int]) -> bool:
    """True when the value must be redacted by default.

    CKA_VALUE is secret unless the object class is known to hold a public
    value; with no class known (None) it is treated as secret.
    """
    tables = _tables()
    if attr_type in tables.always_secret:
        return True
    if attr_type == tables.value_type:
        return object_class is None or object_class not in tables.public_value_classes
    return False


def parameter_set_family(key_type: Optional[int]) -> Optional[str]:
    """Family key for CKA_PARAMETER_SET of a key type ('CKP_ML_DSA'...), or None."""
    if key_type is None:
        return None
    return _tables().parameter_set_family.get(key_type)
