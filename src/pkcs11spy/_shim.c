/* pkcs11spy: the C side.
 *
 * What must be C and nothing more: load the real module, start Python, answer the
 * interface functions with our own function lists, forward every call, and hand the raw
 * arguments to Python before and after.  C never interprets an argument: decoding and
 * rendering are Python's; C only writes the bytes Python hands it (spy_write).
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
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CKR_OK 0x0UL
#define CKR_HOST_MEMORY 0x2UL
#define CKR_GENERAL_ERROR 0x5UL
#define CKR_FUNCTION_FAILED 0x6UL
#define CKR_ARGUMENTS_BAD 0x7UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_BUFFER_TOO_SMALL 0x150UL

/* Callbacks into Python (extern "Python" in the cdef). */
static void spy_on_enter(struct spy_call *call);
static void spy_on_exit(struct spy_call *call);
static void spy_on_stats(int at_exit);

/* What Python wants of each function (spy_set_traced), decided once at start so that a
 * call nobody asked for never enters Python (see filters.py). */

/* ---- state ------------------------------------------------------------------------ */

/* The real module's functions, by id, in tables: table 0 holds C_GetFunctionList's list
 * (and serves our exported symbols and our 2.x list); each other table holds one distinct
 * list behind the module's interfaces.  A module may put different functions in its 2.x
 * and 3.x lists (OpenSC's C_GetInfo says 2.20 or 3.0 depending on the list), so a call
 * must reach the function of the list the application called through. */
static void *spy_real[SPY_TABLES][SPY_FN_COUNT];
static const void *spy_table_source[SPY_TABLES]; /* the module list each table was taken from */
static int spy_tables_used = 1;
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
static volatile int spy_stats_on;
static pthread_mutex_t spy_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spy_fn_stats spy_stats[SPY_FN_COUNT];
static struct spy_rv_count spy_rv_counts[SPY_RV_SLOTS];
static unsigned long long spy_rv_overflow;   /* errors that found no free slot */
static long spy_sessions_open;
static long spy_sessions_max;
static int spy_stats_dirty;                  /* calls since the table was last written */

/* What C_GetFunctionList answers: always our list of the 2.x structure (see
 * docs/interfaces.md for why), versioned like the module's list when that is 2.x. */
static struct CK_FUNCTION_LIST spy_list_2;

/* Our interfaces: our own memory, never the module's.  Each offered "PKCS 11" interface
 * has its own function list, of the structure its version defines and carrying that
 * version, so 3.0 and 3.1 offered together do not share one version field. */
#define SPY_MAX_INTERFACES 32
union spy_any_list {
    struct CK_FUNCTION_LIST v2;
    struct CK_FUNCTION_LIST_3_0 v3_0;
    struct CK_FUNCTION_LIST_3_2 v3_2;
};
struct spy_offer {
    union spy_any_list list;      /* ours, behind a traced "PKCS 11" interface */
    void *theirs;                 /* the module's list: matched, never written */
    CK_VERSION version;
    int passthrough;              /* the module's own interface handed through: not traced */
};
static struct spy_offer spy_offers[SPY_MAX_INTERFACES];
static CK_INTERFACE spy_interfaces[SPY_MAX_INTERFACES];
static CK_ULONG spy_interface_count;
static int spy_interfaces_ours;             /* 1: module has no usable interfaces, we answer */
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
    const char *own = spy_own_path();
    size_t len = strlen(own);

    if (len >= sizeof(dir))
        len = 0;  /* an absurdly long path: skip the search, use the build's Python */
    memcpy(dir, own, len);
    dir[len] = '\0';
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
static volatile long long spy_pid;
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

/* Whether a trace file lost its last name (removed, or renamed over): records written
 * to it would go where nobody can read them.  statx asks for the link count alone: on
 * ext4 a full fstat right after a write costs twice as much as the write. */
static int spy_file_removed(int fd, int *failed)
{
#ifdef STATX_NLINK
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_NLINK | STATX_TYPE, &sx) == 0)
        return sx.stx_nlink == 0 && S_ISREG(sx.stx_mode);
    if (errno != ENOSYS && errno != EINVAL) {
        *failed = errno;
        return 0;
    }
