/* p11test: a small PKCS#11 module for the spy's tests, where no real module offers the
 * behaviour: interfaces 2.40, 3.0, 3.1, 3.2 and a vendor one, the message functions and a
 * few 3.2 functions, all with fixed, checkable results.
 *
 * Its function lists and interface array sit at the very end of a read-only page that is
 * followed by an inaccessible page: a spy that writes into them, or reads one byte past
 * them, crashes the test (and valgrind names the access).
 *
 * Environment (the misbehaviours real modules have):
 *   P11TEST_OFFER          interfaces offered, in order, comma separated; default
 *                          "3.2,3.0,2.40,vendor".  Items: 2.40 3.0 3.1 3.2 vendor, each
 *                          optionally with "+fs" (CKF_INTERFACE_FORK_SAFE), and 3.2draft (a
 *                          3.2 list ending at C_AsyncJoin, as draft 3.2 headers have it).
 *   P11TEST_GETINTERFACE   ok (default) | null (CKR_OK, *ppInterface NULL) |
 *                          unsupported (CKR_FUNCTION_NOT_SUPPORTED) | unlisted (an
 *                          interface that C_GetInterfaceList does not list)
 *   P11TEST_INTERFACELIST  ok (default) | unsupported
 *   P11TEST_FUNCTION_LIST  2.40 (default) | short3 (C_GetFunctionList claims 3.0 in a list
 *                          only 2.40 long, the SoftHSM2 2.7 bug)
 *   P11TEST_VENDOR_NAME    the vendor interface's name (default "Vendor pkcs11spy-test"):
 *                          a module's own bytes, which a trace must show without being
 *                          forged by them
 *
 * Built by the tests: cc -shared -fPIC -I<dir of p11_index.h> p11test.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p11_index.h"

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef unsigned char CK_BYTE;
typedef struct { CK_BYTE major, minor; } CK_VERSION;
typedef struct { CK_BYTE *pInterfaceName; void *pFunctionList; CK_FLAGS flags; } CK_INTERFACE;
typedef struct { CK_ULONG type; void *pValue; CK_ULONG ulValueLen; } CK_ATTRIBUTE;
typedef struct { CK_ULONG mechanism; void *pParameter; CK_ULONG ulParameterLen; } CK_MECHANISM;
typedef struct {
    CK_BYTE *pIv; CK_ULONG ulIvLen; CK_ULONG ulIvFixedBits; CK_ULONG ivGenerator;
    CK_BYTE *pTag; CK_ULONG ulTagBits;
} CK_GCM_MESSAGE_PARAMS;
typedef struct {
    CK_ULONG ulDataLen; CK_BYTE *pNonce; CK_ULONG ulNonceLen; CK_ULONG ulNonceFixedBits;
    CK_ULONG nonceGenerator; CK_BYTE *pMAC; CK_ULONG ulMACLen;
} CK_CCM_MESSAGE_PARAMS;
typedef struct { CK_BYTE *pNonce; CK_ULONG ulNonceLen; CK_BYTE *pTag; } CK_CHACHA_MSG_PARAMS;
typedef struct {
    CK_ULONG ulVersion; CK_BYTE *pValue; CK_ULONG ulValue; CK_ULONG hObject; CK_ULONG hAdditionalObject;
} CK_ASYNC_DATA;

#define CKR_OK 0x0UL
#define CKR_ARGUMENTS_BAD 0x7UL
#define CKR_ATTRIBUTE_TYPE_INVALID 0x12UL
#define CKR_ENCRYPTED_DATA_INVALID 0x40UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_OPERATION_NOT_INITIALIZED 0x91UL
#define CKR_SIGNATURE_INVALID 0xC0UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKF_INTERFACE_FORK_SAFE 0x1UL
#define CKF_END_OF_MESSAGE 0x1UL
#define CKM_AES_GCM 0x1087UL
#define CKM_AES_CCM 0x1088UL
#define CKM_CHACHA20_POLY1305 0x4021UL
#define CKM_SHA256_HMAC 0x251UL
#define CKM_ML_KEM 0x17UL
#define CKG_NO_GENERATE 0UL
#define CK_UNAVAILABLE_INFORMATION (~0UL)

#define SESSION 0x51UL
#define KEM_PUBLIC 0x20UL
#define KEM_PRIVATE 0x21UL
#define NEW_KEY 0x101UL
#define TAG_BYTE 0x7AU   /* every tag, MAC and signature byte */
#define XOR_BYTE 0x5AU   /* "encryption": each byte XOR this */

