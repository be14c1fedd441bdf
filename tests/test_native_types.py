"""The decoders' C types (pkcs11spy.native): the installed package loads them prebuilt
(no parsing at start), and their layouts are those of the headers, as parsed and as the
C compiler lays them out."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import cffi

from cbuild import INCLUDE
from pkcs11spy import _ck_headers, native
from pkcs11spy.softhsm import require_tool


def parsed_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    for declarations in _ck_headers.declarations():
        ffi.cdef(declarations)
    return ffi


def complete(ffi, name: str) -> bool:
    """False for a type without a size (a function, an opaque struct).  Asked first: the
    fields of an opaque struct of a prebuilt ffi are an assertion failure in cffi."""
    try:
        ffi.sizeof(name)
        return True
    except Exception:  # each kind of ffi says it with an error of its own
        return False


def struct_names(ffi) -> list:
    return sorted(n for n in ffi.list_types()[0] if complete(ffi, n) and ffi.typeof(n).kind == "struct")


def describe(ffi, name: str) -> tuple:
    t = ffi.typeof(name)
    if not complete(ffi, name):
        return t.kind
    # The field's kind and size, not its type's name: a prebuilt ffi names a typedef'd
    # struct by its tag ("struct CK_ATTRIBUTE *"), a parsing one by its typedef.
    fields = ([(f, ffi.offsetof(name, f), field.type.kind, ffi.sizeof(field.type)) for f, field in t.fields]
              if t.kind == "struct" else [])
    return ffi.sizeof(name), ffi.alignof(name), fields


def test_the_installed_package_loads_them_prebuilt():
    assert native.PREBUILT, "pkcs11spy._ck_types is missing: the install did not run _build_types.py"


def test_prebuilt_layouts_equal_parsed_ones():
    parsed = parsed_ffi()
    typedefs = parsed.list_types()[0]
    assert len(typedefs) > 100 and native.ffi.list_types()[0] == typedefs
    for name in typedefs:
        assert describe(native.ffi, name) == describe(parsed, name), name


def test_layouts_equal_the_compilers(tmp_path):
    """Every structure's size and field offsets, as gcc computes them from the same headers."""
    names = struct_names(native.ffi)
    assert "CK_MECHANISM" in names and "CK_GCM_MESSAGE_PARAMS" in names
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "ck_types.h"']
    lines += [f'#include "{h}"' for h in (p.rsplit("/", 1)[1] for p in _ck_headers.header_files()[1:])]
    lines.append("int main(void) {")
    for name in names:
        lines.append(f'    printf("%s %zu %zu\\n", "{name}", sizeof({name}), _Alignof({name}));')
        for field, _ in native.ffi.typeof(name).fields:
            lines.append(f'    printf("%s.%s %zu\\n", "{name}", "{field}", offsetof({name}, {field}));')
    lines.append("    return 0;\n}")
    source = tmp_path / "layouts.c"
    source.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layouts"
    subprocess.run([require_tool("cc", "gcc"), "-Wall", "-I", INCLUDE, "-o", str(exe), str(source)], check=True)
    compiled = dict(line.split(" ", 1) for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                                  check=True).stdout.splitlines())
    for name in names:
        size, align, fields = describe(native.ffi, name)
        assert compiled[name] == f"{size} {align}", name
        for field, offset, _kind, _size in fields:
            assert compiled[f"{name}.{field}"] == str(offset), f"{name}.{field}"


def test_a_source_tree_never_built_parses_the_headers(tmp_path):
    """Without the built module (a checkout used in place), native parses the headers."""
    copy = tmp_path / "pkcs11spy"
    shutil.copytree(INCLUDE, copy, ignore=shutil.ignore_patterns("_ck_types.py", "*.so", "__pycache__"))
    probe = ("import pkcs11spy.native as n; assert n.__file__.startswith(%r), n.__file__; "
             "print(n.PREBUILT, n.ffi.sizeof('CK_MECHANISM'), n.ffi.offsetof('CK_GCM_PARAMS', 'pAAD'))" % str(tmp_path))
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(tmp_path), capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", str(native.ffi.sizeof("CK_MECHANISM")),
                                  str(native.ffi.offsetof("CK_GCM_PARAMS", "pAAD"))]