#endif
    {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            *failed = errno;
            return 0;
        }
        return st.st_nlink == 0 && S_ISREG(st.st_mode);
    }
}

/* One record part to the trace: the whole of it (a short write is continued), then the
 * check above.  0, or the errno that stopped it (ENOENT: the file was removed).
 * In C because Python's os.fstat builds a 19-field result for one number. */
static int spy_write(int fd, const char *data, size_t length)
{
    int saved = errno, failed = 0;

    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            failed = n < 0 ? errno : EIO;
            break;
        }
        data += n;
        length -= (size_t)n;
    }
    if (!failed && fd != STDERR_FILENO && spy_file_removed(fd, &failed))
        failed = ENOENT;
    errno = saved;
    return failed;
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

/* fork: the stats lock is held across it, so no other thread of the parent can be
 * holding it (half-way through an update) when the child is made: the child would wait
 * for it for ever (seen: 85 of 6,400 children of a forking threaded C host). */
static void spy_stats_before_fork(void)
{
    pthread_mutex_lock(&spy_stats_lock);
}

static void spy_stats_after_fork(void)
{
    pthread_mutex_unlock(&spy_stats_lock);
}

/* The child's table counts the child's calls: it starts empty (a PKCS#11 child must call
 * C_Initialize again anyway; the sessions it inherited are not its to use). */
static void spy_stats_after_fork_in_child(void)
{
    spy_stats_clear();
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

static void spy_take_CK_FUNCTION_LIST(int table, const struct CK_FUNCTION_LIST *list);
static void spy_take_CK_FUNCTION_LIST_3_0(int table, const struct CK_FUNCTION_LIST_3_0 *list);
static void spy_take_CK_FUNCTION_LIST_3_2(int table, const struct CK_FUNCTION_LIST_3_2 *list);
static void spy_take_own(int table);
static const struct CK_FUNCTION_LIST spy_template_CK_FUNCTION_LIST[SPY_TABLES];
static const struct CK_FUNCTION_LIST_3_0 spy_template_CK_FUNCTION_LIST_3_0[SPY_TABLES];
static const struct CK_FUNCTION_LIST_3_2 spy_template_CK_FUNCTION_LIST_3_2[SPY_TABLES];

/* Where the module is mapped: a function pointer read from one of its lists must lead
 * into it. */
static void *spy_module_base;

/* Read a list entry that may lie past the end of the module's list (see
 * DRAFT_3_2_LIST_END in functions.py): through process_vm_readv, which fails instead of
 * faulting on unmapped memory, and kept only when it points into the module's own code.
 * Anything else (unreadable, garbage, NULL) leaves the entry empty: the call then answers
 * CKR_FUNCTION_NOT_SUPPORTED instead of jumping into whatever followed the list. */
static void spy_take_late(int table, int fn, const void *entry)
{
    void *value = NULL;
    struct iovec local = {&value, sizeof(value)};
    struct iovec remote = {(void *)entry, sizeof(value)};
    Dl_info info;

    if (spy_real[table][fn] != NULL)
        return;
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(value) || value == NULL)
        return;
    if (dladdr(value, &info) == 0 || info.dli_fbase != spy_module_base || spy_module_base == NULL)
        return;
    spy_real[table][fn] = value;
}

static int spy_is_pkcs11_name(const CK_UTF8CHAR *name)
{
    return name != NULL && strcmp((const char *)name, "PKCS 11") == 0;
}

static int spy_same_version(CK_VERSION a, CK_VERSION b)
{
    return a.major == b.major && a.minor == b.minor;
}

/* The structure a "PKCS 11" interface of this version has: 2 (CK_FUNCTION_LIST), 30
 * (CK_FUNCTION_LIST_3_0, also 3.1), 32 (CK_FUNCTION_LIST_3_2), 0 unknown (a later
 * version: we cannot know how long its list is, so we do not read it). */
