# Sourced by .ci/smoke-cli and dist/test-dist.sh: one check of a command as a script would run it.
#   check NAME EXPECTED_EXIT PATTERN COMMAND...   (PATTERN: grep -E on stdout+stderr)
# Prints "ok   NAME" or "FAIL NAME" with what it expected and the output's head; counts in $passed and $fail.
fail=0
passed=0
check() {
    local name=$1 code=$2 pattern=$3 out rc; shift 3
    out=$("$@" 2>&1); rc=$?
    if [[ $rc -ne $code ]] || ! grep -Eq -- "$pattern" <<<"$out"; then
        echo "FAIL $name: expected exit $code and /$pattern/, got exit $rc:"; echo "$out" | head -20; fail=$((fail + 1))
    else
        echo "ok   $name"; passed=$((passed + 1))
    fi
}
