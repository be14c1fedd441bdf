/* A C host for the interface tests: negotiates interfaces with a module (the spy, or a
 * module directly) and drives every 3.x function through the list it gets, printing
 * one checkable line per step.  Commands (argv, in order):
 *   list                      C_GetInterfaceList: "iface NAME MAJ.MIN flags=F"
 *   get NAME|- MAJ.MIN|- F    C_GetInterface: "get rv=R" then "-> NAME MAJ.MIN flags=F"
 *                             or "-> NULL"
 *   fl                        C_GetFunctionList: "fl rv=R MAJ.MIN"
 *   run MAJ.MIN               every 3.x function (3.0 ones, and 3.2 ones for a 3.2 list)
 *                             through the "PKCS 11" interface of that version
 *   vendor                    call the test module's vendor interface: "ping rv=R value"
 *   init, fini                C_Initialize(NULL), C_Finalize(NULL) through C_GetFunctionList's list
 *   info MAJ.MIN|fl           C_GetInfo through that interface's list (or C_GetFunctionList's):
 *                             "info rv=R cryptoki MAJ.MIN"
 * Built by the tests with the p11_index.h of tests/modules/gen_index.py. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_index.h"

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef unsigned char CK_BYTE;
typedef struct { CK_BYTE major, minor; } CK_VERSION;
typedef struct { CK_BYTE *pInterfaceName; void *pFunctionList; CK_ULONG flags; } CK_INTERFACE;
typedef struct { CK_ULONG mechanism; void *pParameter; CK_ULONG ulParameterLen; } CK_MECHANISM;
typedef struct { CK_ULONG type; void *pValue; CK_ULONG ulValueLen; } CK_ATTRIBUTE;
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

typedef void (*any_fn)(void);
struct list { CK_VERSION version; any_fn fn[N_3_2]; };

static void *module;

static void *sym(const char *name)
{
    void *p = dlsym(module, name);
    if (p == NULL) {
        printf("%s missing\n", name);
        exit(3);
    }
    return p;
}

static void hex(const char *label, const CK_BYTE *p, CK_ULONG n)
{
    CK_ULONG i;
    printf("%s=", label);
    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static void show(const CK_INTERFACE *i)
{
    const CK_VERSION *v = i->pFunctionList;
    printf("-> %s %d.%d flags=%lu\n", (const char *)i->pInterfaceName, v->major, v->minor, i->flags);
}

static void do_list(void)
{
    CK_RV (*f)(CK_INTERFACE *, CK_ULONG *) = (CK_RV (*)(CK_INTERFACE *, CK_ULONG *))sym("C_GetInterfaceList");
    CK_ULONG n = 0, i;
    CK_INTERFACE *list;
    CK_RV rv = f(NULL, &n);
    printf("list rv=%lu count=%lu\n", rv, n);
    if (rv != 0)
        return;
    list = calloc(n, sizeof(*list));
    rv = f(list, &n);
    for (i = 0; rv == 0 && i < n; i++) {
        const CK_VERSION *v = list[i].pFunctionList;
        printf("iface %s %d.%d flags=%lu\n", (const char *)list[i].pInterfaceName, v->major, v->minor,
               list[i].flags);
    }
    free(list);
}

static CK_RV get(const char *name, const char *version, CK_ULONG flags, CK_INTERFACE **out)
{
    CK_RV (*f)(CK_BYTE *, CK_VERSION *, CK_INTERFACE **, CK_ULONG) =
        (CK_RV (*)(CK_BYTE *, CK_VERSION *, CK_INTERFACE **, CK_ULONG))sym("C_GetInterface");
    CK_VERSION v;
    CK_INTERFACE *i = (CK_INTERFACE *)0x1;  /* must be overwritten on CKR_OK */
    CK_RV rv;
    int major = 0, minor = 0;

    if (strcmp(version, "-") != 0) {
        sscanf(version, "%d.%d", &major, &minor);
        v.major = (CK_BYTE)major; v.minor = (CK_BYTE)minor;
    }
    rv = f(strcmp(name, "-") == 0 ? NULL : (CK_BYTE *)name, strcmp(version, "-") == 0 ? NULL : &v, &i, flags);
    printf("get rv=%lu\n", rv);
    if (rv == 0) {
        if (i == NULL)
            printf("-> NULL\n");
        else
            show(i);
    }
    *out = rv == 0 ? i : NULL;
    return rv;
}