typedef CK_RV (*any_fn)(void);
struct list { CK_VERSION version; any_fn fn[N_3_2]; };

static CK_ULONG message_mechanism[4];   /* per operation kind: 0 encrypt 1 decrypt 2 sign 3 verify */
static int verify_signature_ok;

/* ---- the functions ---------------------------------------------------------------- */

static CK_RV not_supported(void) { return CKR_FUNCTION_NOT_SUPPORTED; }
static CK_RV ok_void(void *p) { (void)p; return CKR_OK; }

static void blank(CK_BYTE *dst, size_t n, const char *text)
{
    size_t len = strlen(text);
    memset(dst, ' ', n);
    memcpy(dst, text, len < n ? len : n);
}

/* Like OpenSC, each list's C_GetInfo names the version of its list: a spy that sends a
 * call through another list than the application's shows it. */
static CK_RV get_info(CK_BYTE *info, CK_BYTE major, CK_BYTE minor)
{
    /* CK_INFO: version, manufacturerID[32], flags (aligned to 8), description[32], version */
    memset(info, 0, 88);
    info[0] = major; info[1] = minor;
    blank(info + 2, 32, "pkcs11spy test");
    blank(info + 48, 32, "p11test module");
    info[80] = 1; info[81] = 0;
    return CKR_OK;
}
static CK_RV get_info_2_40(CK_BYTE *info) { return get_info(info, 2, 40); }
static CK_RV get_info_3_0(CK_BYTE *info) { return get_info(info, 3, 0); }
static CK_RV get_info_3_2(CK_BYTE *info) { return get_info(info, 3, 2); }

static CK_RV get_slot_list(CK_BYTE present, CK_ULONG *slots, CK_ULONG *count)
{
    (void)present;
    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slots != NULL) {
        if (*count < 1) { *count = 1; return CKR_BUFFER_TOO_SMALL; }
        slots[0] = 1;
    }
    *count = 1;
    return CKR_OK;
}

static CK_RV get_slot_info(CK_ULONG slot, CK_BYTE *info)
{
    (void)slot;
    memset(info, 0, 112);
    blank(info, 64, "p11test slot");
    blank(info + 64, 32, "pkcs11spy test");
    info[96] = 0x1; /* CKF_TOKEN_PRESENT */
    return CKR_OK;
}

static CK_RV get_token_info(CK_ULONG slot, CK_BYTE *info)
{
    CK_ULONG *numbers = (CK_ULONG *)(info + 96);
    (void)slot;
    memset(info, 0, 208);
    blank(info, 32, "p11test");
    blank(info + 32, 32, "pkcs11spy test");
    blank(info + 64, 16, "p11test");
    blank(info + 80, 16, "0001");
    numbers[0] = 0x400 | 0x4;        /* CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED */
    numbers[5] = 64; numbers[6] = 4; /* max and min PIN length */
    return CKR_OK;
}

static CK_RV open_session(CK_ULONG slot, CK_FLAGS flags, void *app, void *notify, CK_ULONG *session)
{
    (void)slot; (void)flags; (void)app; (void)notify;
    *session = SESSION;
    return CKR_OK;
}

static CK_RV get_session_info(CK_ULONG session, CK_ULONG *info)
{
    (void)session;
    info[0] = 1; info[1] = 3; info[2] = 0x6; info[3] = 0;
    return CKR_OK;
}

static CK_RV get_mechanism_list(CK_ULONG slot, CK_ULONG *list, CK_ULONG *count)
{
    static const CK_ULONG all[] = {CKM_AES_GCM, CKM_AES_CCM, CKM_CHACHA20_POLY1305, CKM_SHA256_HMAC, CKM_ML_KEM};
    const CK_ULONG n = sizeof(all) / sizeof(all[0]);
    (void)slot;
    if (list != NULL) {
        if (*count < n) { *count = n; return CKR_BUFFER_TOO_SMALL; }
        memcpy(list, all, sizeof(all));
    }
    *count = n;
    return CKR_OK;
}

