/* A threaded C host: the main thread opens a session and logs in, then N threads each open
 * a session, log in again with the same PIN (login is per token, so they get
 * CKR_USER_ALREADY_LOGGED_IN), call C_GenerateRandom M times and close their session.  Used to make real interleaved traces.
 * usage: threads MODULE PIN THREADS CALLS; prints "calls <total>" and "login_rv <rv>" lines. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_RV (*init_fn)(void *);
typedef CK_RV (*slots_fn)(unsigned char, CK_ULONG *, CK_ULONG *);
typedef CK_RV (*open_fn)(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
typedef CK_RV (*login_fn)(CK_ULONG, CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*random_fn)(CK_ULONG, unsigned char *, CK_ULONG);
typedef CK_RV (*close_fn)(CK_ULONG);

/* CK_C_INITIALIZE_ARGS: threads call the module at once, so the module must lock
 * (C_Initialize(NULL) promises it they will not: SoftHSM2 then crashes or hangs now and
 * then, with or without a spy). */
typedef struct {
    void *create_mutex, *destroy_mutex, *lock_mutex, *unlock_mutex;
    CK_ULONG flags;
    void *reserved;
} init_args;

#define CKF_OS_LOCKING_OK 2UL
#define CKF_RW_SESSION 2UL
#define CKF_SERIAL_SESSION 4UL
#define CKU_USER 1UL

static open_fn p_open;
static login_fn p_login;
static random_fn p_random;
static close_fn p_close;
static CK_ULONG slot;
static const char *pin;
static int calls_per_thread;
static CK_RV login_rv[64];

static void *worker(void *arg)
{
    int index = (int)(long)arg;
    CK_ULONG session = 0;
    unsigned char buf[16];
    int i;

    if (p_open(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session) != 0)
        return NULL;
    login_rv[index] = p_login(session, CKU_USER, (unsigned char *)pin, strlen(pin));
    for (i = 0; i < calls_per_thread; i++)
        p_random(session, buf, sizeof buf);
    p_close(session);
    return NULL;
}

int main(int argc, char **argv)
{
    void *h;
    CK_ULONG slots[8], count = 8, main_session = 0;
    init_args args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    pthread_t tid[64];
    int n, i;

    if (argc != 5) {
        fprintf(stderr, "usage: threads MODULE PIN THREADS CALLS\n");
        return 2;
    }
    h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    pin = argv[2];
    n = atoi(argv[3]);
    calls_per_thread = atoi(argv[4]);
    if (n < 1 || n > 64)
        return 2;
    p_open = (open_fn)dlsym(h, "C_OpenSession");
    p_login = (login_fn)dlsym(h, "C_Login");
    p_random = (random_fn)dlsym(h, "C_GenerateRandom");
    p_close = (close_fn)dlsym(h, "C_CloseSession");
    if (((init_fn)dlsym(h, "C_Initialize"))(&args) != 0)
        return 1;
    if (((slots_fn)dlsym(h, "C_GetSlotList"))(1, slots, &count) != 0 || count == 0)
        return 1;
    slot = slots[0];
    if (p_open(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &main_session) != 0)
        return 1;
    printf("main_login_rv %lu\n", p_login(main_session, CKU_USER, (unsigned char *)pin, strlen(pin)));
    for (i = 0; i < n; i++)
        pthread_create(&tid[i], NULL, worker, (void *)(long)i);
    for (i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    p_close(main_session);
    ((init_fn)dlsym(h, "C_Finalize"))(NULL);
    printf("calls %d\n", 6 + n * (3 + calls_per_thread));
    for (i = 0; i < n; i++)
        printf("login_rv %lu\n", login_rv[i]);
    return 0;
}
