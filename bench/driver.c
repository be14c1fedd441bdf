/* A tiny PKCS#11 host for measuring a module's per-call cost.
 *
 *   driver MODULE OP ITERATIONS [PIN] [--no-finalize]
 *
 * dlopens MODULE (RTLD_LOCAL, as real hosts do), takes its function list, opens a
 * session on the first slot with a token and logs in with PIN (default 1234), then runs
 * OP ITERATIONS times after a warm-up of WARMUP runs and prints
 * "OP ITERATIONS NS_PER_ITERATION WARMUP CPU_NS_PER_ITERATION": wall-clock time, and the
 * process's CPU time (user + system, all threads), which a busy machine disturbs less.
 * OP: session_info (C_GetSessionInfo), random32 (C_GenerateRandom of 32 bytes),
 * digest (C_DigestInit + C_Digest SHA-256 of 64 bytes), sign_rsa (C_SignInit + C_Sign,
 * SHA256-RSA-PKCS with a session RSA-2048 key generated first).
 * --no-finalize leaves without C_Finalize (as crashing or careless hosts do).
 *
 * Self-contained on purpose (no PKCS#11 header package): the function list is read by
 * position, in the order of the spec's CK_FUNCTION_LIST. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct { unsigned char major, minor; } CK_VERSION;
typedef struct { CK_ULONG type; void *pValue; CK_ULONG ulValueLen; } CK_ATTRIBUTE;
typedef struct { CK_ULONG mechanism; void *pParameter; CK_ULONG ulParameterLen; } CK_MECHANISM;
typedef struct { CK_ULONG slotID, state, flags, ulDeviceError; } CK_SESSION_INFO;
typedef struct { CK_VERSION version; void *fn[68]; } CK_FUNCTION_LIST;

/* Positions in CK_FUNCTION_LIST (see functions.py). */
enum { F_Initialize = 0, F_Finalize = 1, F_GetSlotList = 4, F_OpenSession = 12,
       F_GetSessionInfo = 15, F_Login = 18, F_DigestInit = 37, F_Digest = 38,
       F_SignInit = 42, F_Sign = 43, F_GenerateKeyPair = 59, F_GenerateRandom = 64 };

#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKU_USER 1UL
#define CKM_RSA_PKCS_KEY_PAIR_GEN 0x0UL
#define CKM_SHA256_RSA_PKCS 0x40UL
#define CKM_SHA256 0x250UL
#define CKA_TOKEN 0x1UL
#define CKA_SIGN 0x108UL
#define CKA_VERIFY 0x10aUL
#define CKA_MODULUS_BITS 0x121UL

static CK_FUNCTION_LIST *f;
static CK_ULONG session;
static CK_ULONG private_key;

typedef CK_RV (*fn_void)(void *);
typedef CK_RV (*fn_slots)(unsigned char, CK_ULONG *, CK_ULONG *);
typedef CK_RV (*fn_open)(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
typedef CK_RV (*fn_info)(CK_ULONG, CK_SESSION_INFO *);
typedef CK_RV (*fn_login)(CK_ULONG, CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*fn_init)(CK_ULONG, CK_MECHANISM *);
typedef CK_RV (*fn_sign_init)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
typedef CK_RV (*fn_crypt)(CK_ULONG, unsigned char *, CK_ULONG, unsigned char *, CK_ULONG *);
typedef CK_RV (*fn_random)(CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*fn_keypair)(CK_ULONG, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_ATTRIBUTE *,
                            CK_ULONG, CK_ULONG *, CK_ULONG *);

static void check(CK_RV rv, const char *what)
{
    if (rv != 0) {
        fprintf(stderr, "driver: %s failed: rv 0x%lx\n", what, rv);
        exit(1);
    }
}

static CK_RV op_session_info(void)
{
    CK_SESSION_INFO info;
    return ((fn_info)f->fn[F_GetSessionInfo])(session, &info);
}

static CK_RV op_random32(void)
{
    unsigned char out[32];
    return ((fn_random)f->fn[F_GenerateRandom])(session, out, sizeof(out));
}

static CK_RV op_digest(void)
{
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    unsigned char data[64] = {0}, out[32];
    CK_ULONG len = sizeof(out);
    CK_RV rv = ((fn_init)f->fn[F_DigestInit])(session, &m);
    if (rv != 0)
        return rv;
    return ((fn_crypt)f->fn[F_Digest])(session, data, sizeof(data), out, &len);
}

static CK_RV op_sign_rsa(void)
{
    CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
    unsigned char data[64] = {0}, out[256];
    CK_ULONG len = sizeof(out);
    CK_RV rv = ((fn_sign_init)f->fn[F_SignInit])(session, &m, private_key);
    if (rv != 0)
        return rv;
    return ((fn_crypt)f->fn[F_Sign])(session, data, sizeof(data), out, &len);
}

static void make_rsa_key(void)
{
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    unsigned char no = 0, yes = 1;
    CK_ULONG bits = 2048, public_key;
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &no, 1}, {CKA_VERIFY, &yes, 1}, {CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &no, 1}, {CKA_SIGN, &yes, 1}};
    check(((fn_keypair)f->fn[F_GenerateKeyPair])(session, &m, pub, 3, priv, 2, &public_key, &private_key),
          "C_GenerateKeyPair");
}

