"""Mechanism parameters: each structure built with cffi, decoded field by field."""
from __future__ import annotations

import re

import pytest

from decode_helpers import addr, buf, const, decode_param, fields, keep, new, reader
from pkcs11spy import catalog
from pkcs11spy.decode import mechanisms
from pkcs11spy.memory import ULONG_MAX
from pkcs11spy.model import (Arg, Bool, Bytes, Const, Items, Mechanism, Null, Pointer, Redacted, Scalar,
                             Template, Text, Unreadable)
from pkcs11spy.native import ffi
from pkcs11spy.render.text import render_arg


def lookup(name: str) -> int:
    v = catalog.lookup(name)
    assert v is not None, name
    return v


# ---- the tables ----------------------------------------------------------------------

def test_every_layout_names_every_field_of_its_c_structure():
    for name, layout in mechanisms.LAYOUTS.items():
        c_fields = {f for f, _ in ffi.typeof(layout.ctype).fields}
        shown = {spec[0] for spec in layout.fields}
        assert shown == c_fields, name
        for spec in layout.fields:
            assert spec[1] in mechanisms.FIELD_KINDS or spec[1] == "length", (name, spec)


def test_at_least_25_real_structures_are_decoded():
    structures = {n for n, l in mechanisms.LAYOUTS.items() if l.ctype not in ("CK_ULONG_PARAM", "CK_VERSION")}
    assert len(structures) >= 25, sorted(structures)


def test_every_table_row_names_a_mechanism():
    names = catalog.family("CKM").names()
    for pattern, types in mechanisms.PARAMETERS:
        rx = re.compile(pattern + r"\Z")
        assert any(rx.match(n) for n in names), pattern
        for t in types:
            assert t in mechanisms.LAYOUTS or t in mechanisms.BYTE_PARAMETERS, t


@pytest.mark.parametrize("name", [n for n in catalog.family("CKM").names() if n.endswith("RSA_PKCS_PSS")])
def test_every_pss_variant_takes_pss_params(name):
    # SHA-224 and the SHA-3 variants included (OpenSC's spy misses them).
    assert mechanisms.parameter_types(const(name)) == ("CK_RSA_PKCS_PSS_PARAMS",)


def test_pss_variants_include_sha224_and_sha3():
    for n in ("CKM_SHA224_RSA_PKCS_PSS", "CKM_SHA3_256_RSA_PKCS_PSS", "CKM_SHA3_512_RSA_PKCS_PSS"):
        assert mechanisms.parameter_types(const(n)) == ("CK_RSA_PKCS_PSS_PARAMS",)


# ---- structures -----------------------------------------------------------------------

def test_oaep_with_its_source():
    label = buf(b"label")
    p = new("CK_RSA_PKCS_OAEP_PARAMS", hashAlg=const("CKM_SHA256"), mgf=lookup("CKG_MGF1_SHA256"),
            source=const("CKZ_DATA_SPECIFIED"), pSourceData=label, ulSourceDataLen=5)
    v = decode_param("CKM_RSA_PKCS_OAEP", p)
    assert v.type_name == "CK_RSA_PKCS_OAEP_PARAMS"
    f = fields(v)
    assert [f["hashAlg"].name, f["mgf"].name, f["source"].name] == ["CKM_SHA256", "CKG_MGF1_SHA256",
                                                                   "CKZ_DATA_SPECIFIED"]
    assert f["pSourceData"].data == b"label"
    assert "ulSourceDataLen" not in f  # shown with its buffer


def test_pss_sha3_rendered():
    p = new("CK_RSA_PKCS_PSS_PARAMS", hashAlg=const("CKM_SHA3_256"), mgf=lookup("CKG_MGF1_SHA3_256"), sLen=32)
    v = decode_param("CKM_SHA3_256_RSA_PKCS_PSS", p)
    lines = render_arg("[in]", Arg("pMechanism", Mechanism(Const(0, "CKM_SHA3_256_RSA_PKCS_PSS", "CKM"), v, 24)))
    assert lines == ["[in] pMechanism->type = CKM_SHA3_256_RSA_PKCS_PSS",
                     "[in] pMechanism->pParameter: CK_RSA_PKCS_PSS_PARAMS",
                     "      hashAlg: CKM_SHA3_256",
                     "      mgf:     CKG_MGF1_SHA3_256",
                     "      sLen:    32"]


