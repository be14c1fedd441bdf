"""Mechanism parameters (CK_MECHANISM.pParameter), decoded field by field.

Two tables drive it:

* ``PARAMETERS``: which parameter each mechanism takes, by mechanism name or name
  pattern (every ``CKM_*_RSA_PKCS_PSS`` takes CK_RSA_PKCS_PSS_PARAMS), resolved once
  against the catalog;
* ``LAYOUTS``: per parameter type, its C type (``ck_params_mechanisms.h``) and how each
  field is shown (the field *kinds* below).

One generic walker reads a structure from the kinds.  A parameter whose length is not
its structure's size is shown as bytes with the reason, and nothing is read past
``ulParameterLen``; pointers inside are read through ``memory`` like every other one.
Secret fields (passwords, data that becomes key material) are redacted unless
``PKCS11SPY_SHOW_SECRETS`` is set.

Field kinds (a tuple: kind, then its arguments):
    ("ulong",)                a size or count, decimal
    ("handle",)               an object handle, hex
    ("bool",) ("byte",)       CK_BBOOL; a CK_BYTE as a number
    ("enum", FAMILY)          a constant by name (CKM, CKG_MGF, CKD, ...)
    ("bytes", LEN)            a pointer whose length in bytes is field LEN
    ("bytes_bits", LEN)       the same, LEN counts bits
    ("bytes_fixed", N)        a pointer to N bytes (fixed by the spec)
    ("secret", LEN, WHAT)     like bytes, redacted by default
    ("text", LEN)             a pointer to LEN bytes of text (TLS labels)
    ("array",)                an inline CK_BYTE[N] (IVs, counter blocks)
    ("struct", TYPE)          an inline structure
    ("struct_ptr", TYPE)      a pointer to one structure
    ("struct_array", TYPE, N) a pointer to field-N structures
    ("version_ptr",)          a pointer to a CK_VERSION
    ("ulong_ptr",)            a pointer to a CK_ULONG (shown: the value it holds)
    ("pointer",)              an output the module fills: the address only
    ("template", N)           a pointer to field-N attributes
    ("prf_value",)            CK_PRF_DATA_PARAM.pValue, typed by the entry's type
    ("length",)               shown with the buffer it measures, not on its own
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .. import catalog
from ..memory import ULONG_MAX, ULONG_SIZE, memory
from ..model import (Bool, Bytes, DecodeError, Field, Items, Null, Pointer, Redacted, Scalar, Struct,
                     Text, Unavailable, Unreadable, Value)
from ..native import ffi
from . import values

MAX_ARRAY = 64        # entries of an array parameter shown (SP 800-108 data params)
MAX_DEPTH = 4         # structures within structures


@dataclass(frozen=True)
class Layout:
    ctype: str                           # the C type in ck_params_mechanisms.h
    fields: Sequence[Tuple]              # (C field name, kind, args...)
    label: str = ""                      # the spec's name when ctype is a stand-in


def F(name: str, kind: str, *args) -> Tuple:
    return (name, kind) + args


_RANDOM = [F("pClientRandom", "bytes", "ulClientRandomLen"), F("ulClientRandomLen", "length"),
           F("pServerRandom", "bytes", "ulServerRandomLen"), F("ulServerRandomLen", "length")]
_KEY_MAT = [F("ulMacSizeInBits", "ulong"), F("ulKeySizeInBits", "ulong"), F("ulIVSizeInBits", "ulong"),
            F("bIsExport", "bool"), F("RandomInfo", "struct", "CK_SSL3_RANDOM_DATA"),
            F("pReturnedKeyMaterial", "pointer")]
_ECDH2 = [F("kdf", "enum", "CKD"), F("pSharedData", "bytes", "ulSharedDataLen"), F("ulSharedDataLen", "length"),
          F("pPublicData", "bytes", "ulPublicDataLen"), F("ulPublicDataLen", "length"),
          F("ulPrivateDataLen", "ulong"), F("hPrivateData", "handle"),
          F("pPublicData2", "bytes", "ulPublicDataLen2"), F("ulPublicDataLen2", "length")]
_DH2 = [F("kdf", "enum", "CKD"), F("pOtherInfo", "bytes", "ulOtherInfoLen"), F("ulOtherInfoLen", "length"),
        F("pPublicData", "bytes", "ulPublicDataLen"), F("ulPublicDataLen", "length"),
        F("ulPrivateDataLen", "ulong"), F("hPrivateData", "handle"),
        F("pPublicData2", "bytes", "ulPublicDataLen2"), F("ulPublicDataLen2", "length")]
_PBKD2 = [F("saltSource", "enum", "CKZ_SALT"), F("pSaltSourceData", "bytes", "ulSaltSourceDataLen"),
          F("ulSaltSourceDataLen", "length"), F("iterations", "ulong"), F("prf", "enum", "CKP_PRF"),
          F("pPrfData", "bytes", "ulPrfDataLen"), F("ulPrfDataLen", "length")]
_CBC_DATA = [F("iv", "array"), F("pData", "secret", "length", "data made into a key"), F("length", "length")]
_SP800_108 = [F("prfType", "enum", "CKM"),
              F("pDataParams", "struct_array", "CK_PRF_DATA_PARAM", "ulNumberOfDataParams"),
              F("ulNumberOfDataParams", "length")]
_DERIVED = [F("pAdditionalDerivedKeys", "struct_array", "CK_DERIVED_KEY", "ulAdditionalDerivedKeys"),
            F("ulAdditionalDerivedKeys", "length")]

LAYOUTS: Dict[str, Layout] = {
    "CK_RSA_PKCS_OAEP_PARAMS": Layout("CK_RSA_PKCS_OAEP_PARAMS", [
        F("hashAlg", "enum", "CKM"), F("mgf", "enum", "CKG_MGF"), F("source", "enum", "CKZ"),
        F("pSourceData", "bytes", "ulSourceDataLen"), F("ulSourceDataLen", "length")]),
    "CK_RSA_PKCS_PSS_PARAMS": Layout("CK_RSA_PKCS_PSS_PARAMS", [
        F("hashAlg", "enum", "CKM"), F("mgf", "enum", "CKG_MGF"), F("sLen", "ulong")]),
    "CK_RSA_AES_KEY_WRAP_PARAMS": Layout("CK_RSA_AES_KEY_WRAP_PARAMS", [
        F("ulAESKeyBits", "ulong"), F("pOAEPParams", "struct_ptr", "CK_RSA_PKCS_OAEP_PARAMS")]),
    "CK_GCM_PARAMS": Layout("CK_GCM_PARAMS", [
        F("pIv", "bytes", "ulIvLen"), F("ulIvLen", "length"), F("ulIvBits", "ulong"),
        F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length"), F("ulTagBits", "ulong")]),
    # The 2.40 header (not its text) left out ulIvBits; applications built with it pass 40 bytes.
    "CK_GCM_PARAMS (2.40 header)": Layout("CK_GCM_PARAMS_V240", [
        F("pIv", "bytes", "ulIvLen"), F("ulIvLen", "length"),
        F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length"), F("ulTagBits", "ulong")]),
    "CK_CCM_PARAMS": Layout("CK_CCM_PARAMS", [
        F("ulDataLen", "ulong"), F("pNonce", "bytes", "ulNonceLen"), F("ulNonceLen", "length"),
        F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length"), F("ulMACLen", "ulong")]),
    "CK_GCM_WRAP_PARAMS": Layout("CK_GCM_WRAP_PARAMS", [
        F("pIv", "bytes", "ulIvLen"), F("ulIvLen", "length"), F("ulIvFixedBits", "ulong"),
        F("ivGenerator", "enum", "CKG_GENERATOR"), F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length"),
        F("ulTagBits", "ulong")]),
    "CK_CCM_WRAP_PARAMS": Layout("CK_CCM_WRAP_PARAMS", [
        F("ulDataLen", "ulong"), F("pNonce", "bytes", "ulNonceLen"), F("ulNonceLen", "length"),
        F("ulNonceFixedBits", "ulong"), F("nonceGenerator", "enum", "CKG_GENERATOR"),
        F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length"), F("ulMACLen", "ulong")]),
    "CK_AES_CTR_PARAMS": Layout("CK_AES_CTR_PARAMS", [F("ulCounterBits", "ulong"), F("cb", "array")]),
    "CK_CHACHA20_PARAMS": Layout("CK_CHACHA20_PARAMS", [
        F("pBlockCounter", "bytes_bits", "blockCounterBits"), F("blockCounterBits", "ulong"),
        F("pNonce", "bytes_bits", "ulNonceBits"), F("ulNonceBits", "ulong")]),
    "CK_SALSA20_PARAMS": Layout("CK_SALSA20_PARAMS", [
        F("pBlockCounter", "bytes_fixed", 8), F("pNonce", "bytes_bits", "ulNonceBits"), F("ulNonceBits", "ulong")]),
    "CK_SALSA20_CHACHA20_POLY1305_PARAMS": Layout("CK_SALSA20_CHACHA20_POLY1305_PARAMS", [
        F("pNonce", "bytes", "ulNonceLen"), F("ulNonceLen", "length"),
        F("pAAD", "bytes", "ulAADLen"), F("ulAADLen", "length")]),
    "CK_ECDH1_DERIVE_PARAMS": Layout("CK_ECDH1_DERIVE_PARAMS", [
        F("kdf", "enum", "CKD"), F("pSharedData", "bytes", "ulSharedDataLen"), F("ulSharedDataLen", "length"),
        F("pPublicData", "bytes", "ulPublicDataLen"), F("ulPublicDataLen", "length")]),
    "CK_ECDH2_DERIVE_PARAMS": Layout("CK_ECDH2_DERIVE_PARAMS", _ECDH2),
    "CK_ECMQV_DERIVE_PARAMS": Layout("CK_ECMQV_DERIVE_PARAMS", _ECDH2 + [F("publicKey", "handle")]),
    "CK_ECDH_AES_KEY_WRAP_PARAMS": Layout("CK_ECDH_AES_KEY_WRAP_PARAMS", [
        F("ulAESKeyBits", "ulong"), F("kdf", "enum", "CKD"),
        F("pSharedData", "bytes", "ulSharedDataLen"), F("ulSharedDataLen", "length")]),
    "CK_X9_42_DH1_DERIVE_PARAMS": Layout("CK_X9_42_DH1_DERIVE_PARAMS", [
        F("kdf", "enum", "CKD"), F("pOtherInfo", "bytes", "ulOtherInfoLen"), F("ulOtherInfoLen", "length"),
        F("pPublicData", "bytes", "ulPublicDataLen"), F("ulPublicDataLen", "length")]),
    "CK_X9_42_DH2_DERIVE_PARAMS": Layout("CK_X9_42_DH2_DERIVE_PARAMS", _DH2),
    "CK_X9_42_MQV_DERIVE_PARAMS": Layout("CK_X9_42_MQV_DERIVE_PARAMS", [
        F("kdf", "enum", "CKD"), F("OtherInfo", "bytes", "ulOtherInfoLen"), F("ulOtherInfoLen", "length"),
        F("PublicData", "bytes", "ulPublicDataLen"), F("ulPublicDataLen", "length"),
        F("ulPrivateDataLen", "ulong"), F("hPrivateData", "handle"),
        F("PublicData2", "bytes", "ulPublicDataLen2"), F("ulPublicDataLen2", "length"),
        F("publicKey", "handle")]),
    "CK_PKCS5_PBKD2_PARAMS2": Layout("CK_PKCS5_PBKD2_PARAMS2", _PBKD2 + [
        F("pPassword", "secret", "ulPasswordLen", "password"), F("ulPasswordLen", "length")]),
    # 2.40's layout: the password length behind a pointer.
    "CK_PKCS5_PBKD2_PARAMS": Layout("CK_PKCS5_PBKD2_PARAMS", _PBKD2 + [
        F("pPassword", "secret_ptrlen", "ulPasswordLen", "password"), F("ulPasswordLen", "length")]),
    "CK_PBE_PARAMS": Layout("CK_PBE_PARAMS", [
        F("pInitVector", "bytes_fixed", 8), F("pPassword", "secret", "ulPasswordLen", "password"),
        F("ulPasswordLen", "length"), F("pSalt", "bytes", "ulSaltLen"), F("ulSaltLen", "length"),
        F("ulIteration", "ulong")]),
    "CK_HKDF_PARAMS": Layout("CK_HKDF_PARAMS", [
        F("bExtract", "bool"), F("bExpand", "bool"), F("prfHashMechanism", "enum", "CKM"),
        F("ulSaltType", "enum", "CKF_HKDF"), F("pSalt", "bytes", "ulSaltLen"), F("ulSaltLen", "length"),
        F("hSaltKey", "handle"), F("pInfo", "bytes", "ulInfoLen"), F("ulInfoLen", "length")]),
    "CK_SP800_108_KDF_PARAMS": Layout("CK_SP800_108_KDF_PARAMS", _SP800_108 + _DERIVED),
    "CK_SP800_108_FEEDBACK_KDF_PARAMS": Layout("CK_SP800_108_FEEDBACK_KDF_PARAMS", _SP800_108 + [
        F("pIV", "bytes", "ulIVLen"), F("ulIVLen", "length")] + _DERIVED),
    "CK_PRF_DATA_PARAM": Layout("CK_PRF_DATA_PARAM", [
        F("type", "enum", "CK_SP800_108_PRF_DATA"), F("pValue", "prf_value"), F("ulValueLen", "length")]),
    "CK_SP800_108_COUNTER_FORMAT": Layout("CK_SP800_108_COUNTER_FORMAT", [
        F("bLittleEndian", "bool"), F("ulWidthInBits", "ulong")]),
    "CK_SP800_108_DKM_LENGTH_FORMAT": Layout("CK_SP800_108_DKM_LENGTH_FORMAT", [
        F("dkmLengthMethod", "enum", "CK_SP800_108_DKM_LENGTH"), F("bLittleEndian", "bool"),
        F("ulWidthInBits", "ulong")]),
    "CK_DERIVED_KEY": Layout("CK_DERIVED_KEY", [
        F("pTemplate", "template", "ulAttributeCount"), F("ulAttributeCount", "length"), F("phKey", "pointer")]),
    "CK_SSL3_RANDOM_DATA": Layout("CK_SSL3_RANDOM_DATA", _RANDOM),
    "CK_SSL3_MASTER_KEY_DERIVE_PARAMS": Layout("CK_SSL3_MASTER_KEY_DERIVE_PARAMS", [
        F("RandomInfo", "struct", "CK_SSL3_RANDOM_DATA"), F("pVersion", "pointer")]),
    "CK_SSL3_KEY_MAT_PARAMS": Layout("CK_SSL3_KEY_MAT_PARAMS", _KEY_MAT),
    "CK_TLS12_MASTER_KEY_DERIVE_PARAMS": Layout("CK_TLS12_MASTER_KEY_DERIVE_PARAMS", [
        F("RandomInfo", "struct", "CK_SSL3_RANDOM_DATA"), F("pVersion", "pointer"),
        F("prfHashMechanism", "enum", "CKM")]),
    "CK_TLS12_KEY_MAT_PARAMS": Layout("CK_TLS12_KEY_MAT_PARAMS", _KEY_MAT + [
        F("prfHashMechanism", "enum", "CKM")]),
    "CK_TLS12_EXTENDED_MASTER_KEY_DERIVE_PARAMS": Layout("CK_TLS12_EXTENDED_MASTER_KEY_DERIVE_PARAMS", [
        F("prfHashMechanism", "enum", "CKM"), F("pSessionHash", "bytes", "ulSessionHashLen"),
        F("ulSessionHashLen", "length"), F("pVersion", "pointer")]),
    "CK_TLS_PRF_PARAMS": Layout("CK_TLS_PRF_PARAMS", [
        F("pSeed", "bytes", "ulSeedLen"), F("ulSeedLen", "length"), F("pLabel", "text", "ulLabelLen"),
        F("ulLabelLen", "length"), F("pOutput", "pointer"), F("pulOutputLen", "ulong_ptr")]),
    "CK_TLS_MAC_PARAMS": Layout("CK_TLS_MAC_PARAMS", [
        F("prfHashMechanism", "enum", "CKM"), F("ulMacLength", "ulong"), F("ulServerOrClient", "ulong")]),
    "CK_TLS_KDF_PARAMS": Layout("CK_TLS_KDF_PARAMS", [
        F("prfMechanism", "enum", "CKM"), F("pLabel", "text", "ulLabelLength"), F("ulLabelLength", "length"),
        F("RandomInfo", "struct", "CK_SSL3_RANDOM_DATA"),
        F("pContextData", "bytes", "ulContextDataLength"), F("ulContextDataLength", "length")]),
    "CK_EDDSA_PARAMS": Layout("CK_EDDSA_PARAMS", [
        F("phFlag", "bool"), F("pContextData", "bytes", "ulContextDataLen"), F("ulContextDataLen", "length")]),
    "CK_XEDDSA_PARAMS": Layout("CK_XEDDSA_PARAMS", [F("hash", "enum", "CKM")]),
    # Data that becomes (part of) the derived key: a secret.
    "CK_KEY_DERIVATION_STRING_DATA": Layout("CK_KEY_DERIVATION_STRING_DATA", [
        F("pData", "secret", "ulLen", "data made into a key"), F("ulLen", "length")]),
    "CK_AES_CBC_ENCRYPT_DATA_PARAMS": Layout("CK_AES_CBC_ENCRYPT_DATA_PARAMS", _CBC_DATA),
    "CK_DES_CBC_ENCRYPT_DATA_PARAMS": Layout("CK_DES_CBC_ENCRYPT_DATA_PARAMS", _CBC_DATA),
    "CK_SIGN_ADDITIONAL_CONTEXT": Layout("CK_SIGN_ADDITIONAL_CONTEXT", [
        F("hedgeVariant", "enum", "CKH_HEDGE"), F("pContext", "bytes", "ulContextLen"),
        F("ulContextLen", "length")]),
    "CK_HASH_SIGN_ADDITIONAL_CONTEXT": Layout("CK_HASH_SIGN_ADDITIONAL_CONTEXT", [
        F("hedgeVariant", "enum", "CKH_HEDGE"), F("pContext", "bytes", "ulContextLen"),
        F("ulContextLen", "length"), F("hash", "enum", "CKM")]),
    "CK_DSA_PARAMETER_GEN_PARAM": Layout("CK_DSA_PARAMETER_GEN_PARAM", [
        F("hash", "enum", "CKM"), F("pSeed", "bytes", "ulSeedLen"), F("ulSeedLen", "length"),
        F("ulIndex", "ulong")]),
    # Parameters that are a single value rather than a structure.
    "CK_MAC_GENERAL_PARAMS": Layout("CK_ULONG_PARAM", [F("value", "ulong")], "ulMacLength"),
    "CK_EXTRACT_PARAMS": Layout("CK_ULONG_PARAM", [F("value", "ulong")], "bit index"),
    "CK_OBJECT_HANDLE": Layout("CK_ULONG_PARAM", [F("value", "handle")], "hKey"),
    "CK_VERSION": Layout("CK_VERSION", [F("major", "byte"), F("minor", "byte")]),
}

# A parameter that is a plain byte string, and what the spec calls it.
BYTE_PARAMETERS = {"IV": "iv", "public value": "pPublicValue"}

# Mechanism (exact name, or a regular expression over names) -> parameter type(s).
# Several types: the one whose size is ulParameterLen is used.
PARAMETERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("CKM_RSA_PKCS_OAEP", ("CK_RSA_PKCS_OAEP_PARAMS",)),
    ("CKM_RSA_PKCS_OAEP_TPM_1_1", ("CK_RSA_PKCS_OAEP_PARAMS",)),
    (r"CKM_(\w+_)?RSA_PKCS_PSS", ("CK_RSA_PKCS_PSS_PARAMS",)),
    ("CKM_RSA_AES_KEY_WRAP", ("CK_RSA_AES_KEY_WRAP_PARAMS",)),
    (r"CKM_(AES|ARIA|CAMELLIA)_GCM", ("CK_GCM_PARAMS", "CK_GCM_PARAMS (2.40 header)", "CK_GCM_WRAP_PARAMS")),
    (r"CKM_(AES|ARIA|CAMELLIA)_CCM", ("CK_CCM_PARAMS", "CK_CCM_WRAP_PARAMS")),
    (r"CKM_(AES|CAMELLIA)_CTR", ("CK_AES_CTR_PARAMS",)),
    # Before the generic CBC rule: these CBC modes take a structure of their own.
    (r"CKM_PBE_\w+", ("CK_PBE_PARAMS",)),
    (r"CKM_(RC2|RC5)_CBC(_PAD)?", ()),
    (r"CKM_\w+_CBC(_PAD)?", ("IV",)),
    (r"CKM_AES_(CFB\d+|OFB|CTS|XTS|GMAC)", ("IV",)),
    ("CKM_DH_PKCS_DERIVE", ("public value",)),
    (r"CKM_AES_KEY_WRAP(_PAD|_KWP|_PKCS7)?", ("IV",)),
    ("CKM_CHACHA20", ("CK_CHACHA20_PARAMS",)),
    ("CKM_SALSA20", ("CK_SALSA20_PARAMS",)),
    (r"CKM_(CHACHA20|SALSA20)_POLY1305", ("CK_SALSA20_CHACHA20_POLY1305_PARAMS",)),
    (r"CKM_ECDH1_(COFACTOR_)?DERIVE", ("CK_ECDH1_DERIVE_PARAMS",)),
    ("CKM_ECMQV_DERIVE", ("CK_ECMQV_DERIVE_PARAMS",)),
    (r"CKM_ECDH_(X_|COF_)?AES_KEY_WRAP", ("CK_ECDH_AES_KEY_WRAP_PARAMS",)),
    ("CKM_X9_42_DH_DERIVE", ("CK_X9_42_DH1_DERIVE_PARAMS",)),
    ("CKM_X9_42_DH_HYBRID_DERIVE", ("CK_X9_42_DH2_DERIVE_PARAMS",)),
    ("CKM_X9_42_MQV_DERIVE", ("CK_X9_42_MQV_DERIVE_PARAMS",)),
    ("CKM_PKCS5_PBKD2", ("CK_PKCS5_PBKD2_PARAMS2", "CK_PKCS5_PBKD2_PARAMS")),
    (r"CKM_HKDF_(DERIVE|DATA)", ("CK_HKDF_PARAMS",)),
    (r"CKM_SP800_108_(COUNTER|DOUBLE_PIPELINE)_KDF", ("CK_SP800_108_KDF_PARAMS",)),
    ("CKM_SP800_108_FEEDBACK_KDF", ("CK_SP800_108_FEEDBACK_KDF_PARAMS",)),
    (r"CKM_(SSL3|TLS)_MASTER_KEY_DERIVE(_DH)?", ("CK_SSL3_MASTER_KEY_DERIVE_PARAMS",)),
    (r"CKM_(SSL3|TLS)_KEY_AND_MAC_DERIVE", ("CK_SSL3_KEY_MAT_PARAMS",)),
    (r"CKM_TLS12_MASTER_KEY_DERIVE(_DH)?", ("CK_TLS12_MASTER_KEY_DERIVE_PARAMS",)),
    (r"CKM_TLS12_(KEY_AND_MAC|KEY_SAFE)_DERIVE", ("CK_TLS12_KEY_MAT_PARAMS",)),
    (r"CKM_TLS12_EXTENDED_MASTER_KEY_DERIVE(_DH)?", ("CK_TLS12_EXTENDED_MASTER_KEY_DERIVE_PARAMS",)),
    ("CKM_TLS_PRF", ("CK_TLS_PRF_PARAMS",)),
    (r"CKM_TLS(12)?_MAC", ("CK_TLS_MAC_PARAMS",)),
    (r"CKM_TLS(12)?_KDF", ("CK_TLS_KDF_PARAMS",)),
    (r"CKM_(SSL3|TLS)_PRE_MASTER_KEY_GEN", ("CK_VERSION",)),
    ("CKM_EDDSA", ("CK_EDDSA_PARAMS",)),
    ("CKM_XEDDSA", ("CK_XEDDSA_PARAMS",)),
    (r"CKM_(CONCATENATE_BASE_AND_DATA|CONCATENATE_DATA_AND_BASE|XOR_BASE_AND_DATA)",
     ("CK_KEY_DERIVATION_STRING_DATA",)),
    (r"CKM_\w+_ECB_ENCRYPT_DATA", ("CK_KEY_DERIVATION_STRING_DATA",)),
    (r"CKM_(AES|ARIA|CAMELLIA|SEED)_CBC_ENCRYPT_DATA", ("CK_AES_CBC_ENCRYPT_DATA_PARAMS",)),
    (r"CKM_DES3?_CBC_ENCRYPT_DATA", ("CK_DES_CBC_ENCRYPT_DATA_PARAMS",)),
    ("CKM_CONCATENATE_BASE_AND_KEY", ("CK_OBJECT_HANDLE",)),
    ("CKM_EXTRACT_KEY_FROM_KEY", ("CK_EXTRACT_PARAMS",)),
    (r"CKM_\w+_(HMAC|MAC|CMAC)_GENERAL", ("CK_MAC_GENERAL_PARAMS",)),
    (r"CKM_(ML_DSA|SLH_DSA)", ("CK_SIGN_ADDITIONAL_CONTEXT",)),
    (r"CKM_HASH_(ML_DSA|SLH_DSA)(_\w+)?", ("CK_SIGN_ADDITIONAL_CONTEXT", "CK_HASH_SIGN_ADDITIONAL_CONTEXT")),
    (r"CKM_(DSA_PARAMETER_GEN|DSA_PROBAB\w*_PARAMETER_GEN|DSA_FIPS_G_GEN|X9_42_DH_PARAMETER_GEN)",
     ("CK_DSA_PARAMETER_GEN_PARAM",)),
]

_by_mechanism: Optional[Dict[int, Tuple[str, ...]]] = None


def parameter_types(mechanism: int) -> Tuple[str, ...]:
    """The parameter types a mechanism takes (empty: none known)."""
    global _by_mechanism
    if _by_mechanism is None:
        table: Dict[int, Tuple[str, ...]] = {}
        ckm = catalog.family("CKM")
        names = ckm.names()
        for pattern, types in PARAMETERS:
            rx = re.compile(pattern + r"\Z")
            for name, value in names.items():
                if rx.match(name) and not name.endswith("_KEY_GEN"):
                    table.setdefault(value, types)
        _by_mechanism = table
    return _by_mechanism.get(mechanism, ())


class Reader:
    """What decoding a parameter needs: the dump cap, whether secrets are shown, and the
    attribute decoder for templates inside parameters (CK_DERIVED_KEY)."""

    def __init__(self, cap: int, show_secrets: bool, template: Callable[[int, int], Value]) -> None:
        self.cap = cap
        self.show_secrets = show_secrets
        self.template = template


def decode(mechanism: int, address: int, length: int, reader: Reader) -> Optional[Value]:
    """The parameter of one CK_MECHANISM; None when there is none (NULL and 0)."""
    if address == 0 and length == 0:
        return None
    types = parameter_types(mechanism)
    if address == 0:
        return Null(length)
    if length == ULONG_MAX:
        return Bytes(address, length, b"", note="ulParameterLen is CK_UNAVAILABLE_INFORMATION (-1)")
    if not types:
        return values.buffer(address, length, reader.cap)
    if types[0] in BYTE_PARAMETERS:
        data = memory.read(address, min(length, reader.cap))
        if data is None:
            return Unreadable(address, length)
        return Struct(types[0], [Field(BYTE_PARAMETERS[types[0]], Bytes(address, length, data))])
    chosen = _choose(types, address, length)
    if chosen is None:
        sizes = " or ".join(f"{t} is {ffi.sizeof(LAYOUTS[t].ctype)} bytes" for t in types)
        data = memory.read(address, min(length, reader.cap))
        if data is None:
            return Unreadable(address, length)
        return Bytes(address, length, data, note=f"{sizes}; ulParameterLen is {length}")
    return structure(chosen, address, reader, 0)


def _choose(types: Sequence[str], address: int, length: int) -> Optional[str]:
    fitting = [t for t in types if ffi.sizeof(LAYOUTS[t].ctype) == length]
    if len(fitting) > 1 and "CK_PKCS5_PBKD2_PARAMS2" in fitting:
        return _pbkdf2_variant(address)
    return fitting[0] if fitting else None


def _pbkdf2_variant(address: int) -> str:
    """2.40's and 3.0's PBKDF2 parameters have the same size: a password length that is
    a small number is 3.0's; one that reads as a pointer to a small number is 2.40's."""
    c = memory.struct("CK_PKCS5_PBKD2_PARAMS2", address)
    if c is not None and int(c.ulPasswordLen) > 0x10000:
        pointed = memory.ulong(int(c.ulPasswordLen))
        if pointed is not None and pointed <= 0x10000:
            return "CK_PKCS5_PBKD2_PARAMS"
    return "CK_PKCS5_PBKD2_PARAMS2"


def structure(type_name: str, address: int, reader: Reader, depth: int) -> Value:
    layout = LAYOUTS[type_name]
    c = memory.struct(layout.ctype, address)
    if c is None:
        return Unreadable(address, ffi.sizeof(layout.ctype))
    return walk(type_name, c[0], reader, depth)


def walk(type_name: str, c, reader: Reader, depth: int) -> Struct:
    """A structure (a private cffi copy) decoded field by field from its layout."""
    layout = LAYOUTS[type_name]
    fields: List[Field] = []
    for spec in layout.fields:
        name, kind, args = spec[0], spec[1], spec[2:]
        if kind == "length":
            continue
        try:
            value = FIELD_KINDS[kind](c, name, args, reader, depth)
        except Exception as exc:  # one bad field must not lose the others
            value = DecodeError(f"{type(exc).__name__}: {exc}")
        label = layout.label if layout.label and name == "value" else name
        fields.append(Field(label, value))
    return Struct(type_name, fields)


def _address(c, name: str) -> int:
    return int(ffi.cast("uintptr_t", getattr(c, name)))


def _read(address: int, length: int, reader: Reader) -> Value:
    if address == 0:
        return Null(length if length else None)
    if length == ULONG_MAX:
        return Unavailable("CK_UNAVAILABLE_INFORMATION")
    if length > 1 << 30:
        return Bytes(address, length, b"", note="length too large to be real")
    return values.buffer(address, length, reader.cap)


def _k_ulong(c, name, args, reader, depth) -> Value:
    return values.ulong_count(int(getattr(c, name)))


def _k_handle(c, name, args, reader, depth) -> Value:
    return Scalar(int(getattr(c, name)))


def _k_bool(c, name, args, reader, depth) -> Value:
    return Bool(int(getattr(c, name)))


def _k_byte(c, name, args, reader, depth) -> Value:
    return Scalar(int(getattr(c, name)), decimal=True)


def _k_enum(c, name, args, reader, depth) -> Value:
    return values.const(args[0], int(getattr(c, name)))


def _k_bytes(c, name, args, reader, depth) -> Value:
    return _read(_address(c, name), int(getattr(c, args[0])), reader)


def _k_bytes_bits(c, name, args, reader, depth) -> Value:
    bits = int(getattr(c, args[0]))
    return _read(_address(c, name), (bits + 7) // 8, reader)


def _k_bytes_fixed(c, name, args, reader, depth) -> Value:
    return _read(_address(c, name), args[0], reader)


def _k_secret(c, name, args, reader, depth) -> Value:
    address, length = _address(c, name), int(getattr(c, args[0]))
    if reader.show_secrets:
        return _read(address, length, reader)
    if address == 0:
        return Null(length if length else None)
    return Redacted(length, args[1])


def _k_secret_ptrlen(c, name, args, reader, depth) -> Value:
    length = memory.ulong(_address(c, args[0])) if _address(c, args[0]) else 0
    if length is None:
        return Unreadable(_address(c, args[0]), ULONG_SIZE)
    address = _address(c, name)
    if reader.show_secrets:
        return _read(address, length, reader)
    return Null(length) if address == 0 else Redacted(length, args[1])


def _k_text(c, name, args, reader, depth) -> Value:
    value = _read(_address(c, name), int(getattr(c, args[0])), reader)
    if isinstance(value, Bytes) and not value.cut:
        return values.utf8_text(value.data)
    return value


def _k_array(c, name, args, reader, depth) -> Value:
    data = bytes(ffi.buffer(getattr(c, name)))
    return Bytes(0, len(data), data)


def _k_struct(c, name, args, reader, depth) -> Value:
    return walk(args[0], getattr(c, name), reader, depth + 1)


def _k_struct_ptr(c, name, args, reader, depth) -> Value:
    address = _address(c, name)
    if address == 0:
        return Null()
    if depth >= MAX_DEPTH:
        return Text("structures nested too deep")
    return structure(args[0], address, reader, depth + 1)


def _k_struct_array(c, name, args, reader, depth) -> Value:
    type_name, count = args[0], int(getattr(c, args[1]))
    address = _address(c, name)
    if address == 0:
        return Null(count if count else None)
    if depth >= MAX_DEPTH:
        return Text("structures nested too deep")
    shown = min(count, MAX_ARRAY)
    array = memory.array(LAYOUTS[type_name].ctype, address, shown)
    if array is None:
        return Unreadable(address, count)
    return Items(type_name, [walk(type_name, array[i], reader, depth + 1) for i in range(shown)], count)


def _k_version_ptr(c, name, args, reader, depth) -> Value:
    address = _address(c, name)
    if address == 0:
        return Null()
    v = memory.struct("CK_VERSION", address)
    return Unreadable(address, 2) if v is None else values.version(v)


def _k_ulong_ptr(c, name, args, reader, depth) -> Value:
    address = _address(c, name)
    if address == 0:
        return Null()
    v = memory.ulong(address)
    return Unreadable(address, ULONG_SIZE) if v is None else Scalar(v, decimal=True)


def _k_pointer(c, name, args, reader, depth) -> Value:
    return Pointer(_address(c, name))


def _k_template(c, name, args, reader, depth) -> Value:
    return reader.template(_address(c, name), int(getattr(c, args[0])))


# CK_PRF_DATA_PARAM.pValue: what it points to, by the entry's type.
PRF_VALUE_TYPES = {
    "CK_SP800_108_ITERATION_VARIABLE": "CK_SP800_108_COUNTER_FORMAT",
    "CK_SP800_108_COUNTER": "CK_SP800_108_COUNTER_FORMAT",
    "CK_SP800_108_DKM_LENGTH": "CK_SP800_108_DKM_LENGTH_FORMAT",
}


def _k_prf_value(c, name, args, reader, depth) -> Value:
    kind = catalog.family("CK_SP800_108_PRF_DATA").name_of(int(c.type))
    address, length = _address(c, name), int(c.ulValueLen)
    if kind == "CK_SP800_108_KEY_HANDLE" and length == ULONG_SIZE and address:
        handle = memory.ulong(address)
        return Unreadable(address, length) if handle is None else Scalar(handle)
    type_name = PRF_VALUE_TYPES.get(kind)
    if type_name is None or address == 0:
        return _read(address, length, reader)
    size = ffi.sizeof(LAYOUTS[type_name].ctype)
    if length != size:
        value = _read(address, length, reader)
        if isinstance(value, Bytes):
            value.note = f"{type_name} is {size} bytes; ulValueLen is {length}"
        return value
    return structure(type_name, address, reader, depth + 1)


FIELD_KINDS: Dict[str, Callable] = {
    "ulong": _k_ulong, "handle": _k_handle, "bool": _k_bool, "byte": _k_byte, "enum": _k_enum,
    "bytes": _k_bytes, "bytes_bits": _k_bytes_bits, "bytes_fixed": _k_bytes_fixed,
    "secret": _k_secret, "secret_ptrlen": _k_secret_ptrlen, "text": _k_text, "array": _k_array,
    "struct": _k_struct, "struct_ptr": _k_struct_ptr, "struct_array": _k_struct_array,
    "version_ptr": _k_version_ptr, "ulong_ptr": _k_ulong_ptr, "pointer": _k_pointer,
    "template": _k_template, "prf_value": _k_prf_value,
}