static CK_RV get_mechanism_info(CK_ULONG slot, CK_ULONG type, CK_ULONG *info)
{
    (void)slot; (void)type;
    info[0] = 16; info[1] = 32; info[2] = 0;
    return CKR_OK;
}

static CK_RV session_only(CK_ULONG session) { (void)session; return CKR_OK; }
static CK_RV login(CK_ULONG s, CK_ULONG user, CK_BYTE *pin, CK_ULONG len)
{
    (void)s; (void)user; (void)pin; (void)len;
    return CKR_OK;
}
static CK_RV login_user(CK_ULONG s, CK_ULONG user, CK_BYTE *pin, CK_ULONG len, CK_BYTE *name, CK_ULONG nlen)
{
    (void)s; (void)user; (void)pin; (void)len;
    return nlen == 5 && memcmp(name, "alice", 5) == 0 ? CKR_OK : 0xA0UL /* CKR_PIN_INCORRECT */;
}
static CK_RV session_cancel(CK_ULONG s, CK_FLAGS flags) { (void)s; (void)flags; return CKR_OK; }

/* Objects: one ML-KEM key pair, and whatever key C_*capsulateKey makes (an AES key). */
static CK_ULONG find_position, find_class = CK_UNAVAILABLE_INFORMATION;
static CK_RV find_init(CK_ULONG s, CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_ULONG i;
    (void)s;
    find_position = 0;
    find_class = CK_UNAVAILABLE_INFORMATION;  /* any */
    for (i = 0; i < n; i++)
        if (t[i].type == 0x0 && t[i].ulValueLen == sizeof(CK_ULONG))
            memcpy(&find_class, t[i].pValue, sizeof(CK_ULONG));
    return CKR_OK;
}
static CK_RV find(CK_ULONG s, CK_ULONG *objects, CK_ULONG max, CK_ULONG *count)
{
    static const CK_ULONG all[] = {KEM_PUBLIC, KEM_PRIVATE};
    static const CK_ULONG class_of[] = {2, 3};
    (void)s;
    *count = 0;
    for (; find_position < 2 && *count < max; find_position++)
        if (find_class == CK_UNAVAILABLE_INFORMATION || find_class == class_of[find_position])
            objects[(*count)++] = all[find_position];
    return CKR_OK;
}

static CK_RV get_attribute(CK_ULONG s, CK_ULONG object, CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_RV rv = CKR_OK;
    CK_ULONG i;
    (void)s;
    for (i = 0; i < n; i++) {
        CK_ULONG value;
        const void *data = &value;
        CK_ULONG len = sizeof(CK_ULONG);
        if (t[i].type == 0x0) /* CKA_CLASS: public, private, secret */
            value = object == KEM_PUBLIC ? 2 : object == KEM_PRIVATE ? 3 : 4;
        else if (t[i].type == 0x100) /* CKA_KEY_TYPE */
            value = object == NEW_KEY ? 0x1f /* CKK_AES */ : 0x49 /* CKK_ML_KEM */;
        else if (t[i].type == 0x633 || t[i].type == 0x634) { /* CKA_ENCAPSULATE, CKA_DECAPSULATE */
            static const CK_BYTE yes = 1, no = 0;
            int fits = (t[i].type == 0x633 && object == KEM_PUBLIC) || (t[i].type == 0x634 && object == KEM_PRIVATE);
            data = fits ? &yes : &no;
            len = 1;
        } else if (t[i].type == 0x3) { /* CKA_LABEL */
            data = object == NEW_KEY ? "shared" : "kem";
            len = strlen(data);
        } else {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
            continue;
        }
        if (t[i].pValue != NULL) {
            if (t[i].ulValueLen < len) { t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION; rv = CKR_BUFFER_TOO_SMALL; continue; }
            memcpy(t[i].pValue, data, len);
        }
        t[i].ulValueLen = len;
    }
    return rv;
}

/* ---- message functions: fixed transformations a test can check ---------------------- */