def test_gcm_and_the_240_header_layout():
    iv, aad = buf(bytes(range(12))), buf(b"aad")
    p = new("CK_GCM_PARAMS", pIv=iv, ulIvLen=12, ulIvBits=96, pAAD=aad, ulAADLen=3, ulTagBits=128)
    f = fields(decode_param("CKM_AES_GCM", p))
    assert f["pIv"].data == bytes(range(12)) and f["ulIvBits"].value == 96 and f["ulTagBits"].value == 128
    old = new("CK_GCM_PARAMS_V240", pIv=iv, ulIvLen=12, pAAD=aad, ulAADLen=3, ulTagBits=96)
    v = decode_param("CKM_AES_GCM", old)
    assert v.type_name == "CK_GCM_PARAMS (2.40 header)" and fields(v)["ulTagBits"].value == 96


def test_ccm_ctr_and_iv_parameters():
    nonce = buf(b"\x07" * 7)
    f = fields(decode_param("CKM_AES_CCM", new("CK_CCM_PARAMS", ulDataLen=100, pNonce=nonce, ulNonceLen=7,
                                                 pAAD=ffi.NULL, ulAADLen=0, ulMACLen=16)))
    assert f["ulDataLen"].value == 100 and f["pNonce"].data == b"\x07" * 7 and isinstance(f["pAAD"], Null)
    ctr = new("CK_AES_CTR_PARAMS", ulCounterBits=32)
    ctr.cb = list(range(16))
    f = fields(decode_param("CKM_AES_CTR", ctr))
    assert f["ulCounterBits"].value == 32 and f["cb"].data == bytes(range(16))
    iv = buf(b"\xAA" * 16)
    for mech in ("CKM_AES_CBC", "CKM_AES_CBC_PAD", "CKM_DES3_CBC", "CKM_AES_KEY_WRAP_PAD"):
        v = mechanisms.decode(const(mech), addr(iv), 16, reader())
        assert v.type_name == "IV" and fields(v)["iv"].data == b"\xAA" * 16, mech
    assert mechanisms.decode(const("CKM_AES_KEY_WRAP"), 0, 0, reader()) is None


def test_chacha_and_salsa():
    nonce, aad, counter = buf(b"N" * 12), buf(b"A" * 4), buf(b"\x00" * 8)
    f = fields(decode_param("CKM_CHACHA20_POLY1305", new("CK_SALSA20_CHACHA20_POLY1305_PARAMS", pNonce=nonce,
                                                          ulNonceLen=12, pAAD=aad, ulAADLen=4)))
    assert f["pNonce"].data == b"N" * 12 and f["pAAD"].data == b"A" * 4
    f = fields(decode_param("CKM_SALSA20", new("CK_SALSA20_PARAMS", pBlockCounter=counter, pNonce=nonce,
                                                ulNonceBits=64)))
    assert f["pBlockCounter"].data == b"\x00" * 8 and f["pNonce"].data == b"N" * 8
    f = fields(decode_param("CKM_CHACHA20", new("CK_CHACHA20_PARAMS", pBlockCounter=counter, blockCounterBits=32,
                                                 pNonce=nonce, ulNonceBits=96)))
    assert f["pBlockCounter"].data == b"\x00" * 4 and f["pNonce"].data == b"N" * 12


def test_ecdh_cofactor_and_mqv():
    pub = buf(b"\x04" + b"\x11" * 64)
    for mech in ("CKM_ECDH1_DERIVE", "CKM_ECDH1_COFACTOR_DERIVE"):
        f = fields(decode_param(mech, new("CK_ECDH1_DERIVE_PARAMS", kdf=const("CKD_SHA256_KDF"), ulSharedDataLen=0,
                                          pSharedData=ffi.NULL, ulPublicDataLen=65, pPublicData=pub)))
        assert f["kdf"].name == "CKD_SHA256_KDF" and len(f["pPublicData"].data) == 65
    f = fields(decode_param("CKM_ECMQV_DERIVE", new(
        "CK_ECMQV_DERIVE_PARAMS", kdf=const("CKD_NULL"), ulPublicDataLen=65, pPublicData=pub,
        ulPrivateDataLen=32, hPrivateData=0x42, ulPublicDataLen2=65, pPublicData2=pub, publicKey=0x43)))
    assert f["hPrivateData"] == Scalar(0x42) and f["publicKey"] == Scalar(0x43)
    assert f["ulPrivateDataLen"].value == 32 and len(f["pPublicData2"].data) == 65


