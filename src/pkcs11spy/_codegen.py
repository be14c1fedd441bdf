"""Generate the C side's repetitive parts from the function table, at build time.

Output (never committed):
  * declarations: function ids, CK_C_* function-pointer types, the CK_FUNCTION_LIST,
    CK_FUNCTION_LIST_3_0 and CK_FUNCTION_LIST_3_2 structures, the function names;
  * definitions: one exported wrapper per function, all of the same shape, our three
    function lists, and the code that copies the real module's lists into ``spy_real``.

The wrapper shape: one forwarder per function, taking the number of the module table
it forwards to (see ``_shim.c``: each function list the module gives has its own table,
because a module may put different functions in its 2.x and 3.x lists), and thin entry
points that only name their table: the exported ``C_X`` (table 0) and ``spy_tN_C_X``
for the lists behind our interfaces.

    static CK_RV spy_forward_C_X(int table, args...)
    {
        struct spy_call call;
        CK_C_X real;
        CK_RV rv;

        if (spy_ensure_ready() != CKR_OK)
            return CKR_GENERAL_ERROR;
        real = (CK_C_X)spy_target(table, SPY_FN_C_X);   /* NULL: not in the module's list */
        if (!spy_wants(SPY_FN_C_X))
            return real != NULL ? real(args...) : spy_missing(SPY_FN_C_X);
        spy_call_start(&call, SPY_FN_C_X);
        call.args[i] = (uintptr_t)arg_i; ...
        spy_call_enter(&call);
        rv = real != NULL ? real(args...) : spy_missing(SPY_FN_C_X);   /* traced either way */
        spy_call_leave(&call, rv);
        return rv;
    }
    CK_RV C_X(args...) { return spy_forward_C_X(0, args...); }
"""
from __future__ import annotations

from typing import Iterable, List, Tuple

from functions import (DRAFT_3_2_LIST_END, FUNCTIONS, LIST_LENGTH, MAX_ARGS, V2_40, V3_0,  # type: ignore
                       V3_2, BY_NAME, Function)

# Module tables: 0 for C_GetFunctionList's list and the exported symbols, the others for
# the distinct lists behind the module's interfaces.
TABLES = 8

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
    out: List[str] = [f"#define SPY_FN_COUNT {len(FUNCTIONS)}", f"#define SPY_MAX_ARGS {MAX_ARGS}",
                      f"#define SPY_TABLES {TABLES}"]
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


def _entry_name(f: Function, table: int) -> str:
    return f.name if table == 0 else f"spy_t{table}_{f.name}"


def _wrapper(f: Function) -> str:
    fid = f"SPY_FN_{f.name}"
    lines = [
        f"static CK_RV spy_forward_{f.name}(int table{', ' if f.args else ''}{_params(f) if f.args else ''})",
        "{",
        "    struct spy_call call;",
        f"    CK_{f.name} real;",
        "    CK_RV rv;",
        "",
        "    if (spy_ensure_ready() != CKR_OK)",
        "        return CKR_GENERAL_ERROR;",
        f"    real = (CK_{f.name})spy_target(table, {fid});",
        f"    if (!spy_wants({fid}))",
        f"        return real != NULL ? real({_call_args(f)}) : spy_missing({fid});",
        f"    spy_call_start(&call, {fid});",
    ]
    lines += [f"    call.args[{i}] = (uintptr_t){a.name};" for i, a in enumerate(f.args)]
    lines += [
        "    spy_call_enter(&call);",
        f"    rv = real != NULL ? real({_call_args(f)}) : spy_missing({fid});",
        "    spy_call_leave(&call, rv);",
        "    return rv;",
        "}",
    ]
    comma = ", " if f.args else ""
    for table in range(TABLES):
        export = "CFFI_DLLEXPORT " if table == 0 else "static "
        lines.append(f"{export}CK_RV {_entry_name(f, table)}({_params(f)})")
        lines.append(f"{{ return spy_forward_{f.name}({table}{comma}{_call_args(f)}); }}")
    return "\n".join(lines) + "\n"


def definitions() -> str:
    out: List[str] = [_wrapper(f) for f in FUNCTIONS]
    # Templates of our function lists, one per module table; the loader copies and
    # versions them.
    for struct, version in LIST_STRUCTS:
        out.append(f"static const struct {struct} spy_template_{struct}[SPY_TABLES] = {{")
        for table in range(TABLES):
            out.append(f"  {{ {{{version[0]}, {version[1]}}},")
            out.extend(f"    {_entry_name(f, table)}," for f in _members(version))
            out.append("  },")
        out.append("};")
    # Copy a real module's list into one table, by name, reading only the members the
    # structure of that version has: never past the end of the module's list.  Entries
    # already taken stay: the loader reads the lists in its order of preference.
    for struct, version in LIST_STRUCTS:
        out.append(f"static void spy_take_{struct}(int table, const struct {struct} *list)")
        out.append("{")
        for f in _members(version):
            if version == V3_2 and f.index > BY_NAME[DRAFT_3_2_LIST_END].index:
                # Possibly past the end of a list built with a draft 3.2 header.
                out.append(f"    spy_take_late(table, SPY_FN_{f.name}, &list->{f.name});")
                continue
            out.append(f"    if (spy_real[table][SPY_FN_{f.name}] == NULL)")
            out.append(f"        spy_real[table][SPY_FN_{f.name}] = (void *)list->{f.name};")
        out.append("}")
    # Our handlers stand in for the real entries of the functions the spy answers itself.
    out.append("static void spy_take_own(int table)")
    out.append("{")
    out.extend(f"    spy_real[table][SPY_FN_{f.name}] = (void *)spy_own_{f.name};" for f in FUNCTIONS if f.own)
    out.append("}")
    return "\n".join(out) + "\n"


def exported_names() -> List[str]:
    return [f.name for f in FUNCTIONS]
