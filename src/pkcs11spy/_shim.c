/* pkcs11spy: the C side.
 *
 * What must be C and nothing more: load the real module, start Python, answer the
 * interface functions with our own function lists, forward every call, and hand the raw
 * arguments to Python before and after.  C never interprets an argument: decoding,
 * rendering and writing the trace are Python's.
 *
 * The build puts, in this order: cffi's prelude (Python.h), ck_types.h, the generated
 * declarations (function ids, CK_C_* types, CK_FUNCTION_LIST*), this file, then the
 * generated wrappers and lists (see _codegen.py).
 *
 * Rules this file keeps (each learned the hard way, see docs/design.md):
 *  - forwarding never depends on Python: a callback that fails returns nothing we use;
 *  - Python is entered only while spy_python_ok is set (set by our Python side, last);
 *  - Python starts once, early, in the first entry point the host calls;
 *  - the real module is never unloaded; its structures are never written.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CKR_OK 0x0UL
#define CKR_HOST_MEMORY 0x2UL
#define CKR_GENERAL_ERROR 0x5UL
#define CKR_FUNCTION_FAILED 0x6UL
#define CKR_ARGUMENTS_BAD 0x7UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_BUFFER_TOO_SMALL 0x150UL

/* One traced call, on the wrapper's stack.  Python reads it on entry and exit; the
 * layout is declared to cffi too (see _build_shim.py). */
struct spy_call {
    int fn;
    int resumed;                  /* set by Python: records of others came in between */
    uintptr_t args[SPY_MAX_ARGS]; /* raw arguments, in the order of the prototype */
    unsigned long long seq;       /* call number, given by Python on entry */
    CK_RV rv;
    long long wall_ns;            /* CLOCK_REALTIME at entry */
    long long start_ns;           /* CLOCK_MONOTONIC just before forwarding */
    long long end_ns;             /* CLOCK_MONOTONIC just after */
    int entered;                  /* Python saw the entry (errors-only may skip it) */
};

/* Callbacks into Python (extern "Python" in the cdef). */
static void spy_on_enter(struct spy_call *call);
static void spy_on_exit(struct spy_call *call);
static void spy_on_stats(int at_exit);

/* What Python wants of each function (spy_set_traced), decided once at start so that a
 * call nobody asked for never enters Python (see filters.py). */
#define SPY_WANT_ENTER 1        /* Python sees the call before it is forwarded */
#define SPY_WANT_EXIT 2         /* ... and after */
#define SPY_WANT_EXIT_ERROR 4   /* ... after, only when it did not return CKR_OK */

/* ---- state ------------------------------------------------------------------------ */

static void *spy_real[SPY_FN_COUNT];        /* the real module's functions, by id */
static unsigned char spy_traced[SPY_FN_COUNT];
static volatile int spy_python_ok;          /* Python side is up and healthy */
static pthread_once_t spy_once = PTHREAD_ONCE_INIT;
static CK_RV spy_ready_rv = CKR_GENERAL_ERROR;
static char spy_module_path[PATH_MAX];
static char spy_problem[1024];              /* why the module did not load, for Python */
static CK_VERSION spy_module_version;       /* from the real C_GetFunctionList */
static int spy_started_python;              /* we initialised the interpreter ourselves */

/* Statistics (PKCS11SPY_STATS): counted here, for every call, traced or not; Python only
 * formats them (spy_get_stats).  One mutex: an uncontended lock is tens of ns. */
#define SPY_RV_SLOTS 256
struct spy_fn_stats {
    unsigned long long calls;
    unsigned long long errors;
    long long total_ns;
    long long max_ns;
};
struct spy_rv_count {
    int fn;                     /* -1: free slot */
    CK_RV rv;
    unsigned long long count;
};
static volatile int spy_stats_on;
static pthread_mutex_t spy_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spy_fn_stats spy_stats[SPY_FN_COUNT];
static struct spy_rv_count spy_rv_counts[SPY_RV_SLOTS];
static unsigned long long spy_rv_overflow;   /* errors that found no free slot */
static long spy_sessions_open;
static long spy_sessions_max;
static int spy_stats_dirty;                  /* calls since the table was last written */

