"""The one table of PKCS#11 functions.

Every ``C_*`` function, in the order of the spec's function-list structures, with its
arguments: name, C type, direction and *kind*.  The kind says how the argument is decoded
(see ``decode/args.py``) and which other argument holds its length.

This table drives both sides: the build generates the C wrappers, the function-list
structures and the exported symbols from it (``_codegen.py``), and the Python decoders walk
it.  Nothing about a function's arguments is written anywhere else, so C and Python cannot
drift apart.  The module is imported by the build script as a plain file: keep it free of
imports from the package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

IN, OUT, INOUT = "in", "out", "inout"

V2_40 = (2, 40)
V3_0 = (3, 0)
V3_2 = (3, 2)


@dataclass(frozen=True)
class Arg:
    name: str
    ctype: str
    direction: str
    kind: str
    length: Optional[str] = None  # the argument holding this one's length or count
    secret: bool = False          # carries a secret: redacted unless shown on purpose
    # Application data (plaintext, data signed or digested): shown as its length and a
    # keyed fingerprint unless shown on purpose (see redact.py).
    data: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    since: Tuple[int, int]
    args: Tuple[Arg, ...]
    # Served by the spy itself (our own function lists and interfaces), not forwarded.
    own: bool = False
    index: int = field(default=-1, compare=False)

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)


# Short constructors for the argument shapes that recur.  Each names its C type
# explicitly, so a row reads like the prototype in the spec.
def session() -> Arg:
    return Arg("hSession", "CK_SESSION_HANDLE", IN, "handle")


def handle(name: str) -> Arg:
    return Arg(name, "CK_OBJECT_HANDLE", IN, "handle")


def slot() -> Arg:
    return Arg("slotID", "CK_SLOT_ID", IN, "ulong")


def mechanism() -> Arg:
    return Arg("pMechanism", "CK_MECHANISM_PTR", IN, "mechanism")


def in_bytes(name: str, length: str, ctype: str = "CK_BYTE_PTR", secret: bool = False,
             data: bool = False) -> Tuple[Arg, Arg]:
    return (Arg(name, ctype, IN, "bytes", length, secret, data), Arg(length, "CK_ULONG", IN, "length"))


def out_bytes(name: str, length_ptr: str, secret: bool = False, data: bool = False) -> Tuple[Arg, Arg]:
    return (Arg(name, "CK_BYTE_PTR", OUT, "bytes", length_ptr, secret, data),
            Arg(length_ptr, "CK_ULONG_PTR", INOUT, "length_ptr"))


def template(name: str, count: str, kind: str = "template") -> Tuple[Arg, Arg]:
    return (Arg(name, "CK_ATTRIBUTE_PTR", IN, kind, count), Arg(count, "CK_ULONG", IN, "length"))


def handle_out(name: str) -> Arg:
    return Arg(name, "CK_OBJECT_HANDLE_PTR", OUT, "handle_ptr")


def message_param() -> Tuple[Arg, Arg]:
    return (Arg("pParameter", "CK_VOID_PTR", INOUT, "message_param", "ulParameterLen"),
            Arg("ulParameterLen", "CK_ULONG", IN, "length"))


def _f(name: str, since: Tuple[int, int], *parts, own: bool = False) -> Function:
    args: List[Arg] = []
    for p in parts:
        args.extend(p if isinstance(p, tuple) else (p,))
    return Function(name, since, tuple(args), own)


# plain: which side carries the application's data ("in": encrypt, sign, digest; "out":
# decrypt, verify-recover); the other side (ciphertext, signature, digest) is shown.
def _crypt(name: str, data: str, data_len: str, out: str, out_len: str, plain: str) -> Function:
    return _f(name, V2_40, session(), in_bytes(data, data_len, data=(plain == IN)),
              out_bytes(out, out_len, data=(plain == OUT)))


def _init(name: str, since: Tuple[int, int] = V2_40) -> Function:
    return _f(name, since, session(), mechanism(), handle("hKey"))


def _message_init(name: str) -> Function:
    # Its mechanism sets the structure of pParameter in the session's message calls.
    return _f(name, V3_0, session(), Arg("pMechanism", "CK_MECHANISM_PTR", IN, "message_mechanism"),
              handle("hKey"))


def _update(name: str, since: Tuple[int, int] = V2_40) -> Function:
    return _f(name, since, session(), in_bytes("pPart", "ulPartLen", data=True))


def _final_out(name: str, out: str, out_len: str, plain: bool = False) -> Function:
    return _f(name, V2_40, session(), out_bytes(out, out_len, data=plain))


def _session_only(name: str, since: Tuple[int, int] = V2_40) -> Function:
    return _f(name, since, session())


_ROWS: List[Function] = [
    # --- PKCS#11 2.40: the CK_FUNCTION_LIST, in order -----------------------------------
    _f("C_Initialize", V2_40, Arg("pInitArgs", "CK_VOID_PTR", IN, "init_args")),
    _f("C_Finalize", V2_40, Arg("pReserved", "CK_VOID_PTR", IN, "pointer")),
    _f("C_GetInfo", V2_40, Arg("pInfo", "CK_INFO_PTR", OUT, "struct:CK_INFO")),
    _f("C_GetFunctionList", V2_40,
       Arg("ppFunctionList", "CK_FUNCTION_LIST_PTR_PTR", OUT, "function_list_ptr"), own=True),
    _f("C_GetSlotList", V2_40, Arg("tokenPresent", "CK_BBOOL", IN, "bool"),
       Arg("pSlotList", "CK_SLOT_ID_PTR", OUT, "slot_list", "pulCount"),
       Arg("pulCount", "CK_ULONG_PTR", INOUT, "count_ptr")),
    _f("C_GetSlotInfo", V2_40, slot(), Arg("pInfo", "CK_SLOT_INFO_PTR", OUT, "struct:CK_SLOT_INFO")),
    _f("C_GetTokenInfo", V2_40, slot(), Arg("pInfo", "CK_TOKEN_INFO_PTR", OUT, "struct:CK_TOKEN_INFO")),
    _f("C_GetMechanismList", V2_40, slot(),
       Arg("pMechanismList", "CK_MECHANISM_TYPE_PTR", OUT, "mechanism_list", "pulCount"),
       Arg("pulCount", "CK_ULONG_PTR", INOUT, "count_ptr")),
    _f("C_GetMechanismInfo", V2_40, slot(), Arg("type", "CK_MECHANISM_TYPE", IN, "enum:CKM"),
       Arg("pInfo", "CK_MECHANISM_INFO_PTR", OUT, "struct:CK_MECHANISM_INFO")),
    _f("C_InitToken", V2_40, slot(), in_bytes("pPin", "ulPinLen", "CK_UTF8CHAR_PTR", secret=True),
       Arg("pLabel", "CK_UTF8CHAR_PTR", IN, "label32")),
    _f("C_InitPIN", V2_40, session(), in_bytes("pPin", "ulPinLen", "CK_UTF8CHAR_PTR", secret=True)),
    _f("C_SetPIN", V2_40, session(), in_bytes("pOldPin", "ulOldLen", "CK_UTF8CHAR_PTR", secret=True),
       in_bytes("pNewPin", "ulNewLen", "CK_UTF8CHAR_PTR", secret=True)),
    _f("C_OpenSession", V2_40, slot(), Arg("flags", "CK_FLAGS", IN, "flags:session"),
       Arg("pApplication", "CK_VOID_PTR", IN, "pointer"), Arg("Notify", "CK_NOTIFY", IN, "pointer"),
       Arg("phSession", "CK_SESSION_HANDLE_PTR", OUT, "handle_ptr")),
    _f("C_CloseSession", V2_40, session()),
    _f("C_CloseAllSessions", V2_40, slot()),
    _f("C_GetSessionInfo", V2_40, session(),
       Arg("pInfo", "CK_SESSION_INFO_PTR", OUT, "struct:CK_SESSION_INFO")),
    # An operation's saved state may hold key material and data: secret.
    _f("C_GetOperationState", V2_40, session(),
       out_bytes("pOperationState", "pulOperationStateLen", secret=True)),
    _f("C_SetOperationState", V2_40, session(),
       in_bytes("pOperationState", "ulOperationStateLen", secret=True),
       handle("hEncryptionKey"), handle("hAuthenticationKey")),
    _f("C_Login", V2_40, session(), Arg("userType", "CK_USER_TYPE", IN, "enum:CKU"),
       in_bytes("pPin", "ulPinLen", "CK_UTF8CHAR_PTR", secret=True)),
    _session_only("C_Logout"),
    _f("C_CreateObject", V2_40, session(), template("pTemplate", "ulCount"), handle_out("phObject")),
    _f("C_CopyObject", V2_40, session(), handle("hObject"), template("pTemplate", "ulCount"),
       handle_out("phNewObject")),
    _f("C_DestroyObject", V2_40, session(), handle("hObject")),
    _f("C_GetObjectSize", V2_40, session(), handle("hObject"),
       Arg("pulSize", "CK_ULONG_PTR", OUT, "count_ptr")),
    _f("C_GetAttributeValue", V2_40, session(), handle("hObject"),
       Arg("pTemplate", "CK_ATTRIBUTE_PTR", INOUT, "template_get", "ulCount"),
       Arg("ulCount", "CK_ULONG", IN, "length")),
    _f("C_SetAttributeValue", V2_40, session(), handle("hObject"), template("pTemplate", "ulCount")),
    _f("C_FindObjectsInit", V2_40, session(), template("pTemplate", "ulCount")),
    _f("C_FindObjects", V2_40, session(),
       Arg("phObject", "CK_OBJECT_HANDLE_PTR", OUT, "handle_list", "pulObjectCount"),
       Arg("ulMaxObjectCount", "CK_ULONG", IN, "count"),
       Arg("pulObjectCount", "CK_ULONG_PTR", OUT, "count_ptr")),
    _session_only("C_FindObjectsFinal"),
    _init("C_EncryptInit"),
    _crypt("C_Encrypt", "pData", "ulDataLen", "pEncryptedData", "pulEncryptedDataLen", IN),
    _crypt("C_EncryptUpdate", "pPart", "ulPartLen", "pEncryptedPart", "pulEncryptedPartLen", IN),
    _final_out("C_EncryptFinal", "pLastEncryptedPart", "pulLastEncryptedPartLen"),
    _init("C_DecryptInit"),
    _crypt("C_Decrypt", "pEncryptedData", "ulEncryptedDataLen", "pData", "pulDataLen", OUT),
    _crypt("C_DecryptUpdate", "pEncryptedPart", "ulEncryptedPartLen", "pPart", "pulPartLen", OUT),
    _final_out("C_DecryptFinal", "pLastPart", "pulLastPartLen", plain=True),
    _f("C_DigestInit", V2_40, session(), mechanism()),
    _crypt("C_Digest", "pData", "ulDataLen", "pDigest", "pulDigestLen", IN),
    _update("C_DigestUpdate"),
    _f("C_DigestKey", V2_40, session(), handle("hKey")),
    _final_out("C_DigestFinal", "pDigest", "pulDigestLen"),
    _init("C_SignInit"),
    _crypt("C_Sign", "pData", "ulDataLen", "pSignature", "pulSignatureLen", IN),
    _update("C_SignUpdate"),
    _final_out("C_SignFinal", "pSignature", "pulSignatureLen"),
    _init("C_SignRecoverInit"),
    _crypt("C_SignRecover", "pData", "ulDataLen", "pSignature", "pulSignatureLen", IN),
    _init("C_VerifyInit"),
    _f("C_Verify", V2_40, session(), in_bytes("pData", "ulDataLen", data=True),
       in_bytes("pSignature", "ulSignatureLen")),
    _update("C_VerifyUpdate"),
    _f("C_VerifyFinal", V2_40, session(), in_bytes("pSignature", "ulSignatureLen")),
    _init("C_VerifyRecoverInit"),
    _crypt("C_VerifyRecover", "pSignature", "ulSignatureLen", "pData", "pulDataLen", OUT),
    _crypt("C_DigestEncryptUpdate", "pPart", "ulPartLen", "pEncryptedPart", "pulEncryptedPartLen", IN),
    _crypt("C_DecryptDigestUpdate", "pEncryptedPart", "ulEncryptedPartLen", "pPart", "pulPartLen", OUT),
    _crypt("C_SignEncryptUpdate", "pPart", "ulPartLen", "pEncryptedPart", "pulEncryptedPartLen", IN),
    _crypt("C_DecryptVerifyUpdate", "pEncryptedPart", "ulEncryptedPartLen", "pPart", "pulPartLen", OUT),
    _f("C_GenerateKey", V2_40, session(), mechanism(), template("pTemplate", "ulCount"), handle_out("phKey")),
    _f("C_GenerateKeyPair", V2_40, session(), mechanism(),
       template("pPublicKeyTemplate", "ulPublicKeyAttributeCount"),
       template("pPrivateKeyTemplate", "ulPrivateKeyAttributeCount"),
       handle_out("phPublicKey"), handle_out("phPrivateKey")),
    _f("C_WrapKey", V2_40, session(), mechanism(), handle("hWrappingKey"), handle("hKey"),
       out_bytes("pWrappedKey", "pulWrappedKeyLen", secret=True)),
    _f("C_UnwrapKey", V2_40, session(), mechanism(), handle("hUnwrappingKey"),
       in_bytes("pWrappedKey", "ulWrappedKeyLen", secret=True),
       template("pTemplate", "ulAttributeCount"), handle_out("phKey")),
    _f("C_DeriveKey", V2_40, session(), mechanism(), handle("hBaseKey"),
       template("pTemplate", "ulAttributeCount"), handle_out("phKey")),
    _f("C_SeedRandom", V2_40, session(), in_bytes("pSeed", "ulSeedLen", secret=True)),
    # The random bytes are an output, although the length is passed by value.
    _f("C_GenerateRandom", V2_40, session(),
       Arg("RandomData", "CK_BYTE_PTR", OUT, "bytes", "ulRandomLen", secret=True),
       Arg("ulRandomLen", "CK_ULONG", IN, "length")),
    _session_only("C_GetFunctionStatus"),
    _session_only("C_CancelFunction"),
    _f("C_WaitForSlotEvent", V2_40, Arg("flags", "CK_FLAGS", IN, "flags:wait"),
       Arg("pSlot", "CK_SLOT_ID_PTR", OUT, "ulong_ptr"), Arg("pReserved", "CK_VOID_PTR", IN, "pointer")),
    # --- PKCS#11 3.0: appended in CK_FUNCTION_LIST_3_0 ------------------------------------
    _f("C_GetInterfaceList", V3_0,
       Arg("pInterfacesList", "CK_INTERFACE_PTR", OUT, "interface_list", "pulCount"),
       Arg("pulCount", "CK_ULONG_PTR", INOUT, "count_ptr"), own=True),
    _f("C_GetInterface", V3_0, Arg("pInterfaceName", "CK_UTF8CHAR_PTR", IN, "cstring"),
       Arg("pVersion", "CK_VERSION_PTR", IN, "version_ptr"),
       Arg("ppInterface", "CK_INTERFACE_PTR_PTR", OUT, "interface_ptr"),
       Arg("flags", "CK_FLAGS", IN, "flags:interface"), own=True),
    _f("C_LoginUser", V3_0, session(), Arg("userType", "CK_USER_TYPE", IN, "enum:CKU"),
       in_bytes("pPin", "ulPinLen", "CK_UTF8CHAR_PTR", secret=True),
       in_bytes("pUsername", "ulUsernameLen", "CK_UTF8CHAR_PTR", secret=True)),
    _f("C_SessionCancel", V3_0, session(), Arg("flags", "CK_FLAGS", IN, "flags:session_cancel")),
    _message_init("C_MessageEncryptInit"),
    _f("C_EncryptMessage", V3_0, session(), message_param(), in_bytes("pAssociatedData", "ulAssociatedDataLen"),
       in_bytes("pPlaintext", "ulPlaintextLen", data=True), out_bytes("pCiphertext", "pulCiphertextLen")),
    _f("C_EncryptMessageBegin", V3_0, session(), message_param(),
       in_bytes("pAssociatedData", "ulAssociatedDataLen")),
    _f("C_EncryptMessageNext", V3_0, session(), message_param(), in_bytes("pPlaintextPart", "ulPlaintextPartLen", data=True),
       out_bytes("pCiphertextPart", "pulCiphertextPartLen"), Arg("flags", "CK_FLAGS", IN, "flags:message")),
    _session_only("C_MessageEncryptFinal", V3_0),
    _message_init("C_MessageDecryptInit"),
    _f("C_DecryptMessage", V3_0, session(), message_param(), in_bytes("pAssociatedData", "ulAssociatedDataLen"),
       in_bytes("pCiphertext", "ulCiphertextLen"), out_bytes("pPlaintext", "pulPlaintextLen", data=True)),
    _f("C_DecryptMessageBegin", V3_0, session(), message_param(),
       in_bytes("pAssociatedData", "ulAssociatedDataLen")),
    _f("C_DecryptMessageNext", V3_0, session(), message_param(), in_bytes("pCiphertextPart", "ulCiphertextPartLen"),
       out_bytes("pPlaintextPart", "pulPlaintextPartLen", data=True), Arg("flags", "CK_FLAGS", IN, "flags:message")),
    _session_only("C_MessageDecryptFinal", V3_0),
    _message_init("C_MessageSignInit"),
    _f("C_SignMessage", V3_0, session(), message_param(), in_bytes("pData", "ulDataLen", data=True),
       out_bytes("pSignature", "pulSignatureLen")),
    _f("C_SignMessageBegin", V3_0, session(), message_param()),
    _f("C_SignMessageNext", V3_0, session(), message_param(), in_bytes("pData", "ulDataLen", data=True),
       out_bytes("pSignature", "pulSignatureLen")),
    _session_only("C_MessageSignFinal", V3_0),
    _message_init("C_MessageVerifyInit"),
    _f("C_VerifyMessage", V3_0, session(), message_param(), in_bytes("pData", "ulDataLen", data=True),
       in_bytes("pSignature", "ulSignatureLen")),
    _f("C_VerifyMessageBegin", V3_0, session(), message_param()),
    _f("C_VerifyMessageNext", V3_0, session(), message_param(), in_bytes("pData", "ulDataLen", data=True),
       in_bytes("pSignature", "ulSignatureLen")),
    _session_only("C_MessageVerifyFinal", V3_0),
    # --- PKCS#11 3.2: appended in CK_FUNCTION_LIST_3_2 ------------------------------------
    # A size query (pCiphertext NULL) makes no key: *phKey is valid only with a buffer.
    _f("C_EncapsulateKey", V3_2, session(), mechanism(), handle("hPublicKey"),
       template("pTemplate", "ulAttributeCount"), out_bytes("pCiphertext", "pulCiphertextLen"),
       Arg("phKey", "CK_OBJECT_HANDLE_PTR", OUT, "handle_ptr_with:pCiphertext")),
    _f("C_DecapsulateKey", V3_2, session(), mechanism(), handle("hPrivateKey"),
       template("pTemplate", "ulAttributeCount"), in_bytes("pCiphertext", "ulCiphertextLen"),
       handle_out("phKey")),
    _f("C_VerifySignatureInit", V3_2, session(), mechanism(), handle("hKey"),
       in_bytes("pSignature", "ulSignatureLen")),
    _f("C_VerifySignature", V3_2, session(), in_bytes("pData", "ulDataLen", data=True)),
    _update("C_VerifySignatureUpdate", V3_2),
    _session_only("C_VerifySignatureFinal", V3_2),
    _f("C_GetSessionValidationFlags", V3_2, session(),
       Arg("type", "CK_SESSION_VALIDATION_FLAGS_TYPE", IN, "enum:CKS_VALIDATION"),
       Arg("pFlags", "CK_FLAGS_PTR", OUT, "flags_ptr:session_validation")),
    _f("C_AsyncComplete", V3_2, session(), Arg("pFunctionName", "CK_UTF8CHAR_PTR", IN, "cstring"),
       Arg("pResult", "CK_ASYNC_DATA_PTR", INOUT, "async_data")),
    _f("C_AsyncGetID", V3_2, session(), Arg("pFunctionName", "CK_UTF8CHAR_PTR", IN, "cstring"),
       Arg("pulID", "CK_ULONG_PTR", OUT, "ulong_ptr")),
    _f("C_AsyncJoin", V3_2, session(), Arg("pFunctionName", "CK_UTF8CHAR_PTR", IN, "cstring"),
       Arg("ulID", "CK_ULONG", IN, "ulong"), in_bytes("pData", "ulData")),
    _f("C_WrapKeyAuthenticated", V3_2, session(), mechanism(), handle("hWrappingKey"), handle("hKey"),
       in_bytes("pAssociatedData", "ulAssociatedDataLen"),
       out_bytes("pWrappedKey", "pulWrappedKeyLen", secret=True)),
    _f("C_UnwrapKeyAuthenticated", V3_2, session(), mechanism(), handle("hUnwrappingKey"),
       in_bytes("pWrappedKey", "ulWrappedKeyLen", secret=True), template("pTemplate", "ulAttributeCount"),
       in_bytes("pAssociatedData", "ulAssociatedDataLen"), handle_out("phKey")),
]

FUNCTIONS: Tuple[Function, ...] = tuple(
    Function(f.name, f.since, f.args, f.own, i) for i, f in enumerate(_ROWS))
BY_NAME: Dict[str, Function] = {f.name: f for f in FUNCTIONS}

# How many entries each version's function list has (after the version field).
LIST_LENGTH = {
    V2_40: sum(1 for f in FUNCTIONS if f.since == V2_40),
    V3_0: sum(1 for f in FUNCTIONS if f.since <= V3_0),
    V3_2: len(FUNCTIONS),
}
MAX_ARGS = max(len(f.args) for f in FUNCTIONS)

# Draft 3.2 headers (e.g. the 3.2 pre-release pkcs11.h) end CK_FUNCTION_LIST_3_2 at
# C_AsyncJoin; the final one appends C_WrapKeyAuthenticated and C_UnwrapKeyAuthenticated.
# A module built with a draft header has a 3.2 list two entries shorter, so the loader
# reads the entries after this one with care (see spy_take_late in _shim.c).
DRAFT_3_2_LIST_END = "C_AsyncJoin"
