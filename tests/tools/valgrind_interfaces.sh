#!/usr/bin/env bash
# Run the interface scenarios under valgrind once (not part of pytest: about a minute each).
# Builds the test module and the C host, then drives the spy in front of the test module
# (every offer and misbehaviour), OpenSC's module and SoftHSM2.  Prints one line per
# scenario with valgrind's ERROR SUMMARY; logs and traces stay in the output directory.
#   tests/tools/valgrind_interfaces.sh [OUTDIR]      (needs: valgrind, cc, .venv built)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
PY=.venv/bin/python
SPY=$(.venv/bin/pkcs11spy path)
$PY tests/modules/gen_index.py "$OUT/p11_index.h"
cc -g -Wall -Wextra -Werror -shared -fPIC -I"$OUT" -o "$OUT/p11test.so" tests/modules/p11test.c
cc -g -Wall -Wextra -Werror -I"$OUT" -o "$OUT/iface_host" tests/c/iface_host.c -ldl
OPENSC=$(ls /usr/lib/*/opensc-pkcs11.so | head -1)
TOKEN_DIR=$(mktemp -d)
SOFTHSM_CONF=$($PY -c "from pkcs11spy.softhsm import create_token
print(create_token('$TOKEN_DIR', label='vg', user_pin='1234', so_pin='5678').conf)")
COMMANDS=(list fl get - - 0 get "PKCS 11" 3.0 0 get "PKCS 11" 3.1 1 get "PKCS 11" 2.40 0 get nope - 0
          vendor info 3.2 info 3.0 info fl run 3.2 run 3.0)

scenario() {
    local name=$1; shift
    env "$@" PKCS11SPY_OUTPUT="$OUT/trace_$name.txt" valgrind --error-exitcode=99 \
        --suppressions=/usr/lib/valgrind/python3.supp --log-file="$OUT/vg_$name.log" \
        "$OUT/iface_host" "$SPY" "${COMMANDS[@]}" >"$OUT/out_$name.txt" 2>&1 && rc=0 || rc=$?
    echo "$name rc=$rc $(grep -o 'ERROR SUMMARY.*' "$OUT/vg_$name.log")"
}

M="$OUT/p11test.so"
scenario main PKCS11SPY="$M" &
scenario fork_safe PKCS11SPY="$M" P11TEST_OFFER=3.0+fs,3.1+fs,3.2,2.40,vendor &
scenario draft_3_2 PKCS11SPY="$M" P11TEST_OFFER=3.2draft,3.0 &
scenario ok_null PKCS11SPY="$M" P11TEST_GETINTERFACE=null &
scenario unsupported PKCS11SPY="$M" P11TEST_GETINTERFACE=unsupported &
scenario unlisted PKCS11SPY="$M" P11TEST_GETINTERFACE=unlisted P11TEST_OFFER=3.2 &
scenario short_list PKCS11SPY="$M" P11TEST_FUNCTION_LIST=short3 &
scenario no_interface_list PKCS11SPY="$M" P11TEST_INTERFACELIST=unsupported &
scenario opensc PKCS11SPY="$OPENSC" OPENSC_CONF=/dev/null &
scenario softhsm PKCS11SPY=/usr/lib/softhsm/libsofthsm2.so SOFTHSM2_CONF="$SOFTHSM_CONF" &
wait
echo "logs in $OUT"
