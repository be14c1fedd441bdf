/* A minimal C host: dlopen a module RTLD_LOCAL (as most hosts do) and call the entry
 * points named on the command line directly, without C_GetFunctionList first.
 * Prints "NAME rv" per call.  Used to prove each entry point is safe as a first call. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef unsigned long CK_RV;
typedef CK_RV (*fn_ptr)(void *);
typedef CK_RV (*fn_slots)(unsigned char, unsigned long *, unsigned long *);

int main(int argc, char **argv)
{
    void *h;
    int i;
    unsigned char info[256];

    if (argc < 2) {
        fprintf(stderr, "usage: first_call MODULE FUNCTION...\n");
        return 2;
    }
    h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    for (i = 2; i < argc; i++) {
        void *sym = dlsym(h, argv[i]);
        CK_RV rv;
        if (sym == NULL) {
            printf("%s missing\n", argv[i]);
            continue;
        }
        if (strcmp(argv[i], "C_GetSlotList") == 0) {
            unsigned long count = 0;
            rv = ((fn_slots)sym)(0, NULL, &count);
        } else if (strcmp(argv[i], "C_GetInfo") == 0) {
            rv = ((fn_ptr)sym)(info);
        } else {
            rv = ((fn_ptr)sym)(NULL); /* C_Initialize, C_Finalize */
        }
        printf("%s %lu\n", argv[i], rv);
    }
    return 0;
}