def test_x9_42():
    other, pub = buf(b"other"), buf(b"\x02" * 128)
    f = fields(decode_param("CKM_X9_42_DH_DERIVE", new("CK_X9_42_DH1_DERIVE_PARAMS", kdf=const("CKD_SHA1_KDF_ASN1"),
                                                        ulOtherInfoLen=5, pOtherInfo=other, ulPublicDataLen=128,
                                                        pPublicData=pub)))
    assert f["kdf"].name == "CKD_SHA1_KDF_ASN1" and f["pOtherInfo"].data == b"other"
    f = fields(decode_param("CKM_X9_42_MQV_DERIVE", new("CK_X9_42_MQV_DERIVE_PARAMS", kdf=const("CKD_NULL"),
                                                         ulPublicDataLen=128, PublicData=pub, hPrivateData=7,
                                                         ulPublicDataLen2=128, PublicData2=pub, publicKey=8)))
    assert f["publicKey"] == Scalar(8)
    assert "hPrivateData" in fields(decode_param("CKM_X9_42_DH_HYBRID_DERIVE", new("CK_X9_42_DH2_DERIVE_PARAMS")))


def test_pbkdf2_password_is_redacted_unless_shown():
    salt, pw = buf(b"saltsalt"), buf(b"hunter2")
    p = new("CK_PKCS5_PBKD2_PARAMS2", saltSource=1, pSaltSourceData=salt, ulSaltSourceDataLen=8,
            iterations=10000, prf=lookup("CKP_PKCS5_PBKD2_HMAC_SHA256"), pPassword=pw, ulPasswordLen=7)
    v = decode_param("CKM_PKCS5_PBKD2", p)
    f = fields(v)
    assert v.type_name == "CK_PKCS5_PBKD2_PARAMS2"
    assert f["saltSource"].name == "CKZ_SALT_SPECIFIED" and f["prf"].name == "CKP_PKCS5_PBKD2_HMAC_SHA256"
    assert f["iterations"].value == 10000 and f["pSaltSourceData"].data == b"saltsalt"
    assert isinstance(f["pPassword"], Redacted) and f["pPassword"].length == 7
    assert "hunter2" not in repr(v)
    assert fields(decode_param("CKM_PKCS5_PBKD2", p, show_secrets=True))["pPassword"].data == b"hunter2"


def test_pbkdf2_240_layout_is_told_by_its_length_pointer():
    pw = buf(b"hunter2")
    length = ffi.new("CK_ULONG *", 7)
    p = new("CK_PKCS5_PBKD2_PARAMS", saltSource=1, iterations=1, prf=1, pPassword=pw, ulPasswordLen=length)
    v = decode_param("CKM_PKCS5_PBKD2", p)
    assert v.type_name == "CK_PKCS5_PBKD2_PARAMS"
    assert isinstance(fields(v)["pPassword"], Redacted) and fields(v)["pPassword"].length == 7


def test_hkdf():
    salt, info = buf(b"salt"), buf(b"info")
    f = fields(decode_param("CKM_HKDF_DERIVE", new("CK_HKDF_PARAMS", bExtract=1, bExpand=1,
                                                    prfHashMechanism=const("CKM_SHA384"),
                                                    ulSaltType=lookup("CKF_HKDF_SALT_DATA"), pSalt=salt,
                                                    ulSaltLen=4, hSaltKey=0, pInfo=info, ulInfoLen=4)))
    assert f["bExtract"] == Bool(1) and f["prfHashMechanism"].name == "CKM_SHA384"
    assert f["ulSaltType"].name == "CKF_HKDF_SALT_DATA" and f["pInfo"].data == b"info"


