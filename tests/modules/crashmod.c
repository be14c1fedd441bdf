/* crashmod: a PKCS#11 module of our own that misbehaves on purpose, for the tests of
 * crash visibility and fork.  No real module crashes on demand, so this one does.
 *
 * It implements a few functions (the rest of its list is NULL, which the spy answers
 * with CKR_FUNCTION_NOT_SUPPORTED).  The environment chooses the misbehaviour:
 *   CRASHMOD_IN=C_Login          the function that misbehaves
 *   CRASHMOD_DO=segv|abort|hang|sleep:MS|fork
 * (fork: the call forks and returns CKR_OK in both processes, as a module that starts a
 * helper process in the middle of a call would.)
 * Every other call returns CKR_OK with plausible outputs.
 *
 * Built by the tests: cc -shared -fPIC -I src/pkcs11spy -o crashmod.so crashmod.c
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ck_types.h"

#define CKR_OK 0x0UL
#define CKR_ARGUMENTS_BAD 0x7UL
#define LIST_2_40_LENGTH 68

/* The 2.40 CK_FUNCTION_LIST: a version, then 68 function pointers in the spec's order.
 * The indices below are the rows of functions.py (a test checks they agree). */
enum {
    IX_C_Initialize = 0,
    IX_C_Finalize = 1,
    IX_C_GetInfo = 2,
    IX_C_GetFunctionList = 3,
    IX_C_GetSlotList = 4,
    IX_C_GetSlotInfo = 5,
    IX_C_OpenSession = 12,
    IX_C_CloseSession = 13,
    IX_C_Login = 18,
    IX_C_Logout = 19
};

struct function_list {
    CK_VERSION version;
    void *functions[LIST_2_40_LENGTH];
};

static void misbehave_if_chosen(const char *function)
{
    const char *in = getenv("CRASHMOD_IN");
    const char *what = getenv("CRASHMOD_DO");

    if (in == NULL || what == NULL || strcmp(in, function) != 0)
        return;
    if (strcmp(what, "segv") == 0) {
        volatile int *nowhere = NULL;
        *nowhere = 1;
    } else if (strcmp(what, "abort") == 0) {
        abort();
    } else if (strcmp(what, "hang") == 0) {
        for (;;)
            pause();
    } else if (strncmp(what, "sleep:", 6) == 0) {
        long ms = atol(what + 6);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else if (strcmp(what, "fork") == 0) {
        (void)fork();
    }
}

static CK_RV crash_Initialize(CK_VOID_PTR args)
{
    (void)args;
    misbehave_if_chosen("C_Initialize");
    return CKR_OK;
}

static CK_RV crash_Finalize(CK_VOID_PTR reserved)
{
    (void)reserved;
    misbehave_if_chosen("C_Finalize");
    return CKR_OK;
}

static CK_RV crash_GetInfo(CK_INFO_PTR info)
{
    misbehave_if_chosen("C_GetInfo");
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, ' ', sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    info->flags = 0;
    info->libraryVersion.major = 1;
    info->libraryVersion.minor = 0;
    memcpy(info->manufacturerID, "pkcs11spy tests", 15);
    memcpy(info->libraryDescription, "crashmod", 8);
    return CKR_OK;
}

static CK_RV crash_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    (void)present;
    misbehave_if_chosen("C_GetSlotList");
    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (list != NULL && *count >= 1)
        list[0] = 1;
    *count = 1;
    return CKR_OK;
}

static CK_RV crash_GetSlotInfo(CK_SLOT_ID slot, void *info)
{
    (void)slot;
    (void)info;
    misbehave_if_chosen("C_GetSlotInfo");
    return CKR_ARGUMENTS_BAD;  /* never reached usefully: the tests only time this call */
}

static CK_RV crash_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, void *notify,
                               CK_SESSION_HANDLE_PTR session)
{
    (void)slot;
    (void)flags;
    (void)app;
    (void)notify;
    misbehave_if_chosen("C_OpenSession");
    if (session == NULL)
        return CKR_ARGUMENTS_BAD;
    *session = 7;
    return CKR_OK;
}

static CK_RV crash_CloseSession(CK_SESSION_HANDLE session)
{
    (void)session;
    misbehave_if_chosen("C_CloseSession");
    return CKR_OK;
}

static CK_RV crash_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    (void)session;
    (void)user;
    (void)pin;
    (void)len;
    misbehave_if_chosen("C_Login");
    return CKR_OK;
}

static CK_RV crash_Logout(CK_SESSION_HANDLE session)
{
    (void)session;
    misbehave_if_chosen("C_Logout");
    return CKR_OK;
}

CK_RV C_GetFunctionList(struct function_list **list);

static struct function_list crash_list;

CK_RV C_GetFunctionList(struct function_list **list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    crash_list.version.major = 2;
    crash_list.version.minor = 40;
    crash_list.functions[IX_C_Initialize] = (void *)crash_Initialize;
    crash_list.functions[IX_C_Finalize] = (void *)crash_Finalize;
    crash_list.functions[IX_C_GetInfo] = (void *)crash_GetInfo;
    crash_list.functions[IX_C_GetFunctionList] = (void *)C_GetFunctionList;
    crash_list.functions[IX_C_GetSlotList] = (void *)crash_GetSlotList;
    crash_list.functions[IX_C_GetSlotInfo] = (void *)crash_GetSlotInfo;
    crash_list.functions[IX_C_OpenSession] = (void *)crash_OpenSession;
    crash_list.functions[IX_C_CloseSession] = (void *)crash_CloseSession;
    crash_list.functions[IX_C_Login] = (void *)crash_Login;
    crash_list.functions[IX_C_Logout] = (void *)crash_Logout;
    *list = &crash_list;
    return CKR_OK;
}