/* Our function lists, one of each structure, versioned at load time. */
static struct CK_FUNCTION_LIST spy_list_2;
static struct CK_FUNCTION_LIST_3_0 spy_list_3_0;
static struct CK_FUNCTION_LIST_3_2 spy_list_3_2;
/* What C_GetFunctionList answers: our list of the structure the module's answer has. */
static void *spy_function_list;

/* Our interfaces: our own memory, never the module's. */
#define SPY_MAX_INTERFACES 16
static CK_INTERFACE spy_interfaces[SPY_MAX_INTERFACES];
static CK_VERSION spy_interface_versions[SPY_MAX_INTERFACES];
static int spy_interface_passthrough[SPY_MAX_INTERFACES]; /* vendor: not traced */
static CK_ULONG spy_interface_count;
static int spy_interfaces_ours;             /* 1: module has no C_GetInterface, we answer */
static CK_RV (*spy_real_get_interface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
static CK_UTF8CHAR spy_pkcs11_name[] = "PKCS 11";

static long long spy_now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- reporting our own failures ----------------------------------------------------- */

/* One line on stderr and, when PKCS11SPY_OUTPUT names a file, in that file too: the
 * user looks at one of the two.  Used only before or without Python. */
static void spy_report(const char *fmt, ...)
{
    char line[1400];
    va_list ap;
    int n;
    const char *out;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(2, line, (size_t)n) < 0) {
        /* nothing more we can do */
    }
    out = getenv("PKCS11SPY_OUTPUT");
    if (out != NULL && out[0] != '\0' && strchr(out, '%') == NULL) {
        int fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, line, (size_t)n) < 0) {
                /* the file is unwritable: stderr already has the line */
            }
            close(fd);
        }
    }
}

/* ---- where we are ------------------------------------------------------------------- */

static const char *spy_own_path(void)
{
    static char path[PATH_MAX];
    Dl_info info;

    if (path[0] == '\0' && dladdr((void *)&spy_own_path, &info) && info.dli_fname != NULL) {
        if (realpath(info.dli_fname, path) == NULL)
            snprintf(path, sizeof(path), "%s", info.dli_fname);
    }
    return path;
}

/* ---- starting Python ------------------------------------------------------------------ */

#ifndef SPY_BUILD_EXECUTABLE
#define SPY_BUILD_EXECUTABLE ""
#endif

/* The interpreter of the environment we are installed in: a virtualenv holding us
 * (found by its pyvenv.cfg, walking up from our own file), else the Python we were
 * built with.  In a C host sys.prefix would otherwise follow whatever python3 is first
 * on $PATH. */
static void spy_find_python(char *exe, size_t size)
{
    char dir[PATH_MAX - 32];  /* room for "/bin/python3" within exe */
    char probe[PATH_MAX];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", spy_own_path());
    while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        snprintf(probe, sizeof(probe), "%s/pyvenv.cfg", dir);
        if (access(probe, R_OK) == 0) {
            snprintf(exe, size, "%s/bin/python3", dir);
            return;
        }
    }
    snprintf(exe, size, "%s", SPY_BUILD_EXECUTABLE);
}

