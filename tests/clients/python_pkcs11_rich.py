"""A python-pkcs11 session that exercises what the decoders name: AES, RSA and EC keys
with rich templates (dates, long non-ASCII label, allowed mechanisms, a wrap template),
AES-GCM, RSA OAEP and PSS with parameters, AES key wrap and unwrap, a certificate object,
find, and attribute reads mixing valid, sensitive and invalid attributes.  Prints a few
results as JSON."""
import base64
import ctypes
import datetime
import json
import os
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, MGF
from pkcs11.attributes import ATTRIBUTE_TYPES
from pkcs11.constants import CertificateType
from pkcs11.mechanisms import GCMParams


class CK_ATTRIBUTE(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p), ("ulValueLen", ctypes.c_ulong)]


_alive = []  # buffers a packed template points to: must outlive the call


def pack_template(template: dict) -> bytes:
    """A nested template (CKA_WRAP_TEMPLATE) as the bytes of a CK_ATTRIBUTE array."""
    array = (CK_ATTRIBUTE * len(template))()
    for i, (key, value) in enumerate(template.items()):
        raw = ATTRIBUTE_TYPES[key][0](value)
        buf = ctypes.create_string_buffer(raw, len(raw))
        _alive.append(buf)
        array[i].type, array[i].pValue, array[i].ulValueLen = int(key), ctypes.addressof(buf), len(raw)
    _alive.append(array)
    return bytes(memoryview(array).cast("B"))


def pack_mechanisms(mechs) -> bytes:
    return b"".join(int(m).to_bytes(ctypes.sizeof(ctypes.c_ulong), sys.byteorder) for m in mechs)


ATTRIBUTE_TYPES[Attribute.WRAP_TEMPLATE] = (pack_template, bytes)
ATTRIBUTE_TYPES[Attribute.UNWRAP_TEMPLATE] = (pack_template, bytes)
ATTRIBUTE_TYPES[Attribute.ALLOWED_MECHANISMS] = (pack_mechanisms, bytes)

# A self-signed P-256 certificate, shared with test_decode_attributes.py.
CERT = base64.b64decode(open(os.path.join(os.path.dirname(__file__), "..", "data", "test-cert.b64")).read())
NAME = bytes.fromhex("303c310b300906035504061302465231143012060355040a0c0b4578616d706c65204f7267"
                     "3117301506035504030c0e706b637331317370792074657374")
LONG_LABEL = "a label longer than thirty-two bytes, with accents: éàü"

lib = pkcs11.lib(sys.argv[1])
token = lib.get_token(token_label="test-token")
out = {}
with token.open(user_pin="1234", rw=True) as s:
    aes = s.generate_key(KeyType.AES, 256, label=LONG_LABEL, id=b"\x01\x02\x03\x04", store=True, template={
        Attribute.START_DATE: datetime.date(2026, 1, 2), Attribute.END_DATE: datetime.date(2030, 12, 31),
        Attribute.EXTRACTABLE: True,
        Attribute.ALLOWED_MECHANISMS: [Mechanism.AES_GCM, Mechanism.AES_CBC_PAD, Mechanism.AES_KEY_WRAP_PAD]})
    gcm = GCMParams(b"\x00" * 12, b"header", 128)
    ct = aes.encrypt(b"gcm plaintext", mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
    out["gcm_roundtrip"] = aes.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=gcm).decode()

    wrapper = s.generate_key(KeyType.AES, 128, label="wrapping-key", store=True, template={
        Attribute.WRAP_TEMPLATE: {Attribute.KEY_TYPE: KeyType.AES, Attribute.EXTRACTABLE: True},
        Attribute.WRAP: True, Attribute.UNWRAP: True})
    wrapped = wrapper.wrap_key(aes, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    unwrapped = wrapper.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, label="unwrapped",
                                   mechanism=Mechanism.AES_KEY_WRAP_PAD, template={Attribute.EXTRACTABLE: True})
    out["unwrapped_len"] = unwrapped[Attribute.VALUE_LEN]

    pub, priv = s.generate_keypair(KeyType.RSA, 2048, label="rsa-key", store=True)
    oaep = (Mechanism.SHA_1, MGF.SHA1, None)  # SoftHSM2 2.6 supports OAEP with SHA-1 only
    rsa_ct = pub.encrypt(b"secret", mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=oaep)
    out["oaep_roundtrip"] = priv.decrypt(rsa_ct, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=oaep).decode()
    pss = (Mechanism.SHA256, MGF.SHA256, 32)
    sig = priv.sign(b"data", mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=pss)
    out["pss_verify"] = pub.verify(b"data", sig, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=pss)

    ec_params = s.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, local=True)
    ec_pub, ec_priv = ec_params.generate_keypair(store=True, label="ec-key")
    digest = s.digest(b"data", mechanism=Mechanism.SHA256)
    out["ec_verify"] = ec_pub.verify(digest, ec_priv.sign(digest, mechanism=Mechanism.ECDSA),
                                     mechanism=Mechanism.ECDSA)
    out["ec_point_len"] = len(ec_pub[Attribute.EC_POINT])

    s.create_object({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                     Attribute.TOKEN: False, Attribute.LABEL: "cert", Attribute.SUBJECT: NAME,
                     Attribute.ISSUER: NAME, Attribute.SERIAL_NUMBER: bytes.fromhex("02041234abcd"),
                     Attribute.VALUE: CERT})
    cert = next(s.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
    out["cert_len"] = len(cert[Attribute.VALUE])

    # One read mixing a valid, a sensitive and an invalid attribute.
    try:
        aes.get_attributes([Attribute.LABEL, Attribute.VALUE, Attribute.MODULUS, Attribute.VALUE_LEN])
        out["mixed"] = "no error"
    except pkcs11.PKCS11Error as exc:
        out["mixed"] = type(exc).__name__
    out["modulus_bits"] = pub[Attribute.MODULUS_BITS]
    out["labels"] = sorted(o[Attribute.LABEL] for o in s.get_objects({Attribute.TOKEN: True}))
print(json.dumps(out, sort_keys=True))