#define CALL(type, ix, ...) ((type)(void (*)(void))l->fn[ix])(__VA_ARGS__)
typedef CK_RV (*f_v)(void *);
typedef CK_RV (*f_s)(CK_ULONG);
typedef CK_RV (*f_sf)(CK_ULONG, CK_ULONG);
typedef CK_RV (*f_open)(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
typedef CK_RV (*f_loginuser)(CK_ULONG, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_init)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
typedef CK_RV (*f_crypt_msg)(CK_ULONG, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*f_begin_aad)(CK_ULONG, void *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_next)(CK_ULONG, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *, CK_ULONG);
typedef CK_RV (*f_sign_msg)(CK_ULONG, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*f_begin)(CK_ULONG, void *, CK_ULONG);
typedef CK_RV (*f_verify_msg)(CK_ULONG, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_encap)(CK_ULONG, CK_MECHANISM *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG *, CK_ULONG *);
typedef CK_RV (*f_decap)(CK_ULONG, CK_MECHANISM *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_ULONG *);
typedef CK_RV (*f_vsinit)(CK_ULONG, CK_MECHANISM *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_data)(CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_valflags)(CK_ULONG, CK_ULONG, CK_ULONG *);
typedef CK_RV (*f_acomplete)(CK_ULONG, CK_BYTE *, CK_ASYNC_DATA *);
typedef CK_RV (*f_aid)(CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*f_ajoin)(CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*f_wrapa)(CK_ULONG, CK_MECHANISM *, CK_ULONG, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*f_unwrapa)(CK_ULONG, CK_MECHANISM *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_ULONG *);

static CK_RV step(const char *name, CK_RV rv)
{
    printf("%s %lu\n", name, rv);
    return rv;
}

static void run(const char *version)
{
    CK_INTERFACE *i;
    struct list *l;
    CK_ULONG s = 0, len, key = 0, flags = 0, id = 0;
    CK_RV rv;
    CK_BYTE out[64], iv[12], tag[16], sig[16];
    CK_MECHANISM gcm = {0x1087, NULL, 0}, ccm = {0x1088, NULL, 0}, chacha = {0x4021, NULL, 0};
    CK_MECHANISM hmac = {0x251, NULL, 0}, kem = {0x17, NULL, 0};
    CK_GCM_MESSAGE_PARAMS gp;
    CK_CCM_MESSAGE_PARAMS cp;
    CK_CHACHA_MSG_PARAMS xp;
    CK_ASYNC_DATA async;
    CK_ULONG key_type = 0x1f;
    CK_ATTRIBUTE tmpl[1] = {{0x100, &key_type, sizeof(key_type)}};
    CK_BYTE good[8] = {0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a};

    if (get("PKCS 11", version, 0, &i) != 0 || i == NULL)
        return;
    l = i->pFunctionList;
    rv = step("C_Initialize", CALL(f_v, IX_C_Initialize, NULL));
    rv = step("C_OpenSession", CALL(f_open, IX_C_OpenSession, 1, 6, NULL, NULL, &s));
    rv = step("C_LoginUser", CALL(f_loginuser, IX_C_LoginUser, s, 1, (CK_BYTE *)"1234", 4, (CK_BYTE *)"alice", 5));
    rv = step("C_SessionCancel", CALL(f_sf, IX_C_SessionCancel, s, 0x2 /* CKF_ENCRYPT */));

    /* GCM with a generated IV: the module fills bytes 4.. with a0 a1 ...; tag all 7a. */
    memset(iv, 0x11, sizeof(iv));
    memset(tag, 0, sizeof(tag));
    gp = (CK_GCM_MESSAGE_PARAMS){iv, 12, 32, 3 /* CKG_GENERATE_RANDOM */, tag, 128};
    rv = step("C_MessageEncryptInit", CALL(f_init, IX_C_MessageEncryptInit, s, &gcm, 0x1));
    len = sizeof(out);
    rv = step("C_EncryptMessage", CALL(f_crypt_msg, IX_C_EncryptMessage, s, &gp, sizeof(gp),
                                          (CK_BYTE *)"aad", 3, (CK_BYTE *)"hello", 5, out, &len));
    if (rv == 0) {
        hex("iv", iv, 12); hex("tag", tag, 16); hex("ct", out, len);
    }
    rv = step("C_EncryptMessageBegin", CALL(f_begin_aad, IX_C_EncryptMessageBegin, s, &gp, sizeof(gp), (CK_BYTE *)"aad", 3));
    len = sizeof(out);
    rv = step("C_EncryptMessageNext", CALL(f_next, IX_C_EncryptMessageNext, s, &gp, sizeof(gp),
                                              (CK_BYTE *)"part", 4, out, &len, 0x1 /* CKF_END_OF_MESSAGE */));
    rv = step("C_MessageEncryptFinal", CALL(f_s, IX_C_MessageEncryptFinal, s));

    /* CCM decrypt with the right MAC, then ChaCha20 decrypt with a wrong tag. */
    memset(tag, 0x7a, sizeof(tag));
    cp = (CK_CCM_MESSAGE_PARAMS){5, iv, 12, 0, 0 /* CKG_NO_GENERATE */, tag, 16};
    rv = step("C_MessageDecryptInit", CALL(f_init, IX_C_MessageDecryptInit, s, &ccm, 0x1));
    len = sizeof(out);
    rv = step("C_DecryptMessage", CALL(f_crypt_msg, IX_C_DecryptMessage, s, &cp, sizeof(cp),
                                          (CK_BYTE *)"aad", 3, (CK_BYTE *)"\x32\x3f\x36\x36\x35", 5, out, &len));
    if (rv == 0)
        hex("pt", out, len);
    rv = step("C_DecryptMessageBegin", CALL(f_begin_aad, IX_C_DecryptMessageBegin, s, &cp, sizeof(cp), (CK_BYTE *)"aad", 3));
    len = sizeof(out);
    rv = step("C_DecryptMessageNext", CALL(f_next, IX_C_DecryptMessageNext, s, &cp, sizeof(cp),
                                              (CK_BYTE *)"\x2a", 1, out, &len, 0x1));
    rv = step("C_MessageDecryptFinal", CALL(f_s, IX_C_MessageDecryptFinal, s));
    tag[0] = 0;
    xp = (CK_CHACHA_MSG_PARAMS){iv, 12, tag};
    rv = step("C_MessageDecryptInit", CALL(f_init, IX_C_MessageDecryptInit, s, &chacha, 0x1));
    len = sizeof(out);
    rv = step("C_DecryptMessage", CALL(f_crypt_msg, IX_C_DecryptMessage, s, &xp, sizeof(xp),
                                          NULL, 0, (CK_BYTE *)"\x2a", 1, out, &len));
    rv = step("C_MessageDecryptFinal", CALL(f_s, IX_C_MessageDecryptFinal, s));

    rv = step("C_MessageSignInit", CALL(f_init, IX_C_MessageSignInit, s, &hmac, 0x2));
    len = sizeof(sig);
    rv = step("C_SignMessage", CALL(f_sign_msg, IX_C_SignMessage, s, NULL, 0, (CK_BYTE *)"data", 4, sig, &len));
    if (rv == 0)
        hex("sig", sig, len);
    rv = step("C_SignMessageBegin", CALL(f_begin, IX_C_SignMessageBegin, s, NULL, 0));
    len = sizeof(sig);
    rv = step("C_SignMessageNext", CALL(f_sign_msg, IX_C_SignMessageNext, s, NULL, 0, (CK_BYTE *)"data", 4, sig, &len));
    rv = step("C_MessageSignFinal", CALL(f_s, IX_C_MessageSignFinal, s));
    rv = step("C_MessageVerifyInit", CALL(f_init, IX_C_MessageVerifyInit, s, &hmac, 0x2));
    rv = step("C_VerifyMessage", CALL(f_verify_msg, IX_C_VerifyMessage, s, NULL, 0, (CK_BYTE *)"data", 4, good, 8));
    rv = step("C_VerifyMessageBegin", CALL(f_begin, IX_C_VerifyMessageBegin, s, NULL, 0));
    rv = step("C_VerifyMessageNext", CALL(f_verify_msg, IX_C_VerifyMessageNext, s, NULL, 0, (CK_BYTE *)"data", 4, sig, 3));
    rv = step("C_MessageVerifyFinal", CALL(f_s, IX_C_MessageVerifyFinal, s));

    if (l->version.major == 3 && l->version.minor >= 2) {
        len = 0;
        rv = step("C_EncapsulateKey", CALL(f_encap, IX_C_EncapsulateKey, s, &kem, 0x20, tmpl, 1, NULL, &len, &key));
        rv = step("C_EncapsulateKey", CALL(f_encap, IX_C_EncapsulateKey, s, &kem, 0x20, tmpl, 1, out, &len, &key));
        if (rv == 0)
        hex("kem_ct", out, len);
        rv = step("C_DecapsulateKey", CALL(f_decap, IX_C_DecapsulateKey, s, &kem, 0x21, tmpl, 1, out, len, &key));
        if (rv == 0)
            printf("key=%lu\n", key);
        rv = step("C_VerifySignatureInit", CALL(f_vsinit, IX_C_VerifySignatureInit, s, &hmac, 0x1, good, 8));
        rv = step("C_VerifySignature", CALL(f_data, IX_C_VerifySignature, s, (CK_BYTE *)"data", 4));
        rv = step("C_VerifySignatureInit", CALL(f_vsinit, IX_C_VerifySignatureInit, s, &hmac, 0x1, good, 7));
        rv = step("C_VerifySignatureUpdate", CALL(f_data, IX_C_VerifySignatureUpdate, s, (CK_BYTE *)"da", 2));
        rv = step("C_VerifySignatureFinal", CALL(f_s, IX_C_VerifySignatureFinal, s));
        rv = step("C_GetSessionValidationFlags", CALL(f_valflags, IX_C_GetSessionValidationFlags, s, 1 /* CKS_LAST_VALIDATION_OK */, &flags));
        if (rv == 0)
            printf("flags=%lu\n", flags);
        rv = step("C_AsyncGetID", CALL(f_aid, IX_C_AsyncGetID, s, (CK_BYTE *)"C_GenerateKey", &id));
        rv = step("C_AsyncJoin", CALL(f_ajoin, IX_C_AsyncJoin, s, (CK_BYTE *)"C_GenerateKey", id, NULL, 0));
        memset(&async, 0, sizeof(async));
        rv = step("C_AsyncComplete", CALL(f_acomplete, IX_C_AsyncComplete, s, (CK_BYTE *)"C_GenerateKey", &async));
        len = sizeof(out);
        rv = step("C_WrapKeyAuthenticated", CALL(f_wrapa, IX_C_WrapKeyAuthenticated, s, &gcm, 0x1, 0x101,
                                                    (CK_BYTE *)"aad", 3, out, &len));
        rv = step("C_UnwrapKeyAuthenticated", CALL(f_unwrapa, IX_C_UnwrapKeyAuthenticated, s, &gcm, 0x1, out, len,
                                                      tmpl, 1, (CK_BYTE *)"aad", 3, &key));
    }
    rv = step("C_Finalize", CALL(f_v, IX_C_Finalize, NULL));
}

static void info(const char *version)
{
    CK_INTERFACE *i = NULL;
    struct list *l;
    CK_BYTE buffer[88];
    CK_RV rv;

    if (strcmp(version, "fl") == 0) {
        CK_RV (*f)(void **) = (CK_RV (*)(void **))sym("C_GetFunctionList");
        f((void **)&l);
    } else {
        if (get("PKCS 11", version, 0, &i) != 0 || i == NULL)
            return;
        l = i->pFunctionList;
    }
    rv = CALL(f_v, IX_C_GetInfo, buffer);
    if (rv == 0)
        printf("info rv=%lu cryptoki %d.%d\n", rv, buffer[0], buffer[1]);
    else
        printf("info rv=%lu\n", rv);
}

static void vendor(void)
{
    CK_INTERFACE *i;
    CK_ULONG value = 0;
    CK_RV rv;
    struct { CK_VERSION version; CK_RV (*ping)(CK_ULONG *); } *v;
    if (get("Vendor pkcs11spy-test", "-", 0, &i) != 0 || i == NULL)
        return;
    v = i->pFunctionList;
    rv = v->ping(&value);
    printf("ping rv=%lu %lu\n", rv, value);
}

int main(int argc, char **argv)
{
    int a;
    if (argc < 2) {
        fprintf(stderr, "usage: iface_host MODULE COMMAND...\n");
        return 2;
    }
    module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (a = 2; a < argc; a++) {
        if (strcmp(argv[a], "list") == 0) {
            do_list();
        } else if (strcmp(argv[a], "get") == 0 && a + 3 < argc) {
            CK_INTERFACE *i;
            get(argv[a + 1], argv[a + 2], strtoul(argv[a + 3], NULL, 0), &i);
            a += 3;
        } else if (strcmp(argv[a], "fl") == 0) {
            CK_RV (*f)(void **) = (CK_RV (*)(void **))sym("C_GetFunctionList");
            CK_VERSION *v = NULL;
            CK_RV rv = f((void **)&v);
            printf("fl rv=%lu %d.%d\n", rv, v ? v->major : 0, v ? v->minor : 0);
        } else if (strcmp(argv[a], "run") == 0 && a + 1 < argc) {
            run(argv[++a]);
        } else if (strcmp(argv[a], "init") == 0 || strcmp(argv[a], "fini") == 0) {
            CK_RV (*f)(void **) = (CK_RV (*)(void **))sym("C_GetFunctionList");
            struct list *l = NULL;
            int init = strcmp(argv[a], "init") == 0;
            f((void **)&l);
            printf("%s rv=%lu\n", argv[a], CALL(f_v, init ? IX_C_Initialize : IX_C_Finalize, NULL));
        } else if (strcmp(argv[a], "info") == 0 && a + 1 < argc) {
            info(argv[++a]);
        } else if (strcmp(argv[a], "vendor") == 0) {
            vendor();
        } else {
            fprintf(stderr, "unknown command %s\n", argv[a]);
            return 2;
        }
    }
    return 0;
}