static CK_RV message_init(int kind, CK_ULONG s, CK_MECHANISM *m, CK_ULONG key)
{
    (void)s; (void)key;
    message_mechanism[kind] = m->mechanism;
    return CKR_OK;
}
static CK_RV encrypt_init(CK_ULONG s, CK_MECHANISM *m, CK_ULONG k) { return message_init(0, s, m, k); }
static CK_RV decrypt_init(CK_ULONG s, CK_MECHANISM *m, CK_ULONG k) { return message_init(1, s, m, k); }
static CK_RV sign_init(CK_ULONG s, CK_MECHANISM *m, CK_ULONG k) { return message_init(2, s, m, k); }
static CK_RV verify_init(CK_ULONG s, CK_MECHANISM *m, CK_ULONG k) { return message_init(3, s, m, k); }
static CK_RV message_final(CK_ULONG s) { (void)s; return CKR_OK; }

/* Encrypting: a generated IV is 0xA0 0xA1 ... after the fixed part; the tag is all 0x7A.
 * Decrypting: the tag must be all 0x7A. */
static CK_RV aead_params(int encrypting, void *param, CK_ULONG len)
{
    CK_BYTE *tag = NULL;
    CK_ULONG tag_len = 0, i;
    CK_ULONG mechanism = message_mechanism[encrypting ? 0 : 1];

    if (mechanism == CKM_AES_GCM && len == sizeof(CK_GCM_MESSAGE_PARAMS)) {
        CK_GCM_MESSAGE_PARAMS *p = param;
        if (encrypting && p->ivGenerator != CKG_NO_GENERATE)
            for (i = p->ulIvFixedBits / 8; i < p->ulIvLen; i++)
                p->pIv[i] = (CK_BYTE)(0xA0 + i);
        tag = p->pTag; tag_len = p->ulTagBits / 8;
    } else if (mechanism == CKM_AES_CCM && len == sizeof(CK_CCM_MESSAGE_PARAMS)) {
        CK_CCM_MESSAGE_PARAMS *p = param;
        tag = p->pMAC; tag_len = p->ulMACLen;
    } else if (mechanism == CKM_CHACHA20_POLY1305 && len == sizeof(CK_CHACHA_MSG_PARAMS)) {
        CK_CHACHA_MSG_PARAMS *p = param;
        tag = p->pTag; tag_len = 16;
    } else {
        return 0x71UL; /* CKR_MECHANISM_PARAM_INVALID */
    }
    for (i = 0; i < tag_len; i++) {
        if (encrypting)
            tag[i] = TAG_BYTE;
        else if (tag[i] != TAG_BYTE)
            return CKR_ENCRYPTED_DATA_INVALID;
    }
    return CKR_OK;
}

static CK_RV xor_out(const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len)
{
    CK_ULONG i;
    if (out == NULL) { *out_len = in_len; return CKR_OK; }
    if (*out_len < in_len) { *out_len = in_len; return CKR_BUFFER_TOO_SMALL; }
    for (i = 0; i < in_len; i++)
        out[i] = in[i] ^ XOR_BYTE;
    *out_len = in_len;
    return CKR_OK;
}

static CK_RV encrypt_message(CK_ULONG s, void *param, CK_ULONG plen, CK_BYTE *aad, CK_ULONG aadlen,
                             CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out, CK_ULONG *outlen)
{
    CK_RV rv;
    (void)s; (void)aad; (void)aadlen;
    if (out != NULL && *outlen >= inlen && (rv = aead_params(1, param, plen)) != CKR_OK)
        return rv;
    return xor_out(in, inlen, out, outlen);
}

static CK_RV decrypt_message(CK_ULONG s, void *param, CK_ULONG plen, CK_BYTE *aad, CK_ULONG aadlen,
                             CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out, CK_ULONG *outlen)
{
    CK_RV rv;
    (void)s; (void)aad; (void)aadlen;
    if (out != NULL && (rv = aead_params(0, param, plen)) != CKR_OK)
        return rv;
    return xor_out(in, inlen, out, outlen);
}

static CK_RV encrypt_begin(CK_ULONG s, void *param, CK_ULONG plen, CK_BYTE *aad, CK_ULONG aadlen)
{
    (void)s; (void)param; (void)plen; (void)aad; (void)aadlen;
    return CKR_OK;
}

static CK_RV encrypt_next(CK_ULONG s, void *param, CK_ULONG plen, CK_BYTE *in, CK_ULONG inlen,
                          CK_BYTE *out, CK_ULONG *outlen, CK_FLAGS flags)
{
    CK_RV rv;
    (void)s;
    if (out != NULL && (flags & CKF_END_OF_MESSAGE) && (rv = aead_params(1, param, plen)) != CKR_OK)
        return rv;
    return xor_out(in, inlen, out, outlen);
}

