/* A C host for the robustness tests: loads a module (the spy or a real one) with dlopen
 * RTLD_LOCAL and drives it in one of several patterns.  Prints what it saw, one line
 * per fact, flushed, so a test still reads everything up to a crash.
 *
 *   host session MODULE PIN          a login session, "NAME rv" per call; with
 *                                    HOST_UNLINK_BEFORE_LOGIN=PATH set, PATH is removed
 *                                    just before C_Login
 *   host guard MODULE                C_Login (before C_Initialize) with its PIN in a page
 *                                    of this live stack frame made PROT_NONE
 *   host threads MODULE THREADS N    THREADS threads x N calls each, "thread TID N"
 *   host fork MODULE BUSY FORKS      a thread loops on BUSY (C_GetInfo | C_GetSlotInfo)
 *                                    while the main thread forks; children call C_GetInfo
 *   host reload MODULE               dlopen, use, dlclose, twice
 *   host loop MODULE N               N calls; "rss_kb_start X", "rss_kb_end Y"
 *
 * Built by the tests: cc -Wall -Wextra -I src/pkcs11spy -o host host.c -ldl -lpthread
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ck_types.h"

#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKF_OS_LOCKING_OK 0x2UL
#define CKU_USER 1UL

typedef CK_RV (*fn_init)(CK_VOID_PTR);
typedef CK_RV (*fn_info)(CK_INFO_PTR);
typedef CK_RV (*fn_slots)(CK_BBOOL, CK_SLOT_ID_PTR, CK_ULONG_PTR);
typedef CK_RV (*fn_slot_info)(CK_SLOT_ID, void *);
typedef CK_RV (*fn_open)(CK_SLOT_ID, CK_FLAGS, CK_VOID_PTR, void *, CK_SESSION_HANDLE_PTR);
typedef CK_RV (*fn_session)(CK_SESSION_HANDLE);
typedef CK_RV (*fn_login)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG);
typedef CK_RV (*fn_session_info)(CK_SESSION_HANDLE, CK_SESSION_INFO_PTR);
typedef CK_RV (*fn_random)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*fn_list)(void **);

struct module {
    void *handle;
    fn_init Initialize, Finalize;
    fn_info GetInfo;
    fn_slots GetSlotList;
    fn_slot_info GetSlotInfo;
    fn_open OpenSession;
    fn_session CloseSession, Logout;
    fn_login Login;
    fn_session_info GetSessionInfo;
    fn_random GenerateRandom;
    fn_list GetFunctionList;
};

static void *need(void *handle, const char *name)
{
    void *sym = dlsym(handle, name);
    if (sym == NULL) {
        fprintf(stderr, "host: %s missing\n", name);
        exit(2);
    }
    return sym;
}

static void load(struct module *m, const char *path)
{
    m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->handle == NULL) {
        fprintf(stderr, "host: dlopen: %s\n", dlerror());
        exit(2);
    }
    *(void **)&m->Initialize = need(m->handle, "C_Initialize");
    *(void **)&m->Finalize = need(m->handle, "C_Finalize");
    *(void **)&m->GetInfo = need(m->handle, "C_GetInfo");
    *(void **)&m->GetSlotList = need(m->handle, "C_GetSlotList");
    *(void **)&m->GetSlotInfo = need(m->handle, "C_GetSlotInfo");
    *(void **)&m->OpenSession = need(m->handle, "C_OpenSession");
    *(void **)&m->CloseSession = need(m->handle, "C_CloseSession");
    *(void **)&m->Logout = need(m->handle, "C_Logout");
    *(void **)&m->Login = need(m->handle, "C_Login");
    *(void **)&m->GetSessionInfo = need(m->handle, "C_GetSessionInfo");
    *(void **)&m->GenerateRandom = need(m->handle, "C_GenerateRandom");
    *(void **)&m->GetFunctionList = need(m->handle, "C_GetFunctionList");
}

static void said(const char *name, CK_RV rv)
{
    printf("%s %lu\n", name, rv);
    fflush(stdout);
}

static struct module mod;
static CK_SLOT_ID first_slot;

static CK_RV init_threaded(void)
{
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    return mod.Initialize(&args);
}

static CK_SLOT_ID find_slot(void)
{
    CK_SLOT_ID slots[16];
    CK_ULONG count = 16;
    CK_RV rv = mod.GetSlotList(1, slots, &count);
    if (rv != 0 || count == 0) {
        fprintf(stderr, "host: no slot (rv %lu)\n", rv);
        exit(2);
    }
    return slots[0];
}

/* ---- session ------------------------------------------------------------------------ */