static int spy_structure_of(CK_VERSION v)
{
    if (v.major == 2)
        return 2;
    if (v.major == 3 && v.minor <= 1)
        return 30;
    if (v.major == 3 && v.minor == 2)
        return 32;
    return 0;
}

/* Take a module list of this structure into a table of its own (one already holding it,
 * else a new one; table 0, shared, when all are used) and return the table. */
static int spy_table_for(const void *theirs, int structure)
{
    int t;

    for (t = 0; t < spy_tables_used; t++) {
        if (spy_table_source[t] == theirs)
            return t;
    }
    if (spy_tables_used == SPY_TABLES)
        return 0;
    t = spy_tables_used++;
    spy_table_source[t] = theirs;
    if (structure == 32)
        spy_take_CK_FUNCTION_LIST_3_2(t, theirs);
    else if (structure == 30)
        spy_take_CK_FUNCTION_LIST_3_0(t, theirs);
    else
        spy_take_CK_FUNCTION_LIST(t, theirs);
    spy_take_own(t);
    return t;
}

static void spy_add_interface(CK_UTF8CHAR *name, void *theirs, CK_FLAGS flags, CK_VERSION v)
{
    struct spy_offer *offer;
    CK_INTERFACE *iface;
    int structure = spy_is_pkcs11_name(name) ? spy_structure_of(v) : 0;

    if (spy_interface_count >= SPY_MAX_INTERFACES)
        return;
    offer = &spy_offers[spy_interface_count];
    iface = &spy_interfaces[spy_interface_count];
    offer->theirs = theirs;
    offer->version = v;
    offer->passthrough = structure == 0;
    iface->flags = flags;
    if (offer->passthrough) {
        /* A vendor interface (or an unknown version): handed through untouched. */
        iface->pInterfaceName = name;
        iface->pFunctionList = theirs;
    } else {
        int table = spy_table_for(theirs, structure);
        if (structure == 32)
            offer->list.v3_2 = spy_template_CK_FUNCTION_LIST_3_2[table];
        else if (structure == 30)
            offer->list.v3_0 = spy_template_CK_FUNCTION_LIST_3_0[table];
        else
            offer->list.v2 = spy_template_CK_FUNCTION_LIST[table];
        offer->list.v2.version = v;  /* every structure starts with its version */
        iface->pInterfaceName = spy_pkcs11_name;
        iface->pFunctionList = &offer->list;
    }
    spy_interface_count++;
}

/* Ask the module for its interfaces.  Returns how many it gave (in a malloc'd array the
 * caller frees), 0 when it has none we can use: missing functions, a failure, a NULL list
 * pointer or a count that changes between the two calls. */
static CK_ULONG spy_module_interfaces(void *handle, CK_INTERFACE **out)
{
    CK_RV (*get_list)(CK_INTERFACE_PTR, CK_ULONG_PTR);
    CK_ULONG count = 0, again;
    CK_INTERFACE *found;

    *out = NULL;
    *(void **)&get_list = dlsym(handle, "C_GetInterfaceList");
    if (get_list == NULL || spy_real_get_interface == NULL)
        return 0;
    if (get_list(NULL, &count) != CKR_OK || count == 0 || count > 1024)
        return 0;
    found = calloc(count, sizeof(CK_INTERFACE));
    if (found == NULL)
        return 0;
    again = count;
    if (get_list(found, &again) != CKR_OK || again == 0 || again > count) {
        free(found);
        return 0;
    }
    *out = found;
    return again;
}

/* A 3.x module: offer the interfaces it offers, in its order, with its names, versions
 * and flags (CKF_INTERFACE_FORK_SAFE included).  Highest versions are read first so that
 * a function present in several lists is taken from the newest. */
