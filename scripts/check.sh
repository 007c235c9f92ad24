#!/usr/bin/env bash
# Runs every test suite: cmocka unit tests (meson test) and the bats
# integration tests, first on the normal build, then on the ASan+UBSan build.
# Ends with one line "N passed, N failed" counting every test case.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILDDIR=${BUILDDIR:-build}
ASAN_BUILDDIR=${ASAN_BUILDDIR:-build-asan}
log=$(mktemp /tmp/ocid-check.XXXXXX)
trap 'rm -f "$log"' EXIT
passed=0
failed=0
status=0

count_meson() {
	local ok fail
	ok=$(grep -cE '^ *[0-9]+/[0-9]+ .* (OK|SKIP) ' "$log")
	fail=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$log")
	passed=$((passed + ok))
	failed=$((failed + fail))
}

count_bats() {
	local ok fail
	ok=$(grep -cE '^ok [0-9]+' "$log")
	fail=$(grep -cE '^not ok [0-9]+' "$log")
	passed=$((passed + ok))
	failed=$((failed + fail))
}

run_suite() { # kind, description, command...
	local kind=$1 what=$2
	shift 2
	echo "==> $what"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	"count_$kind"
	if [ "$rc" -ne 0 ]; then
		echo "==> $what: FAILED (exit $rc)"
		status=1
	fi
}

run_suite meson "unit tests" meson test -C "$BUILDDIR" --print-errorlogs
run_suite bats "integration tests" env OCID_BUILDDIR="$PWD/$BUILDDIR" bats --timing tests/integration
run_suite meson "unit tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 meson test -C "$ASAN_BUILDDIR" --print-errorlogs
run_suite bats "integration tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OCID_BUILDDIR="$PWD/$ASAN_BUILDDIR" OCID_SANITIZED=1 \
	bats --timing tests/integration

echo "$passed passed, $failed failed"
exit $status