static int run_session(const char *pin)
{
    CK_INFO info;
    CK_SLOT_ID slots[4];
    CK_ULONG count = 4;
    CK_SESSION_HANDLE h = 0;

    said("C_Initialize", mod.Initialize(NULL));
    said("C_GetInfo", mod.GetInfo(&info));
    said("C_GetSlotList", mod.GetSlotList(1, slots, &count));
    said("C_OpenSession", mod.OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    if (getenv("HOST_UNLINK_BEFORE_LOGIN") != NULL && unlink(getenv("HOST_UNLINK_BEFORE_LOGIN")) == 0)
        said("unlinked", 0);
    said("C_Login", mod.Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin)));
    said("C_Logout", mod.Logout(h));
    said("C_CloseSession", mod.CloseSession(h));
    said("C_Finalize", mod.Finalize(NULL));
    return 0;
}

/* ---- guard ------------------------------------------------------------------------- */

/* An argument in the caller's own live stack frame that cannot be read: the module,
 * not initialised, answers without reading it; the spy must not fault either. */
static int run_guard(void)
{
    unsigned char frame[65536];
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *locked = (unsigned char *)(((uintptr_t)frame + (uintptr_t)page - 1) & ~((uintptr_t)page - 1));
    CK_RV rv;

    memset(frame, 'x', sizeof(frame));
    if (page <= 0 || page > 16384 || mprotect(locked, (size_t)page, PROT_NONE) != 0) {
        perror("mprotect");
        return 1;
    }
    rv = mod.Login(1, CKU_USER, (CK_UTF8CHAR_PTR)locked, 4);
    mprotect(locked, (size_t)page, PROT_READ | PROT_WRITE);
    said("C_Login", rv);
    return 0;
}

/* ---- threads ------------------------------------------------------------------------ */

static long calls_per_thread;

static void *worker(void *unused)
{
    CK_SESSION_HANDLE h = 0;
    CK_SESSION_INFO si;
    CK_INFO info;
    CK_BYTE buf[16];
    long done = 0, failed = 0;
    (void)unused;

    if (mod.OpenSession(first_slot, CKF_SERIAL_SESSION, NULL, NULL, &h) != 0)
        failed++;
    done++;
    while (done < calls_per_thread - 1) {
        CK_RV rv;
        switch (done % 3) {
        case 0: rv = mod.GetSessionInfo(h, &si); break;
        case 1: rv = mod.GenerateRandom(h, buf, sizeof(buf)); break;
        default: rv = mod.GetInfo(&info); break;
        }
        if (rv != 0)
            failed++;
        done++;
    }
    if (mod.CloseSession(h) != 0)
        failed++;
    done++;
    printf("thread %lx %ld %ld\n", (unsigned long)pthread_self(), done, failed);
    fflush(stdout);
    return NULL;
}

