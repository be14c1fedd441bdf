"""Object identifiers a PKCS#11 trace meets, by dotted value: named curves (CKA_EC_PARAMS),
the attributes of distinguished names (CKA_SUBJECT, CKA_ISSUER) and public-key algorithms
(CKA_PUBLIC_KEY_INFO).  Sources: RFC 5480, SEC 2, RFC 5639, RFC 8410, RFC 4519, X.520."""
from __future__ import annotations

from typing import Dict

# Named curves: the names people search for, standard name first, then common aliases.
CURVES: Dict[str, str] = {
    "1.2.840.10045.3.1.1": "secp192r1 (P-192, prime192v1)",
    "1.2.840.10045.3.1.7": "secp256r1 (P-256, prime256v1)",
    "1.3.132.0.33": "secp224r1 (P-224)",
    "1.3.132.0.34": "secp384r1 (P-384)",
    "1.3.132.0.35": "secp521r1 (P-521)",
    "1.3.132.0.10": "secp256k1",
    "1.3.36.3.3.2.8.1.1.3": "brainpoolP192r1",
    "1.3.36.3.3.2.8.1.1.5": "brainpoolP224r1",
    "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
    "1.3.36.3.3.2.8.1.1.9": "brainpoolP320r1",
    "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
    "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
    "1.3.101.110": "X25519",
    "1.3.101.111": "X448",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
    "1.2.156.10197.1.301": "SM2",
}

# Field size in bytes per curve, to say whether a point has the length its curve needs.
CURVE_FIELD_BYTES: Dict[str, int] = {
    "1.2.840.10045.3.1.1": 24, "1.2.840.10045.3.1.7": 32, "1.3.132.0.33": 28,
    "1.3.132.0.34": 48, "1.3.132.0.35": 66, "1.3.132.0.10": 32,
    "1.3.36.3.3.2.8.1.1.7": 32, "1.3.36.3.3.2.8.1.1.11": 48, "1.3.36.3.3.2.8.1.1.13": 64,
}

# X.520 / RFC 4519 attribute types, by the short names of RFC 4514 where there is one.
NAME_ATTRIBUTES: Dict[str, str] = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
    "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.12": "title", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}

# Public-key algorithms (SubjectPublicKeyInfo) and a few signature algorithms.
ALGORITHMS: Dict[str, str] = {
    "1.2.840.113549.1.1.1": "rsaEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.10045.2.1": "id-ecPublicKey",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10040.4.1": "id-dsa",
    "1.2.840.10046.2.1": "dhpublicnumber",
    "2.16.840.1.101.3.4.3.17": "id-ml-dsa-44",
    "2.16.840.1.101.3.4.3.18": "id-ml-dsa-65",
    "2.16.840.1.101.3.4.3.19": "id-ml-dsa-87",
    "2.16.840.1.101.3.4.4.1": "id-alg-ml-kem-512",
    "2.16.840.1.101.3.4.4.2": "id-alg-ml-kem-768",
    "2.16.840.1.101.3.4.4.3": "id-alg-ml-kem-1024",
}


def oid_name(dotted: str) -> str:
    """The name of an OID from any table here, or ''."""
    return CURVES.get(dotted) or ALGORITHMS.get(dotted) or NAME_ATTRIBUTES.get(dotted, "")