static int spy_boot_interpreter(void)
{
    Dl_info info;
    PyConfig config;
    PyStatus status;
    char exe[PATH_MAX];

    /* Hosts load us RTLD_LOCAL, which leaves libpython invisible to the extension
     * modules Python imports (_cffi_backend first).  Promote it to the global scope. */
    if (dladdr((void *)&Py_InitializeEx, &info) && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);

    spy_find_python(exe, sizeof(exe));
    PyConfig_InitPythonConfig(&config);
    config.use_environment = 0;         /* a host's PYTHONHOME must not kill it */
    config.install_signal_handlers = 0; /* leave the host's SIGINT and SIGPIPE alone */
    config.parse_argv = 0;
    config.configure_c_stdio = 0;
    if (exe[0] != '\0') {
        status = PyConfig_SetBytesString(&config, &config.executable, exe);
        if (PyStatus_Exception(status))
            goto failed;
    }
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto failed;
    PyConfig_Clear(&config);
    PyEval_SaveThread();
    return 0;

failed:
    PyConfig_Clear(&config);
    spy_report("pkcs11spy: tracing is off: Python (%s) did not start: %s; "
               "reinstall pkcs11spy with the Python you run it with",
               exe, status.err_msg ? status.err_msg : "unknown error");
    return -1;
}

/* fork: the child must not inherit a GIL owned by a thread that does not exist there. */
static int spy_fork_held;
static PyGILState_STATE spy_fork_gil;

static void spy_fork_prepare(void)
{
    spy_fork_held = spy_python_ok;
    if (spy_fork_held) {
        spy_fork_gil = PyGILState_Ensure();
        PyOS_BeforeFork();
    }
}

static void spy_fork_parent(void)
{
    if (spy_fork_held) {
        PyOS_AfterFork_Parent();
        PyGILState_Release(spy_fork_gil);
    }
}

static void spy_fork_child(void)
{
    if (spy_fork_held) {
        PyOS_AfterFork_Child();
        PyGILState_Release(spy_fork_gil);
    }
}