static CK_RV decrypt_next(CK_ULONG s, void *param, CK_ULONG plen, CK_BYTE *in, CK_ULONG inlen,
                          CK_BYTE *out, CK_ULONG *outlen, CK_FLAGS flags)
{
    CK_RV rv;
    (void)s;
    if (out != NULL && (flags & CKF_END_OF_MESSAGE) && (rv = aead_params(0, param, plen)) != CKR_OK)
        return rv;
    return xor_out(in, inlen, out, outlen);
}

/* Signatures: 8 bytes 0x7A, whatever the data. */
static CK_RV sign_out(CK_BYTE *sig, CK_ULONG *len)
{
    if (sig == NULL) { *len = 8; return CKR_OK; }
    if (*len < 8) { *len = 8; return CKR_BUFFER_TOO_SMALL; }
    memset(sig, TAG_BYTE, 8);
    *len = 8;
    return CKR_OK;
}
static int sig_good(const CK_BYTE *sig, CK_ULONG len)
{
    CK_ULONG i;
    for (i = 0; i < len; i++)
        if (sig[i] != TAG_BYTE)
            return 0;
    return len == 8;
}
static CK_RV sign_message(CK_ULONG s, void *p, CK_ULONG pl, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG *sl)
{
    (void)s; (void)p; (void)pl; (void)d; (void)dl;
    return sign_out(sig, sl);
}
static CK_RV message_begin(CK_ULONG s, void *p, CK_ULONG pl) { (void)s; (void)p; (void)pl; return CKR_OK; }
static CK_RV sign_next(CK_ULONG s, void *p, CK_ULONG pl, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG *sl)
{
    (void)s; (void)p; (void)pl; (void)d; (void)dl;
    return sl == NULL ? CKR_OK : sign_out(sig, sl);
}
static CK_RV verify_message(CK_ULONG s, void *p, CK_ULONG pl, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG sl)
{
    (void)s; (void)p; (void)pl; (void)d; (void)dl;
    return sig_good(sig, sl) ? CKR_OK : CKR_SIGNATURE_INVALID;
}
static CK_RV verify_next(CK_ULONG s, void *p, CK_ULONG pl, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG sl)
{
    (void)s; (void)p; (void)pl; (void)d; (void)dl;
    return sig == NULL || sig_good(sig, sl) ? CKR_OK : CKR_SIGNATURE_INVALID;
}

/* ---- 3.2 ---------------------------------------------------------------------------- */