static void spy_load_interfaces(void *handle)
{
    CK_INTERFACE *found;
    CK_ULONG count, i;
    int pkcs11 = 0, want;

    *(void **)&spy_real_get_interface = dlsym(handle, "C_GetInterface");
    count = spy_module_interfaces(handle, &found);
    /* Table 0 (exported symbols) gets the 3.x functions too, newest structure first:
     * spy_take_* fill only entries still empty, and read the module's list only as far
     * as its version's structure goes. */
    for (want = 32; want >= 30; want -= 2) {
        for (i = 0; i < count; i++) {
            if (found[i].pFunctionList == NULL || !spy_is_pkcs11_name(found[i].pInterfaceName))
                continue;
            if (spy_structure_of(*(const CK_VERSION *)found[i].pFunctionList) != want)
                continue;
            if (want == 32)
                spy_take_CK_FUNCTION_LIST_3_2(0, found[i].pFunctionList);
            else
                spy_take_CK_FUNCTION_LIST_3_0(0, found[i].pFunctionList);
        }
    }
    for (i = 0; i < count; i++) {
        CK_VERSION v;
        if (found[i].pFunctionList == NULL)
            continue;  /* nothing an application could call through */
        v = *(const CK_VERSION *)found[i].pFunctionList;
        pkcs11 |= spy_is_pkcs11_name(found[i].pInterfaceName);
        spy_add_interface(found[i].pInterfaceName, found[i].pFunctionList, found[i].flags, v);
    }
    free(found);
    if (pkcs11)
        return;
    /* A 2.x module (or one whose interfaces are unusable): we offer, ourselves, one
     * "PKCS 11" interface of its version, backed by the list C_GetFunctionList gives. */
    spy_interfaces_ours = 1;
    spy_real_get_interface = NULL;
    spy_interface_count = 0;
    spy_interfaces[0].pInterfaceName = spy_pkcs11_name;
    spy_interfaces[0].pFunctionList = &spy_list_2;
    spy_interfaces[0].flags = 0;
    spy_offers[0].version = spy_list_2.version;
    spy_offers[0].theirs = NULL;
    spy_offers[0].passthrough = 0;
    spy_interface_count = 1;
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
    {
        Dl_info info;
        if (dladdr(*(void **)&get_function_list, &info) != 0)
            spy_module_base = info.dli_fbase;
    }
    /* Never dlclose: the module stays for the life of the process. */
    spy_module_version = list->version;
    /* Only the 2.x members are read from this list, whatever version it claims: some
     * modules claim 3.x in a list that is too short for it (SoftHSM2 2.7). */
    spy_take_CK_FUNCTION_LIST(0, list);
    spy_take_own(0);
    spy_table_source[0] = list;
    spy_list_2 = spy_template_CK_FUNCTION_LIST[0];
    spy_list_2.version = spy_module_version.major == 2 ? spy_module_version : (CK_VERSION){2, 40};
    spy_load_interfaces(handle);
    spy_ready_rv = CKR_OK;
}

/* A switch in the environment: set and not empty, "0", "no", "false" or "off" (as the
 * Python side reads its switches). */
static int spy_flag_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 && strcasecmp(v, "no") != 0 &&
           strcasecmp(v, "false") != 0 && strcasecmp(v, "off") != 0;
}

/* The process id, for every record: getpid() is a system call, and Python's own fork
 * hooks do not run when C code forks inside a Python host.  This handler does. */
static void spy_pid_after_fork(void)
{
    spy_pid = getpid();
}

/* Forks, counted in the forking process: after one, parent and child may write the same
 * trace file, and the parent must learn it even when no Python fork hook runs (a module
 * that forks inside a call, in a Python host). */
static volatile long long spy_forks;

static void spy_count_fork(void)
{
    spy_forks++;
}