static int spy_same_python(void)
{
    char want[16];
    const char *have = Py_GetVersion();
    size_t n = (size_t)snprintf(want, sizeof(want), "%d.%d.", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return strncmp(have, want, n) == 0;
}

static void spy_start_python(void)
{
    if (Py_IsInitialized()) {
        /* A Python host.  A shim built for another Python would hang or crash in it. */
        if (!spy_same_python()) {
            spy_report("pkcs11spy: tracing is off: this process runs Python %.10s but the spy "
                       "was built for %d.%d; install pkcs11spy with this Python",
                       Py_GetVersion(), PY_MAJOR_VERSION, PY_MINOR_VERSION);
            return;
        }
    } else {
        if (spy_boot_interpreter() != 0)
            return;
        spy_started_python = 1;
        pthread_atfork(spy_fork_prepare, spy_fork_parent, spy_fork_child);
    }
    if (cffi_start_python() != 0 || !spy_python_ok) {
        spy_report("pkcs11spy: tracing is off: the spy's Python side did not start (see the "
                   "message above); calls still go to the module");
    }
}

/* Called by our Python side when it is ready to receive calls (last step of its start). */
static void spy_set_python_ready(int ok)
{
    spy_python_ok = ok;
}

static void spy_set_traced(int fn, int wants)
{
    if (fn >= 0 && fn < SPY_FN_COUNT)
        spy_traced[fn] = (unsigned char)wants;
}

/* ---- statistics ------------------------------------------------------------------- */

static void spy_stats_clear(void)
{
    int i;
    memset(spy_stats, 0, sizeof(spy_stats));
    for (i = 0; i < SPY_RV_SLOTS; i++) {
        spy_rv_counts[i].fn = -1;
        spy_rv_counts[i].rv = 0;
        spy_rv_counts[i].count = 0;
    }
    spy_rv_overflow = 0;
    spy_sessions_open = 0;
    spy_sessions_max = 0;
    spy_stats_dirty = 0;
}

static void spy_set_stats(int on)
{
    pthread_mutex_lock(&spy_stats_lock);
    spy_stats_clear();
    pthread_mutex_unlock(&spy_stats_lock);
    spy_stats_on = on;
}

/* Sessions open at once, from return codes only: C never reads an argument.
 * C_CloseAllSessions and C_Finalize close them all (exact with one slot). */
static void spy_stats_sessions(int fn)
{
    if (fn == SPY_FN_C_OpenSession) {
        spy_sessions_open++;
        if (spy_sessions_open > spy_sessions_max)
            spy_sessions_max = spy_sessions_open;
    } else if (fn == SPY_FN_C_CloseSession) {
        if (spy_sessions_open > 0)
            spy_sessions_open--;
    } else if (fn == SPY_FN_C_CloseAllSessions || fn == SPY_FN_C_Finalize) {
        spy_sessions_open = 0;
    }
}

static void spy_stats_count_rv(int fn, CK_RV rv)
{
    unsigned int h = ((unsigned int)fn * 31u + (unsigned int)rv) % SPY_RV_SLOTS;
    unsigned int i;
    for (i = 0; i < SPY_RV_SLOTS; i++) {
        struct spy_rv_count *slot = &spy_rv_counts[(h + i) % SPY_RV_SLOTS];
        if (slot->fn == fn && slot->rv == rv) {
            slot->count++;
            return;
        }
        if (slot->fn == -1) {
            slot->fn = fn;
            slot->rv = rv;
            slot->count = 1;
            return;
        }
    }
    spy_rv_overflow++;
}

static void spy_stats_add(int fn, CK_RV rv, long long ns)
{
    struct spy_fn_stats *st = &spy_stats[fn];
    pthread_mutex_lock(&spy_stats_lock);
    st->calls++;
    st->total_ns += ns;
    if (ns > st->max_ns)
        st->max_ns = ns;
    if (rv != CKR_OK) {
        st->errors++;
        spy_stats_count_rv(fn, rv);
    } else {
        spy_stats_sessions(fn);
    }
    spy_stats_dirty = 1;
    pthread_mutex_unlock(&spy_stats_lock);
}

/* A consistent copy for Python: per function, then the (function, rv) error counts.
 * Returns the number of error slots copied; *dirty says whether calls were made since
 * the last copy that cleared it. */
static int spy_get_stats(struct spy_fn_stats *fns, struct spy_rv_count *rvs, long *sessions_max,
                         unsigned long long *overflow, int *dirty, int clear_dirty)
{
    int i, n = 0;
    pthread_mutex_lock(&spy_stats_lock);
    memcpy(fns, spy_stats, sizeof(spy_stats));
    for (i = 0; i < SPY_RV_SLOTS; i++) {
        if (spy_rv_counts[i].fn >= 0)
            rvs[n++] = spy_rv_counts[i];
    }
    *sessions_max = spy_sessions_max;
    *overflow = spy_rv_overflow;
    *dirty = spy_stats_dirty;
    if (clear_dirty)
        spy_stats_dirty = 0;
    pthread_mutex_unlock(&spy_stats_lock);
    return n;
}

/* Normal process exit: C hosts never finalise Python, so Python's own atexit never
 * runs there.  Enter Python only if it is up and healthy. */
static void spy_stats_at_exit(void)
{
    if (spy_stats_on && spy_python_ok && Py_IsInitialized())
        spy_on_stats(1);
}

static const char *spy_get_module_path(void)
{
    return spy_module_path;
}

static const char *spy_get_problem(void)
{
    return spy_problem;
}

static const char *spy_get_own_path(void)
{
    return spy_own_path();
}

static int spy_get_started_python(void)
{
    return spy_started_python;
}

/* ---- loading the real module ------------------------------------------------------ */

static void spy_take_CK_FUNCTION_LIST(const struct CK_FUNCTION_LIST *list);
static void spy_take_CK_FUNCTION_LIST_3_0(const struct CK_FUNCTION_LIST_3_0 *list);
static void spy_take_CK_FUNCTION_LIST_3_2(const struct CK_FUNCTION_LIST_3_2 *list);
static void spy_take_own(void);
static const struct CK_FUNCTION_LIST spy_template_CK_FUNCTION_LIST;
static const struct CK_FUNCTION_LIST_3_0 spy_template_CK_FUNCTION_LIST_3_0;
static const struct CK_FUNCTION_LIST_3_2 spy_template_CK_FUNCTION_LIST_3_2;

static int spy_is_pkcs11_name(const CK_UTF8CHAR *name)
{
    return name != NULL && strcmp((const char *)name, "PKCS 11") == 0;
}

/* Our function list for a "PKCS 11" interface of this version. */
static void *spy_list_for(CK_VERSION v)
{
    if (v.major >= 3 && v.minor >= 2) {
        spy_list_3_2.version = v;
        return &spy_list_3_2;
    }
    if (v.major >= 3) {
        spy_list_3_0.version = v;
        return &spy_list_3_0;
    }
    spy_list_2.version = v;
    return &spy_list_2;
}

static void spy_add_interface(CK_UTF8CHAR *name, void *list, CK_FLAGS flags, CK_VERSION v, int passthrough)
{
    if (spy_interface_count >= SPY_MAX_INTERFACES)
        return;
    spy_interfaces[spy_interface_count].pInterfaceName = name;
    spy_interfaces[spy_interface_count].pFunctionList = list;
    spy_interfaces[spy_interface_count].flags = flags;
    spy_interface_versions[spy_interface_count] = v;
    spy_interface_passthrough[spy_interface_count] = passthrough;
    spy_interface_count++;
}

/* A 3.x module: mirror its interfaces.  Each "PKCS 11" one is backed by our list of
 * that version; we read the module's list only as far as that version's structure
 * goes.  Vendor interfaces are handed through untouched (their calls are not seen). */
static void spy_load_interfaces(void *handle)
{
    CK_RV (*get_list)(CK_INTERFACE_PTR, CK_ULONG_PTR);
    CK_INTERFACE found[SPY_MAX_INTERFACES];
    CK_ULONG count = 0, i;

    *(void **)&get_list = dlsym(handle, "C_GetInterfaceList");
    *(void **)&spy_real_get_interface = dlsym(handle, "C_GetInterface");
    if (get_list == NULL || spy_real_get_interface == NULL)
        goto ours;
    if (get_list(NULL, &count) != CKR_OK || count == 0 || count > SPY_MAX_INTERFACES)
        goto ours;
    if (get_list(found, &count) != CKR_OK || count > SPY_MAX_INTERFACES)
        goto ours;
    for (i = 0; i < count; i++) {
        CK_VERSION v = {0, 0};
        if (found[i].pFunctionList == NULL)
            continue;
        v = *(const CK_VERSION *)found[i].pFunctionList;
        if (!spy_is_pkcs11_name(found[i].pInterfaceName)) {
            spy_add_interface(found[i].pInterfaceName, found[i].pFunctionList, found[i].flags, v, 1);
            continue;
        }
        if (v.major >= 3 && v.minor >= 2)
            spy_take_CK_FUNCTION_LIST_3_2(found[i].pFunctionList);
        else if (v.major >= 3)
            spy_take_CK_FUNCTION_LIST_3_0(found[i].pFunctionList);
        spy_add_interface(spy_pkcs11_name, spy_list_for(v), found[i].flags, v, 0);
    }
    if (spy_interface_count > 0)
        return;
ours:
    /* A 2.x module: we offer one "PKCS 11" interface of its version ourselves. */
    spy_interfaces_ours = 1;
    spy_real_get_interface = NULL;
    spy_add_interface(spy_pkcs11_name, &spy_list_2, 0, spy_module_version, 0);
}

static int spy_is_ourselves(const char *path)
{
    char real[PATH_MAX];
    return realpath(path, real) != NULL && strcmp(real, spy_own_path()) == 0;
}

static void spy_load_module(void)
{
    const char *path = getenv("PKCS11SPY");
    void *handle;
    CK_RV (*get_function_list)(CK_FUNCTION_LIST_PTR_PTR);
    CK_FUNCTION_LIST_PTR list = NULL;
    CK_RV rv;

    if (path == NULL || path[0] == '\0') {
        snprintf(spy_problem, sizeof(spy_problem),
                 "pkcs11spy: PKCS11SPY is not set: set it to the path of the real PKCS#11 module, "
                 "e.g. PKCS11SPY=/usr/lib/softhsm/libsofthsm2.so");
        return;
    }
    snprintf(spy_module_path, sizeof(spy_module_path), "%s", path);
    if (spy_is_ourselves(path)) {
        snprintf(spy_problem, sizeof(spy_problem),
                 "pkcs11spy: PKCS11SPY=%s is the spy itself (a loop): set it to the real module", path);
        return;
    }
    /* RTLD_DEEPBIND: the module's own C_* calls must not bind to our exported C_*. */
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == NULL) {
        const char *err = dlerror();
        snprintf(spy_problem, sizeof(spy_problem),
                 "pkcs11spy: cannot load PKCS11SPY=%s: %s; set PKCS11SPY to the path of a PKCS#11 module",
                 path, err ? err : "unknown error");
        return;
    }
    *(void **)&get_function_list = dlsym(handle, "C_GetFunctionList");
    if (get_function_list == NULL) {
        snprintf(spy_problem, sizeof(spy_problem),
                 "pkcs11spy: PKCS11SPY=%s is not a PKCS#11 module (it has no C_GetFunctionList); "
                 "set PKCS11SPY to the real module", path);
        return;
    }
    rv = get_function_list(&list);
    if (rv != CKR_OK || list == NULL) {
        snprintf(spy_problem, sizeof(spy_problem),
                 "pkcs11spy: C_GetFunctionList of PKCS11SPY=%s failed (rv 0x%lx, list %p); "
                 "the module is unusable as it is", path, (unsigned long)rv, (void *)list);
        return;
    }
    /* Never dlclose: the module stays for the life of the process. */
    spy_module_version = list->version;
    spy_list_2 = spy_template_CK_FUNCTION_LIST;
    spy_list_3_0 = spy_template_CK_FUNCTION_LIST_3_0;
    spy_list_3_2 = spy_template_CK_FUNCTION_LIST_3_2;
    /* Only the 2.x members are read from this list, whatever version it claims: some
     * modules claim 3.x in a list that is too short for it. */
    spy_take_CK_FUNCTION_LIST(list);
    spy_load_interfaces(handle);
    spy_take_own();
    spy_list_2.version = spy_module_version.major < 3 ? spy_module_version : (CK_VERSION){2, 40};
    spy_function_list = spy_module_version.major < 3 ? (void *)&spy_list_2 : spy_list_for(spy_module_version);
    spy_ready_rv = CKR_OK;
}

