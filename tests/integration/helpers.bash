# Shared set-up for the integration suites: each test gets its own daemon on
# a temporary socket, root and CNI directory, so tests never see each other.

BUILDDIR=${OCID_BUILDDIR:-$BATS_TEST_DIRNAME/../../build}
OCID=$BUILDDIR/src/daemon/ocid
OCIC=$BUILDDIR/src/ocic/ocic
SYSTEM_PYTHON=/usr/bin/python3

setup_ocid_env() {
	TESTDIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ocid-test.XXXXXX")
	SOCK=$TESTDIR/run/ocid.sock
	CNI_DIR=$TESTDIR/cni
	mkdir -p "$CNI_DIR" "$TESTDIR/conf.d"
	: >"$TESTDIR/ocid.conf"
	OCID_ARGS=(--config "$TESTDIR/ocid.conf" --config-dir "$TESTDIR/conf.d"
		--root "$TESTDIR/root" --runroot "$TESTDIR/run" --listen "$SOCK"
		--cni-config-dir "$CNI_DIR")
	export OCID_ENDPOINT=unix://$SOCK
}

# Starts the daemon in the background and waits for its socket.
start_ocid() {
	"$OCID" "${OCID_ARGS[@]}" "$@" >"$TESTDIR/ocid.log" 2>&1 &
	OCID_PID=$!
	for _ in $(seq 1 200); do
		# The socket alone may be a stale one: wait for an answer.
		if [ -S "$SOCK" ] && "$OCIC" runtime version >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$OCID_PID" 2>/dev/null; then
			echo "ocid exited during start-up:" >&2
			cat "$TESTDIR/ocid.log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "ocid did not create $SOCK" >&2
	cat "$TESTDIR/ocid.log" >&2
	return 1
}

# Stops the daemon with SIGTERM and returns its exit status.
stop_ocid() {
	[ -n "${OCID_PID:-}" ] || return 0
	kill -TERM "$OCID_PID" 2>/dev/null || true
	local rc=0
	wait "$OCID_PID" || rc=$?
	OCID_PID=
	return $rc
}

teardown_ocid_env() {
	if [ -n "${OCID_PID:-}" ]; then
		kill -KILL "$OCID_PID" 2>/dev/null || true
		wait "$OCID_PID" 2>/dev/null || true
	fi
	if [ -n "${TESTDIR:-}" ] && [ -f "$TESTDIR/ocid.log" ]; then
		# Sanitizer reports in the daemon's log fail the test that caused them.
		if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$TESTDIR/ocid.log"; then
			cat "$TESTDIR/ocid.log" >&2
			rm -rf "$TESTDIR"
			return 1
		fi
	fi
	# A daemon killed with pods left mounts under its runroot (namespace
	# pins, the ns directory, /dev/shm tmpfs): unmount them before removing.
	if [ -n "${TESTDIR:-}" ]; then
		grep -F " $TESTDIR/" /proc/self/mountinfo | awk '{ print $5 }' | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	fi
	rm -rf "${TESTDIR:-/nonexistent}"
}

ocic() {
	"$OCIC" "$@"
}

# Writes a bridge + host-local network config with no ipMasq (tests send
# traffic only to namespaces they created).
write_test_cni_config() {
	cat >"$CNI_DIR/10-test.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "ocid-test",
  "plugins": [
    { "type": "bridge", "bridge": "ocidtest0", "isGateway": true, "ipMasq": false,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.89.0.0/24" }]] } }
  ]
}
JSON
}