static CK_RV encapsulate(CK_ULONG s, CK_MECHANISM *m, CK_ULONG pub, CK_ATTRIBUTE *t, CK_ULONG n,
                         CK_BYTE *ct, CK_ULONG *ctlen, CK_ULONG *key)
{
    (void)s; (void)m; (void)pub; (void)t; (void)n;
    if (ct == NULL) { *ctlen = 4; return CKR_OK; }
    if (*ctlen < 4) { *ctlen = 4; return CKR_BUFFER_TOO_SMALL; }
    memcpy(ct, "ENC1", 4);
    *ctlen = 4;
    *key = NEW_KEY;
    return CKR_OK;
}
static CK_RV decapsulate(CK_ULONG s, CK_MECHANISM *m, CK_ULONG priv, CK_ATTRIBUTE *t, CK_ULONG n,
                         CK_BYTE *ct, CK_ULONG ctlen, CK_ULONG *key)
{
    (void)s; (void)m; (void)priv; (void)t; (void)n;
    if (ctlen != 4 || memcmp(ct, "ENC1", 4) != 0)
        return CKR_ENCRYPTED_DATA_INVALID;
    *key = NEW_KEY;
    return CKR_OK;
}
static CK_RV verify_signature_init(CK_ULONG s, CK_MECHANISM *m, CK_ULONG k, CK_BYTE *sig, CK_ULONG len)
{
    (void)s; (void)m; (void)k;
    verify_signature_ok = sig_good(sig, len);
    return CKR_OK;
}
static CK_RV verify_signature(CK_ULONG s, CK_BYTE *d, CK_ULONG l)
{
    (void)s; (void)d; (void)l;
    return verify_signature_ok ? CKR_OK : CKR_SIGNATURE_INVALID;
}
static CK_RV verify_signature_update(CK_ULONG s, CK_BYTE *d, CK_ULONG l) { (void)s; (void)d; (void)l; return CKR_OK; }
static CK_RV verify_signature_final(CK_ULONG s)
{
    (void)s;
    return verify_signature_ok ? CKR_OK : CKR_SIGNATURE_INVALID;
}
static CK_RV get_validation_flags(CK_ULONG s, CK_ULONG type, CK_FLAGS *flags)
{
    (void)s; (void)type;
    *flags = 0x5;
    return CKR_OK;
}
static CK_RV async_complete(CK_ULONG s, CK_BYTE *name, CK_ASYNC_DATA *result)
{
    (void)s; (void)name;
    result->ulVersion = 1; result->ulValue = 0; result->pValue = NULL;
    result->hObject = NEW_KEY; result->hAdditionalObject = 0;
    return CKR_OK;
}
static CK_RV async_get_id(CK_ULONG s, CK_BYTE *name, CK_ULONG *id) { (void)s; (void)name; *id = 7; return CKR_OK; }
static CK_RV async_join(CK_ULONG s, CK_BYTE *name, CK_ULONG id, CK_BYTE *data, CK_ULONG len)
{
    (void)s; (void)name; (void)data; (void)len;
    return id == 7 ? CKR_OK : CKR_ARGUMENTS_BAD;
}
static CK_RV wrap_authenticated(CK_ULONG s, CK_MECHANISM *m, CK_ULONG wk, CK_ULONG k, CK_BYTE *aad, CK_ULONG al,
                                CK_BYTE *out, CK_ULONG *outlen)
{
    (void)s; (void)m; (void)wk; (void)k; (void)aad; (void)al;
    if (out == NULL) { *outlen = 8; return CKR_OK; }
    if (*outlen < 8) { *outlen = 8; return CKR_BUFFER_TOO_SMALL; }
    memcpy(out, "WRAPPED!", 8);
    *outlen = 8;
    return CKR_OK;
}
static CK_RV unwrap_authenticated(CK_ULONG s, CK_MECHANISM *m, CK_ULONG uk, CK_BYTE *w, CK_ULONG wl,
                                  CK_ATTRIBUTE *t, CK_ULONG n, CK_BYTE *aad, CK_ULONG al, CK_ULONG *key)
{
    (void)s; (void)m; (void)uk; (void)w; (void)wl; (void)t; (void)n; (void)aad; (void)al;
    *key = NEW_KEY;
    return CKR_OK;
}

/* ---- lists and interfaces ------------------------------------------------------------ */

static CK_RV vendor_ping(CK_ULONG *out) { *out = 42; return CKR_OK; }
struct vendor_list { CK_VERSION version; CK_RV (*ping)(CK_ULONG *); };

static CK_RV C_GetFunctionList_impl(void *pp);
static CK_RV C_GetInterfaceList_impl(CK_INTERFACE *list, CK_ULONG *count);
static CK_RV C_GetInterface_impl(CK_BYTE *name, CK_VERSION *version, CK_INTERFACE **pp, CK_FLAGS flags);

/* size bytes at the end of a fresh page, followed by an inaccessible page. */
static void *guarded(size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    CK_BYTE *base = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        abort();
    mprotect(base + page, (size_t)page, PROT_NONE);
    return base + page - size;
}

static void seal(void *p)
{
    long page = sysconf(_SC_PAGESIZE);
    mprotect((void *)((uintptr_t)p & ~(uintptr_t)(page - 1)), (size_t)page, PROT_READ);
}

#define SET(ix, f) \
    do { if ((ix) < n) l->fn[ix] = (any_fn)(void (*)(void))(f); } while (0)