static void spy_init(void)
{
    spy_pid = getpid();
    pthread_atfork(spy_count_fork, NULL, spy_pid_after_fork);
    pthread_atfork(spy_stats_before_fork, spy_stats_after_fork, spy_stats_after_fork_in_child);
    spy_load_module();
    if (spy_ready_rv != CKR_OK) {
        spy_report("%s", spy_problem);
        return;
    }
    if (!spy_flag_set("PKCS11SPY_DISABLE_TRACE")) {
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

static void *spy_target(int table, int fn)
{
    return spy_real[table][fn];
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
    call->key = (uintptr_t)call;
    call->pid = spy_pid;
    call->forks = spy_forks;
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
    call->pid = spy_pid; /* a module that forked inside the call returns in two processes */
    call->forks = spy_forks;
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

/* A 2.x list, whatever the module: the prototype's structure is CK_FUNCTION_LIST, 3.x
 * lists are what C_GetInterface is for, and a module's own answer here cannot be trusted
 * to match its length (docs/interfaces.md). */
static CK_RV spy_own_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &spy_list_2;
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

/* In front of a 2.x module: our one "PKCS 11" interface, for a name NULL or "PKCS 11",
 * a version NULL or 2.x (all 2.x lists have one structure) and no flag we cannot promise.
 * Anything else is an interface that does not exist: CKR_ARGUMENTS_BAD, as 3.x modules
 * answer (OpenSC, SoftHSM2 2.7, p11-kit), and applications then use C_GetFunctionList. */
static CK_RV spy_own_interface_of_2x(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    if (pInterfaceName != NULL && !spy_is_pkcs11_name(pInterfaceName))
        return CKR_ARGUMENTS_BAD;
    if (pVersion != NULL && pVersion->major != 2)
        return CKR_ARGUMENTS_BAD;
    if ((flags & spy_interfaces[0].flags) != flags)
        return CKR_ARGUMENTS_BAD;
    *ppInterface = &spy_interfaces[0];
    return CKR_OK;
}

/* Which of our interfaces stands for the module's answer: the one made from the same
 * module list with the same flags, else one of the same name, version and flags.
 * -1: none (an interface the module did not list). */
static int spy_offer_for(const CK_INTERFACE *theirs)
{
    int pkcs11 = spy_is_pkcs11_name(theirs->pInterfaceName);
    CK_VERSION v;
    CK_ULONG i;

    for (i = 0; i < spy_interface_count; i++) {
        if (spy_offers[i].theirs == theirs->pFunctionList && spy_interfaces[i].flags == theirs->flags
            && spy_is_pkcs11_name(spy_interfaces[i].pInterfaceName) == pkcs11)
            return (int)i;
    }
    if (!pkcs11 || theirs->pFunctionList == NULL)
        return -1;
    v = *(const CK_VERSION *)theirs->pFunctionList;
    for (i = 0; i < spy_interface_count; i++) {
        if (!spy_offers[i].passthrough && spy_same_version(spy_offers[i].version, v)
            && spy_interfaces[i].flags == theirs->flags)
            return (int)i;
    }
    return -1;
}

/* In front of a 3.x module: it decides; we answer with our interface standing for its
 * answer.  Its answer is looked at only after CKR_OK and when not NULL; a failure, or
 * CKR_OK with NULL (a module bug), reaches the application exactly as the module gave it. */
static CK_RV spy_own_C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    CK_INTERFACE_PTR theirs = NULL;
    CK_RV rv;
    int i;

    if (ppInterface == NULL)
        return CKR_ARGUMENTS_BAD;
    if (spy_interfaces_ours)
        return spy_own_interface_of_2x(pInterfaceName, pVersion, ppInterface, flags);
    rv = spy_real_get_interface(pInterfaceName, pVersion, &theirs, flags);
    if (rv != CKR_OK)
        return rv;
    if (theirs == NULL) {
        *ppInterface = NULL;
        return rv;
    }
    i = spy_offer_for(theirs);
    /* Not one it listed: hand its own answer through (the trace says it is not seen). */
    *ppInterface = i < 0 ? theirs : &spy_interfaces[i];
    return rv;
}

/* For the decoders: does the spy answer the interface functions itself (a 2.x module)? */
static int spy_get_interfaces_ours(void)
{
    return spy_interfaces_ours;
}

/* For the decoders: is this function list one of ours (its calls are traced)? */
static int spy_is_own_list(uintptr_t address)
{
    CK_ULONG i;

    if (address == (uintptr_t)&spy_list_2)
        return 1;
    for (i = 0; i < spy_interface_count; i++) {
        if (!spy_offers[i].passthrough && address == (uintptr_t)&spy_offers[i].list)
            return 1;
    }
    return 0;
}