def test_sp800_108_with_data_params_and_derived_keys():
    counter = new("CK_SP800_108_COUNTER_FORMAT", bLittleEndian=0, ulWidthInBits=32)
    label = buf(b"label")
    params = ffi.new("CK_PRF_DATA_PARAM[2]")
    params[0].type, params[0].pValue, params[0].ulValueLen = 1, counter, ffi.sizeof("CK_SP800_108_COUNTER_FORMAT")
    params[1].type, params[1].pValue, params[1].ulValueLen = 4, label, 5
    cls = ffi.new("CK_ULONG *", const("CKO_SECRET_KEY"))
    attrs = ffi.new("CK_ATTRIBUTE[1]")
    attrs[0].type, attrs[0].pValue, attrs[0].ulValueLen = const("CKA_CLASS"), cls, ffi.sizeof("CK_ULONG")
    handle = ffi.new("CK_OBJECT_HANDLE *")
    derived = ffi.new("CK_DERIVED_KEY[1]")
    derived[0].pTemplate, derived[0].ulAttributeCount, derived[0].phKey = attrs, 1, handle
    p = new("CK_SP800_108_KDF_PARAMS", prfType=const("CKM_SHA256_HMAC"), ulNumberOfDataParams=2,
            pDataParams=params, ulAdditionalDerivedKeys=1, pAdditionalDerivedKeys=derived)
    keep.extend((counter, label, params, cls, attrs, handle, derived))
    f = fields(decode_param("CKM_SP800_108_COUNTER_KDF", p))
    assert f["prfType"].name == "CKM_SHA256_HMAC"
    entries = f["pDataParams"]
    assert isinstance(entries, Items) and entries.count == 2
    first, second = fields(entries.items[0]), fields(entries.items[1])
    assert first["type"].name == "CK_SP800_108_ITERATION_VARIABLE"
    assert fields(first["pValue"]) == {"bLittleEndian": Bool(0), "ulWidthInBits": Scalar(32, decimal=True)}
    assert second["type"].name == "CK_SP800_108_BYTE_ARRAY" and second["pValue"].data == b"label"
    key = fields(f["pAdditionalDerivedKeys"].items[0])
    assert isinstance(key["pTemplate"], Template)
    assert key["pTemplate"].attributes[0].value.name == "CKO_SECRET_KEY"
    assert isinstance(key["phKey"], Pointer)


def test_tls12_master_key_and_prf():
    cr, sr = buf(b"C" * 32), buf(b"S" * 32)
    version = ffi.new("CK_VERSION *")
    p = new("CK_TLS12_MASTER_KEY_DERIVE_PARAMS", pVersion=version, prfHashMechanism=const("CKM_SHA256"))
    p.RandomInfo.pClientRandom, p.RandomInfo.ulClientRandomLen = cr, 32
    p.RandomInfo.pServerRandom, p.RandomInfo.ulServerRandomLen = sr, 32
    f = fields(decode_param("CKM_TLS12_MASTER_KEY_DERIVE", p))
    random = fields(f["RandomInfo"])
    assert random["pClientRandom"].data == b"C" * 32 and random["pServerRandom"].data == b"S" * 32
    assert f["prfHashMechanism"].name == "CKM_SHA256"
    seed, label, outlen = buf(b"seed"), buf(b"key expansion"), ffi.new("CK_ULONG *", 48)
    f = fields(decode_param("CKM_TLS_PRF", new("CK_TLS_PRF_PARAMS", pSeed=seed, ulSeedLen=4, pLabel=label,
                                               ulLabelLen=13, pOutput=ffi.NULL, pulOutputLen=outlen)))
    assert f["pLabel"] == Text("key expansion") and f["pulOutputLen"].value == 48
    mat = new("CK_TLS12_KEY_MAT_PARAMS", ulMacSizeInBits=0, ulKeySizeInBits=128, ulIVSizeInBits=32,
              prfHashMechanism=const("CKM_SHA384"))
    f = fields(decode_param("CKM_TLS12_KEY_AND_MAC_DERIVE", mat))
    assert f["ulKeySizeInBits"].value == 128 and f["prfHashMechanism"].name == "CKM_SHA384"
    f = fields(decode_param("CKM_TLS12_MAC", new("CK_TLS_MAC_PARAMS", prfHashMechanism=const("CKM_SHA256"),
                                                 ulMacLength=12, ulServerOrClient=1)))
    assert f["ulMacLength"].value == 12
    keep.extend((version, outlen))