/* A list of n entries (a 2.40, 3.0 or 3.2 length) claiming this version. */
static void *make_list(CK_BYTE major, CK_BYTE minor, int n)
{
    size_t size = sizeof(CK_VERSION) + 6 + sizeof(any_fn) * (size_t)n;  /* version padded to 8 */
    struct list *l = guarded(size);
    int i;
    l->version.major = major; l->version.minor = minor;
    for (i = 0; i < n; i++)
        l->fn[i] = not_supported;
    SET(IX_C_Initialize, ok_void); SET(IX_C_Finalize, ok_void); SET(IX_C_GetInfo, n > N_3_0 ? get_info_3_2 : n > N_2_40 ? get_info_3_0 : get_info_2_40);
    SET(IX_C_GetFunctionList, C_GetFunctionList_impl); SET(IX_C_GetSlotList, get_slot_list);
    SET(IX_C_GetSlotInfo, get_slot_info); SET(IX_C_GetTokenInfo, get_token_info);
    SET(IX_C_GetMechanismList, get_mechanism_list); SET(IX_C_GetMechanismInfo, get_mechanism_info);
    SET(IX_C_OpenSession, open_session); SET(IX_C_CloseSession, session_only);
    SET(IX_C_CloseAllSessions, session_only); SET(IX_C_GetSessionInfo, get_session_info);
    SET(IX_C_Login, login); SET(IX_C_Logout, session_only);
    SET(IX_C_FindObjectsInit, find_init); SET(IX_C_FindObjects, find);
    SET(IX_C_FindObjectsFinal, session_only); SET(IX_C_GetAttributeValue, get_attribute);
    if (n > N_2_40) {
        SET(IX_C_GetInterfaceList, C_GetInterfaceList_impl); SET(IX_C_GetInterface, C_GetInterface_impl);
        SET(IX_C_LoginUser, login_user); SET(IX_C_SessionCancel, session_cancel);
        SET(IX_C_MessageEncryptInit, encrypt_init); SET(IX_C_EncryptMessage, encrypt_message);
        SET(IX_C_EncryptMessageBegin, encrypt_begin); SET(IX_C_EncryptMessageNext, encrypt_next);
        SET(IX_C_MessageEncryptFinal, message_final);
        SET(IX_C_MessageDecryptInit, decrypt_init); SET(IX_C_DecryptMessage, decrypt_message);
        SET(IX_C_DecryptMessageBegin, encrypt_begin); SET(IX_C_DecryptMessageNext, decrypt_next);
        SET(IX_C_MessageDecryptFinal, message_final);
        SET(IX_C_MessageSignInit, sign_init); SET(IX_C_SignMessage, sign_message);
        SET(IX_C_SignMessageBegin, message_begin); SET(IX_C_SignMessageNext, sign_next);
        SET(IX_C_MessageSignFinal, message_final);
        SET(IX_C_MessageVerifyInit, verify_init); SET(IX_C_VerifyMessage, verify_message);
        SET(IX_C_VerifyMessageBegin, message_begin); SET(IX_C_VerifyMessageNext, verify_next);
        SET(IX_C_MessageVerifyFinal, message_final);
    }
    if (n > N_3_0) {
        SET(IX_C_EncapsulateKey, encapsulate); SET(IX_C_DecapsulateKey, decapsulate);
        SET(IX_C_VerifySignatureInit, verify_signature_init); SET(IX_C_VerifySignature, verify_signature);
        SET(IX_C_VerifySignatureUpdate, verify_signature_update);
        SET(IX_C_VerifySignatureFinal, verify_signature_final);
        SET(IX_C_GetSessionValidationFlags, get_validation_flags);
        SET(IX_C_AsyncComplete, async_complete); SET(IX_C_AsyncGetID, async_get_id);
        SET(IX_C_AsyncJoin, async_join);
        SET(IX_C_WrapKeyAuthenticated, wrap_authenticated);
        SET(IX_C_UnwrapKeyAuthenticated, unwrap_authenticated);
    }
    seal(l);
    return l;
}

static CK_BYTE pkcs11_name[] = "PKCS 11";
static CK_BYTE vendor_name[256] = "Vendor pkcs11spy-test";
static CK_INTERFACE *interfaces;
static CK_ULONG interface_count;
static CK_INTERFACE *unlisted;
static void *function_list;

static const char *env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