static long long now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    CK_RV (*get_list)(CK_FUNCTION_LIST **);
    CK_RV (*op)(void) = NULL;
    CK_ULONG slots[16], count = 16;
    const char *pin = "1234";
    int finalize = 1;
    long i, iterations, warmup;
    long long t0, t1, c0, c1;
    void *h;

    if (argc < 4) {
        fprintf(stderr, "usage: driver MODULE session_info|random32|digest|sign_rsa ITERATIONS [PIN] [--no-finalize]\n");
        return 2;
    }
    for (i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--no-finalize") == 0)
            finalize = 0;
        else
            pin = argv[i];
    }
    if (strcmp(argv[2], "session_info") == 0) op = op_session_info;
    else if (strcmp(argv[2], "random32") == 0) op = op_random32;
    else if (strcmp(argv[2], "digest") == 0) op = op_digest;
    else if (strcmp(argv[2], "sign_rsa") == 0) op = op_sign_rsa;
    if (op == NULL) {
        fprintf(stderr, "driver: unknown operation %s\n", argv[2]);
        return 2;
    }
    iterations = atol(argv[3]);
    h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "driver: dlopen: %s\n", dlerror());
        return 2;
    }
    *(void **)&get_list = dlsym(h, "C_GetFunctionList");
    if (get_list == NULL) {
        fprintf(stderr, "driver: %s has no C_GetFunctionList\n", argv[1]);
        return 2;
    }
    check(get_list(&f), "C_GetFunctionList");
    check(((fn_void)f->fn[F_Initialize])(NULL), "C_Initialize");
    check(((fn_slots)f->fn[F_GetSlotList])(1, slots, &count), "C_GetSlotList");
    if (count == 0) {
        fprintf(stderr, "driver: no token\n");
        return 1;
    }
    check(((fn_open)f->fn[F_OpenSession])(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session),
          "C_OpenSession");
    check(((fn_login)f->fn[F_Login])(session, CKU_USER, (unsigned char *)pin, strlen(pin)), "C_Login");
    if (op == op_sign_rsa)
        make_rsa_key();
    warmup = iterations / 10 < 100 ? iterations / 10 : 100;
    for (i = 0; i < warmup; i++)
        check(op(), argv[2]);
    c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    t0 = now_ns(CLOCK_MONOTONIC);
    for (i = 0; i < iterations; i++)
        check(op(), argv[2]);
    t1 = now_ns(CLOCK_MONOTONIC);
    c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("%s %ld %.1f %ld %.1f\n", argv[2], iterations, iterations ? (double)(t1 - t0) / iterations : 0.0,
           warmup, iterations ? (double)(c1 - c0) / iterations : 0.0);
    fflush(stdout);
    if (finalize)
        check(((fn_void)f->fn[F_Finalize])(NULL), "C_Finalize");
    return 0;
}
