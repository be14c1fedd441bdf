"""Generate the C side's repetitive parts from the function table, at build time.

Output (never committed):
  * declarations: function ids, CK_C_* function-pointer types, the CK_FUNCTION_LIST,
    CK_FUNCTION_LIST_3_0 and CK_FUNCTION_LIST_3_2 structures, the function names;
  * definitions: one exported wrapper per function, all of the same shape, our three
    function lists, and the code that copies the real module's lists into ``spy_real``.

The wrapper shape (see ``_shim.c`` for the helpers it calls):

    CK_RV C_X(args...)
    {
        struct spy_call call;
        CK_C_X real;
        CK_RV rv;

        if (spy_ensure_ready() != CKR_OK)
            return CKR_GENERAL_ERROR;
        real = (CK_C_X)spy_target(SPY_FN_C_X);
        if (real == NULL)
            return spy_missing(SPY_FN_C_X);
        if (!spy_wants(SPY_FN_C_X))
            return real(args...);
        spy_call_start(&call, SPY_FN_C_X);
        call.args[i] = (uintptr_t)arg_i; ...
        spy_call_enter(&call);
        rv = real(args...);
        spy_call_leave(&call, rv);
        return rv;
    }
"""
from __future__ import annotations

from typing import Iterable, List, Tuple

from functions import FUNCTIONS, LIST_LENGTH, MAX_ARGS, V2_40, V3_0, V3_2, Function  # type: ignore

LIST_STRUCTS: Tuple[Tuple[str, Tuple[int, int]], ...] = (
    ("CK_FUNCTION_LIST", V2_40),
    ("CK_FUNCTION_LIST_3_0", V3_0),
    ("CK_FUNCTION_LIST_3_2", V3_2),
)


def _params(f: Function) -> str:
    return ", ".join(f"{a.ctype} {a.name}" for a in f.args) or "void"


def _call_args(f: Function) -> str:
    return ", ".join(a.name for a in f.args)


def _members(version: Tuple[int, int]) -> Iterable[Function]:
    return FUNCTIONS[: LIST_LENGTH[version]]


def declarations() -> str:
    out: List[str] = [f"#define SPY_FN_COUNT {len(FUNCTIONS)}", f"#define SPY_MAX_ARGS {MAX_ARGS}"]
    for f in FUNCTIONS:
        out.append(f"#define SPY_FN_{f.name} {f.index}")
    for f in FUNCTIONS:
        out.append(f"typedef CK_RV (*CK_{f.name})({_params(f)});")
    for struct, version in LIST_STRUCTS:
        out.append(f"struct {struct} {{")
        out.append("    CK_VERSION version;")
        out.extend(f"    CK_{f.name} {f.name};" for f in _members(version))
        out.append("};")
    # Our own handlers for the functions the spy answers itself (defined in _shim.c).
    for f in FUNCTIONS:
        if f.own:
            out.append(f"static CK_RV spy_own_{f.name}({_params(f)});")
    return "\n".join(out) + "\n"


def _wrapper(f: Function) -> str:
    fid = f"SPY_FN_{f.name}"
    lines = [
        f"CFFI_DLLEXPORT CK_RV {f.name}({_params(f)})",
        "{",
        "    struct spy_call call;",
        f"    CK_{f.name} real;",
        "    CK_RV rv;",
        "",
        "    if (spy_ensure_ready() != CKR_OK)",
        "        return CKR_GENERAL_ERROR;",
        f"    real = (CK_{f.name})spy_target({fid});",
        "    if (real == NULL)",
        f"        return spy_missing({fid});",
        f"    if (!spy_wants({fid}))",
        f"        return real({_call_args(f)});",
        f"    spy_call_start(&call, {fid});",
    ]
    lines += [f"    call.args[{i}] = (uintptr_t){a.name};" for i, a in enumerate(f.args)]
    lines += [
        "    spy_call_enter(&call);",
        f"    rv = real({_call_args(f)});",
        "    spy_call_leave(&call, rv);",
        "    return rv;",
        "}",
        "",
    ]
    return "\n".join(lines)


def definitions() -> str:
    out: List[str] = [_wrapper(f) for f in FUNCTIONS]
    # Templates of our function lists; spy_init() copies and versions them.
    for struct, version in LIST_STRUCTS:
        out.append(f"static const struct {struct} spy_template_{struct} = {{")
        out.append(f"    {{{version[0]}, {version[1]}}},")
        out.extend(f"    {f.name}," for f in _members(version))
        out.append("};")
    # Copy a real module's list into spy_real, by name, reading only the members the
    # structure of that version has: never past the end of the module's list.  Entries
    # already taken stay: the loader reads the lists in its order of preference.
    for struct, version in LIST_STRUCTS:
        out.append(f"static void spy_take_{struct}(const struct {struct} *list)")
        out.append("{")
        for f in _members(version):
            out.append(f"    if (spy_real[SPY_FN_{f.name}] == NULL)")
            out.append(f"        spy_real[SPY_FN_{f.name}] = (void *)list->{f.name};")
        out.append("}")
    # Our handlers stand in for the real entries of the functions the spy answers itself.
    out.append("static void spy_take_own(void)")
    out.append("{")
    out.extend(f"    spy_real[SPY_FN_{f.name}] = (void *)spy_own_{f.name};" for f in FUNCTIONS if f.own)
    out.append("}")
    return "\n".join(out) + "\n"


def exported_names() -> List[str]:
    return [f.name for f in FUNCTIONS]