static void spy_init(void)
{
    spy_load_module();
    if (spy_ready_rv != CKR_OK) {
        spy_report("%s", spy_problem);
        return;
    }
    if (getenv("PKCS11SPY_DISABLE_TRACE") == NULL) {
        spy_start_python();
        if (spy_python_ok)
            atexit(spy_stats_at_exit);
    }
}

static CK_RV spy_ensure_ready(void)
{
    pthread_once(&spy_once, spy_init);
    return spy_ready_rv;
}

/* ---- the call path ---------------------------------------------------------------- */

static void *spy_target(int fn)
{
    return spy_real[fn];
}

static CK_RV spy_missing(int fn)
{
    (void)fn;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static int spy_wants(int fn)
{
    return spy_python_ok && (spy_traced[fn] || spy_stats_on);
}

static void spy_call_start(struct spy_call *call, int fn)
{
    memset(call, 0, sizeof(*call));
    call->fn = fn;
}

static void spy_call_enter(struct spy_call *call)
{
    int saved = errno;
    if (spy_traced[call->fn] & SPY_WANT_ENTER) {
        call->wall_ns = spy_now(CLOCK_REALTIME);
        call->entered = 1;
        if (spy_python_ok)
            spy_on_enter(call);
    }
    errno = saved;
    call->start_ns = spy_now(CLOCK_MONOTONIC);
}

static void spy_call_leave(struct spy_call *call, CK_RV rv)
{
    int saved;
    unsigned char wants = spy_traced[call->fn];
    call->end_ns = spy_now(CLOCK_MONOTONIC);
    call->rv = rv;
    saved = errno;
    if (spy_stats_on)
        spy_stats_add(call->fn, rv, call->end_ns - call->start_ns);
    if (spy_python_ok && ((wants & SPY_WANT_EXIT) || ((wants & SPY_WANT_EXIT_ERROR) && rv != CKR_OK))) {
        if (!call->entered)
            call->wall_ns = spy_now(CLOCK_REALTIME) - (call->end_ns - call->start_ns);
        spy_on_exit(call);
    }
    if (spy_stats_on && call->fn == SPY_FN_C_Finalize && rv == CKR_OK && spy_python_ok)
        spy_on_stats(0);
    errno = saved;
}

/* ---- the functions the spy answers itself ------------------------------------------ */

static CK_RV spy_own_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = (CK_FUNCTION_LIST_PTR)spy_function_list;
    return CKR_OK;
}

