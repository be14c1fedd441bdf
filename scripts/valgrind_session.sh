#!/usr/bin/env bash
# Valgrind memcheck over a short pkcs11-tool session through the spy (a throwaway
# SoftHSM2 token): list slots, log in, generate an EC key pair, sign, list objects.
# Prints the error summary and every error whose stack passes through the spy's own C
# (_shim.c / the generated wrappers); the full log is left in $OUT (default
# /tmp/pkcs11spy-valgrind.log).
#   scripts/valgrind_session.sh          (needs: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${OUT:-/tmp/pkcs11spy-valgrind.log}
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -c "from pkcs11spy.softhsm import create_token; create_token('$TMP/token', label='vg')" >/dev/null
SPY=$("$PY" -m pkcs11spy path)
export SOFTHSM2_CONF=$TMP/token/softhsm2.conf PKCS11SPY=$("$PY" -c "from pkcs11spy.softhsm import find_module; print(find_module())")
export PKCS11SPY_OUTPUT=$TMP/trace.txt
SUPP=()
[ -f /usr/lib/valgrind/python3.supp ] && SUPP=(--suppressions=/usr/lib/valgrind/python3.supp)
: > "$OUT"
run() {
    valgrind --tool=memcheck "${SUPP[@]}" --error-limit=no --num-callers=40 --log-file="$OUT.part" \
        pkcs11-tool --module "$SPY" "$@" >/dev/null 2>&1 || true
    cat "$OUT.part" >> "$OUT"; rm -f "$OUT.part"
}
run -L
run --token-label vg --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label k --id 01
echo "data to sign" > "$TMP/data"
run --token-label vg --login --pin 1234 --sign --mechanism ECDSA-SHA256 --id 01 --input-file "$TMP/data" --output-file "$TMP/sig"
run --token-label vg --login --pin 1234 --list-objects
echo "records traced: $(grep -c '^Returned:' "$TMP/trace.txt")"
grep -E "ERROR SUMMARY" "$OUT"
echo "errors with a frame in the spy's C (_shim):"
"$PY" - "$OUT" <<'PYEOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
blocks = re.split(r"\n==\d+== \n", text)
ours = [b for b in blocks if re.search(r"(Invalid (read|write)|uninitialised|Conditional jump)", b)
        and "_shim" in b]
print(len(ours))
for b in ours[:20]:
    print(b)
PYEOF