def test_eddsa_derivation_data_and_signature_context():
    ctx = buf(b"ctx")
    f = fields(decode_param("CKM_EDDSA", new("CK_EDDSA_PARAMS", phFlag=1, ulContextDataLen=3, pContextData=ctx)))
    assert f["phFlag"] == Bool(1) and f["pContextData"].data == b"ctx"
    data = buf(b"keymaterial")
    f = fields(decode_param("CKM_XOR_BASE_AND_DATA", new("CK_KEY_DERIVATION_STRING_DATA", pData=data, ulLen=11)))
    assert isinstance(f["pData"], Redacted)  # becomes key material
    cbc = new("CK_AES_CBC_ENCRYPT_DATA_PARAMS", pData=data, length=11)
    cbc.iv = list(range(16))
    f = fields(decode_param("CKM_AES_CBC_ENCRYPT_DATA", cbc))
    assert f["iv"].data == bytes(range(16)) and isinstance(f["pData"], Redacted)
    f = fields(decode_param("CKM_ML_DSA", new("CK_SIGN_ADDITIONAL_CONTEXT", hedgeVariant=lookup("CKH_DETERMINISTIC_REQUIRED"),
                                              pContext=ctx, ulContextLen=3)))
    assert f["hedgeVariant"].name == "CKH_DETERMINISTIC_REQUIRED" and f["pContext"].data == b"ctx"
    v = decode_param("CKM_HASH_ML_DSA", new("CK_HASH_SIGN_ADDITIONAL_CONTEXT", hedgeVariant=0, pContext=ctx,
                                           ulContextLen=3, hash=const("CKM_SHA3_256")))
    assert fields(v)["hash"].name == "CKM_SHA3_256"


# ---- malformed ---------------------------------------------------------------------------

def test_short_length_is_bytes_with_the_reason_and_nothing_read_past_it():
    p = new("CK_RSA_PKCS_PSS_PARAMS", hashAlg=const("CKM_SHA256"), mgf=1, sLen=32)
    v = decode_param("CKM_RSA_PKCS_PSS", p, length=16)
    assert isinstance(v, Bytes) and len(v.data) == 16 and v.length == 16
    assert v.note == "CK_RSA_PKCS_PSS_PARAMS is 24 bytes; ulParameterLen is 16"


def test_null_parameter_with_a_length_and_length_minus_one():
    assert decode_param("CKM_RSA_PKCS_PSS", ffi.NULL, length=24) == Null(24)
    p = new("CK_RSA_PKCS_PSS_PARAMS")
    v = mechanisms.decode(const("CKM_RSA_PKCS_PSS"), addr(p), ULONG_MAX, reader())
    assert isinstance(v, Bytes) and v.data == b"" and "CK_UNAVAILABLE_INFORMATION" in v.note


def test_bad_pointers_inside_a_structure():
    p = new("CK_GCM_PARAMS", pIv=ffi.cast("CK_BYTE *", 0x10), ulIvLen=12, ulIvBits=96, pAAD=ffi.NULL,
            ulAADLen=5, ulTagBits=128)
    f = fields(decode_param("CKM_AES_GCM", p))
    assert isinstance(f["pIv"], Unreadable) and f["pAAD"] == Null(5)
    p = new("CK_GCM_PARAMS", pIv=buf(b"x"), ulIvLen=ULONG_MAX, ulTagBits=128)
    assert "CK_UNAVAILABLE_INFORMATION" in repr(fields(decode_param("CKM_AES_GCM", p))["pIv"])


def test_unknown_mechanism_parameter_stays_bytes():
    data = buf(b"\x01\x02\x03")
    v = mechanisms.decode(0x80001234, addr(data), 3, reader())
    assert isinstance(v, Bytes) and v.data == b"\x01\x02\x03"


def test_single_value_and_byte_string_parameters():
    length = ffi.new("CK_ULONG *", 12)
    keep.append(length)
    for mech in ("CKM_SHA256_HMAC_GENERAL", "CKM_AES_CMAC_GENERAL", "CKM_AES_MAC_GENERAL"):
        v = mechanisms.decode(const(mech), addr(length), ffi.sizeof("CK_ULONG"), reader())
        assert v.type_name == "CK_MAC_GENERAL_PARAMS" and fields(v) == {"ulMacLength": Scalar(12, decimal=True)}
    v = mechanisms.decode(const("CKM_CONCATENATE_BASE_AND_KEY"), addr(length), ffi.sizeof("CK_ULONG"), reader())
    assert fields(v) == {"hKey": Scalar(12)}
    public = buf(b"\x05" * 128)
    v = mechanisms.decode(const("CKM_DH_PKCS_DERIVE"), addr(public), 128, reader())
    assert v.type_name == "public value" and fields(v)["pPublicValue"].data == b"\x05" * 128
