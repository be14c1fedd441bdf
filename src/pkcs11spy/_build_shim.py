"""cffi build of the shim in embedding mode (``cffi_modules`` in pyproject.toml).

setuptools runs this file several times per install: it must have no side effects.
"""
from __future__ import annotations

import os
import sys
import sysconfig

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the table and the generator, as plain modules
import _codegen  # noqa: E402  (needs the path above)

# The callbacks and the few C functions our Python side calls.
CDEF = """
typedef unsigned long CK_RV;
%(shared)s
extern "Python" void spy_on_enter(struct spy_call *call);
extern "Python" void spy_on_exit(struct spy_call *call);
extern "Python" void spy_on_stats(int at_exit);
void spy_set_python_ready(int ok);
void spy_set_traced(int fn, int wants);
int spy_write(int fd, const char *data, size_t length);
void spy_set_stats(int on);
int spy_get_stats(struct spy_fn_stats *fns, struct spy_rv_count *rvs, long *sessions_max,
                  unsigned long long *overflow, int *dirty, int clear_dirty);
const char *spy_get_module_path(void);
const char *spy_get_problem(void);
const char *spy_get_own_path(void);
int spy_get_started_python(void);
int spy_get_interfaces_ours(void);
int spy_is_own_list(uintptr_t address);
"""

# Runs once, inside the host, when Python first enters the shim.  Small on purpose:
# everything else lives in pkcs11spy._runtime.  It must never raise (cffi would turn
# every later callback into a silent no-op), so it reports and leaves tracing off.
INIT_CODE = r"""
def _pkcs11spy_boot():
    import os, sys
    shim = sys.modules["pkcs11spy._shim"]
    try:
        try:
            from pkcs11spy import _runtime
        except ImportError:
            # A Python host whose sys.path lacks us: use the site directory we sit in.
            own = shim.ffi.string(shim.lib.spy_get_own_path()).decode("utf-8", "replace")
            sys.path.append(os.path.dirname(os.path.dirname(own)))
            from pkcs11spy import _runtime
        _runtime.start(shim.ffi, shim.lib)
    except BaseException as exc:
        try:
            os.write(2, ("pkcs11spy: tracing is off: %s: %s\n" % (type(exc).__name__, exc)).encode())
        except Exception:
            pass
_pkcs11spy_boot()
del _pkcs11spy_boot
"""


def _python_link_args() -> dict:
    """cffi's setuptools path does not link libpython; a C host then cannot find
    Py_InitializeEx.  Link it ourselves, and refuse a static-only Python."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise RuntimeError(
            "pkcs11spy needs a Python built with --enable-shared (libpython as a shared "
            "library); this one is static. Use Debian's python3 or a pyenv build with "
            "PYTHON_CONFIGURE_OPTS=--enable-shared.")
    libdir = sysconfig.get_config_var("LIBDIR")
    version = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    return {
        "libraries": ["python" + version],
        "library_dirs": [libdir],
        "extra_link_args": [f"-Wl,-rpath,{libdir}", "-Wl,-z,nodelete", "-Wl,-Bsymbolic"],
    }


def _read(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def build_ffi() -> cffi.FFI:
    from functions import MAX_ARGS  # type: ignore

    ffibuilder = cffi.FFI()
    ffibuilder.embedding_api("")
    shared = _read("spy_shared.h").replace("SPY_MAX_ARGS", str(MAX_ARGS))
    ffibuilder.cdef(CDEF % {"shared": shared})
    source = "\n".join([
        _read("ck_types.h"),
        _codegen.declarations(),
        _read("spy_shared.h"),
        _read("_shim.c"),
        _codegen.definitions(),
    ])
    executable = os.path.realpath(sys.executable).replace("\\", "\\\\").replace('"', '\\"')
    ffibuilder.set_source(
        "pkcs11spy._shim",
        source,
        define_macros=[("SPY_BUILD_EXECUTABLE", f'"{executable}"')],
        extra_compile_args=["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        py_limited_api=False,
        **_python_link_args(),
    )
    ffibuilder.embedding_init_code(INIT_CODE)
    return ffibuilder


ffibuilder = build_ffi()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