static void setup(void)
{
    char offer[256], *item, *save = NULL;
    CK_INTERFACE found[16];

    if (function_list != NULL)
        return;
    strncpy((char *)vendor_name, env("P11TEST_VENDOR_NAME", (const char *)vendor_name), sizeof(vendor_name) - 1);
    if (strcmp(env("P11TEST_FUNCTION_LIST", "2.40"), "short3") == 0)
        function_list = make_list(3, 0, N_2_40);
    else
        function_list = make_list(2, 40, N_2_40);
    strncpy(offer, env("P11TEST_OFFER", "3.2,3.0,2.40,vendor"), sizeof(offer) - 1);
    offer[sizeof(offer) - 1] = '\0';
    for (item = strtok_r(offer, ",", &save); item != NULL && interface_count < 16; item = strtok_r(NULL, ",", &save)) {
        CK_INTERFACE *i = &found[interface_count++];
        i->flags = strstr(item, "+fs") != NULL ? CKF_INTERFACE_FORK_SAFE : 0;
        i->pInterfaceName = pkcs11_name;
        if (strncmp(item, "3.2draft", 8) == 0)  /* a draft 3.2 header: no C_*KeyAuthenticated */
            i->pFunctionList = make_list(3, 2, N_3_2 - 2);
        else if (strncmp(item, "3.2", 3) == 0)
            i->pFunctionList = make_list(3, 2, N_3_2);
        else if (strncmp(item, "3.1", 3) == 0)
            i->pFunctionList = make_list(3, 1, N_3_0);
        else if (strncmp(item, "3.0", 3) == 0)
            i->pFunctionList = make_list(3, 0, N_3_0);
        else if (strncmp(item, "2.40", 4) == 0)
            i->pFunctionList = make_list(2, 40, N_2_40);
        else {
            struct vendor_list *v = guarded(sizeof(*v));
            v->version.major = 1; v->version.minor = 0; v->ping = vendor_ping;
            seal(v);
            i->pInterfaceName = vendor_name;
            i->pFunctionList = v;
        }
    }
    interfaces = guarded(sizeof(CK_INTERFACE) * interface_count);
    memcpy(interfaces, found, sizeof(CK_INTERFACE) * interface_count);
    seal(interfaces);
    unlisted = guarded(sizeof(CK_INTERFACE));
    unlisted->pInterfaceName = pkcs11_name;
    unlisted->pFunctionList = make_list(3, 0, N_3_0);
    unlisted->flags = 0;
    seal(unlisted);
}

static CK_RV C_GetFunctionList_impl(void *pp)
{
    setup();
    *(void **)pp = function_list;
    return CKR_OK;
}

static CK_RV C_GetInterfaceList_impl(CK_INTERFACE *list, CK_ULONG *count)
{
    setup();
    if (strcmp(env("P11TEST_INTERFACELIST", "ok"), "unsupported") == 0)
        return CKR_FUNCTION_NOT_SUPPORTED;
    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (list == NULL) { *count = interface_count; return CKR_OK; }
    if (*count < interface_count) { *count = interface_count; return CKR_BUFFER_TOO_SMALL; }
    memcpy(list, interfaces, sizeof(CK_INTERFACE) * interface_count);
    *count = interface_count;
    return CKR_OK;
}

static CK_RV C_GetInterface_impl(CK_BYTE *name, CK_VERSION *version, CK_INTERFACE **pp, CK_FLAGS flags)
{
    const char *how = env("P11TEST_GETINTERFACE", "ok");
    CK_ULONG i;

    setup();
    if (pp == NULL)
        return CKR_ARGUMENTS_BAD;
    if (strcmp(how, "unsupported") == 0)
        return CKR_FUNCTION_NOT_SUPPORTED;
    if (strcmp(how, "null") == 0) { *pp = NULL; return CKR_OK; }
    if (strcmp(how, "unlisted") == 0) { *pp = unlisted; return CKR_OK; }
    for (i = 0; i < interface_count; i++) {
        const CK_VERSION *v = interfaces[i].pFunctionList;
        if (name == NULL ? interfaces[i].pInterfaceName != pkcs11_name
                         : strcmp((const char *)name, (const char *)interfaces[i].pInterfaceName) != 0)
            continue;
        if (version != NULL && (version->major != v->major || version->minor != v->minor))
            continue;
        if ((flags & interfaces[i].flags) != flags)
            continue;
        *pp = &interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

CK_RV C_GetFunctionList(void *pp) { return C_GetFunctionList_impl(pp); }
CK_RV C_GetInterfaceList(CK_INTERFACE *list, CK_ULONG *count) { return C_GetInterfaceList_impl(list, count); }
CK_RV C_GetInterface(CK_BYTE *name, CK_VERSION *version, CK_INTERFACE **pp, CK_FLAGS flags)
{
    return C_GetInterface_impl(name, version, pp, flags);
}
