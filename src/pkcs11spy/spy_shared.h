/* Declarations shared by the C shim and our Python side: the C source includes this
 * text, and the build hands the same text to cffi's cdef (with SPY_MAX_ARGS replaced by
 * its number).  One definition, so the two sides cannot disagree on a layout.
 * Plain declarations only: cffi's parser reads it too. */

/* One traced call, on the wrapper's stack.  Python reads it on entry and exit; the
 * layout is declared to cffi too (see _build_shim.py). */
struct spy_call {
    int fn;
    int entered;                  /* Python saw the entry (errors-only may skip it) */
    uintptr_t args[SPY_MAX_ARGS]; /* raw arguments, in the order of the prototype */
    uintptr_t key;                /* this record's address: pairs an exit with its entry */
    CK_RV rv;
    long long wall_ns;            /* CLOCK_REALTIME at entry */
    long long start_ns;           /* CLOCK_MONOTONIC just before forwarding */
    long long end_ns;             /* CLOCK_MONOTONIC just after */
    long long pid;                /* the caller's process id, kept by C (renewed at fork) */
    long long forks;              /* forks this process made so far, as C saw them */
};

/* What the wrapper does with a function (spy_traced[fn]). */
#define SPY_WANT_ENTER 1        /* Python sees the call before it is forwarded */
#define SPY_WANT_EXIT 2         /* ... and after */
#define SPY_WANT_EXIT_ERROR 4   /* ... after, only when it did not return CKR_OK */

/* Statistics (PKCS11SPY_STATS): counted in C for every call; Python only formats them. */
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