static int run_threads(int threads, long calls)
{
    pthread_t t[256];
    int i;

    if (threads > 256)
        threads = 256;
    calls_per_thread = calls;
    said("C_Initialize", init_threaded());
    first_slot = find_slot();
    for (i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    said("C_Finalize", mod.Finalize(NULL));
    return 0;
}

/* ---- fork --------------------------------------------------------------------------- */

static volatile int busy_stop;
static const char *busy_function;

static void *busy(void *unused)
{
    CK_INFO info;
    unsigned char slot_info[256];
    (void)unused;
    while (!busy_stop) {
        if (strcmp(busy_function, "C_GetSlotInfo") == 0)
            mod.GetSlotInfo(first_slot, slot_info);
        else
            mod.GetInfo(&info);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int run_fork(const char *function, int forks)
{
    pthread_t t;
    int i, hung = 0;
    /* HOST_FORK_PAUSE_MS: the pause before each fork (37 ms lets the busy thread get
     * well inside its calls; 0 makes many forks quickly, for races on short locks). */
    const char *pause_env = getenv("HOST_FORK_PAUSE_MS");
    int pause = pause_env != NULL ? atoi(pause_env) : 37;

    said("C_Initialize", init_threaded());
    first_slot = find_slot();
    busy_function = function;
    pthread_create(&t, NULL, busy, NULL);
    for (i = 0; i < forks; i++) {
        pid_t pid;
        int status = 0, waited = 0;
        if (pause > 0)
            sleep_ms(pause);
        pid = fork();
        if (pid == 0) {
            CK_INFO info;
            CK_RV rv = mod.GetInfo(&info);
            printf("child %d C_GetInfo %lu\n", (int)getpid(), rv);
            fflush(stdout);
            _exit(0);
        }
        /* A hung child is killed after 10 s and reported. */
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (++waited > 10000) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                printf("hung %d\n", (int)pid);
                fflush(stdout);
                hung++;
                break;
            }
            sleep_ms(1);
        }
    }
    busy_stop = 1;
    pthread_join(t, NULL);
    printf("forks %d hung %d\n", forks, hung);
    return hung ? 1 : 0;
}

/* ---- reload ------------------------------------------------------------------------- */

static int run_reload(const char *path)
{
    int round;
    for (round = 0; round < 2; round++) {
        CK_INFO info;
        void *list = NULL;
        load(&mod, path);
        said("C_GetFunctionList", mod.GetFunctionList(&list));
        said("C_Initialize", mod.Initialize(NULL));
        said("C_GetInfo", mod.GetInfo(&info));
        said("C_Finalize", mod.Finalize(NULL));
        dlclose(mod.handle);
    }
    return 0;
}

/* ---- loop (memory growth) ----------------------------------------------------------- */

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int run_loop(long n)
{
    CK_SESSION_HANDLE h = 0;
    CK_SESSION_INFO si;
    CK_INFO info;
    CK_BYTE buf[16];
    long i, warmup = n / 50 < 20000 ? n / 50 : 20000;
    long failed = 0;

    said("C_Initialize", init_threaded());
    first_slot = find_slot();
    said("C_OpenSession", mod.OpenSession(first_slot, CKF_SERIAL_SESSION, NULL, NULL, &h));
    for (i = 0; i < n; i++) {
        CK_RV rv;
        if (i == warmup) {
            printf("rss_kb_start %ld\n", rss_kb());
            fflush(stdout);
        }
        switch (i % 3) {
        case 0: rv = mod.GetSessionInfo(h, &si); break;
        case 1: rv = mod.GenerateRandom(h, buf, sizeof(buf)); break;
        default: rv = mod.GetInfo(&info); break;
        }
        if (rv != 0)
            failed++;
    }
    printf("rss_kb_end %ld\ncalls %ld failed %ld\n", rss_kb(), n, failed);
    said("C_Finalize", mod.Finalize(NULL));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: host MODE MODULE ...\n");
        return 2;
    }
    if (strcmp(argv[1], "reload") == 0)
        return run_reload(argv[2]);
    load(&mod, argv[2]);
    if (strcmp(argv[1], "session") == 0 && argc == 4)
        return run_session(argv[3]);
    if (strcmp(argv[1], "guard") == 0 && argc == 3)
        return run_guard();
    if (strcmp(argv[1], "threads") == 0 && argc == 5)
        return run_threads(atoi(argv[3]), atol(argv[4]));
    if (strcmp(argv[1], "fork") == 0 && argc == 5)
        return run_fork(argv[3], atoi(argv[4]));
    if (strcmp(argv[1], "loop") == 0 && argc == 4)
        return run_loop(atol(argv[3]));
    fprintf(stderr, "host: bad arguments\n");
    return 2;
}