static CK_RV spy_own_C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    CK_ULONG have;

    if (pulCount == NULL)
        return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == NULL) {
        *pulCount = spy_interface_count;
        return CKR_OK;
    }
    have = *pulCount;
    *pulCount = spy_interface_count;
    if (have < spy_interface_count)
        return CKR_BUFFER_TOO_SMALL;
    memcpy(pInterfacesList, spy_interfaces, spy_interface_count * sizeof(CK_INTERFACE));
    return CKR_OK;
}

static int spy_same_version(CK_VERSION a, CK_VERSION b)
{
    return a.major == b.major && a.minor == b.minor;
}

static CK_RV spy_own_C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    CK_INTERFACE_PTR theirs = NULL;
    CK_VERSION v;
    CK_ULONG i;
    CK_RV rv;

    if (ppInterface == NULL)
        return CKR_ARGUMENTS_BAD;
    if (spy_interfaces_ours) {
        /* In front of a 2.x module: one interface, "PKCS 11" of the module's version. */
        if (pInterfaceName != NULL && !spy_is_pkcs11_name(pInterfaceName))
            return CKR_ARGUMENTS_BAD;
        if (pVersion != NULL && !spy_same_version(*pVersion, spy_interface_versions[0]))
            return CKR_ARGUMENTS_BAD;
        if ((flags & spy_interfaces[0].flags) != flags)
            return CKR_ARGUMENTS_BAD;
        *ppInterface = &spy_interfaces[0];
        return CKR_OK;
    }
    /* In front of a 3.x module: it decides; we answer with our interface of the same
     * name and version.  Its answer is read only after CKR_OK and when not NULL. */
    rv = spy_real_get_interface(pInterfaceName, pVersion, &theirs, flags);
    if (rv != CKR_OK)
        return rv;
    if (theirs == NULL || theirs->pFunctionList == NULL)
        return CKR_FUNCTION_FAILED;
    v = *(const CK_VERSION *)theirs->pFunctionList;
    for (i = 0; i < spy_interface_count; i++) {
        int pkcs11 = spy_is_pkcs11_name(theirs->pInterfaceName);
        if (spy_interface_passthrough[i] == pkcs11)
            continue;
        if (!pkcs11 && spy_interfaces[i].pFunctionList != theirs->pFunctionList)
            continue;
        if (spy_same_version(spy_interface_versions[i], v)) {
            *ppInterface = &spy_interfaces[i];
            return CKR_OK;
        }
    }
    /* Not one it listed: hand its own answer through rather than fail the host. */
    *ppInterface = theirs;
    return CKR_OK;
}
