# shellcheck shell=bash
# Shared by the container suites (30-34): a local registry with the busybox,
# user and username fixtures (setup_file), a daemon per test that trusts it
# and resolves short names through it (so "busybox" in the testdata means
# 127.0.0.1:PORT/busybox:latest), a pod network of the suite's own, pods whose
# logs go under the test directory, container configs made from
# test/testdata/container_config.json, and checks that nothing of a
# container is left.

load pod_helpers
# shellcheck source-path=SCRIPTDIR source=../fixtures/registry.sh
source "$BATS_TEST_DIRNAME/../fixtures/registry.sh"

CTR_TEMPLATE=$BATS_TEST_DIRNAME/../../test/testdata/container_config.json

# For setup_file: fixtures built once per bats run, one registry per file.
ctr_setup_file() {
	fixtures_build
	registry_start ctr
	registry_push_fixtures "$REGISTRY_CTR_PORT" "$FIXTURES_DIR" busybox user username >/dev/null
}

ctr_teardown_file() {
	registry_stop_all
}

# ocid.conf: the registry is insecure and the short-name search list;
# extra TOML from $CTR_CONF_EXTRA.
write_ctr_config() {
	cat >"$TESTDIR/ocid.conf" <<EOF
[ocid.image]
insecure_registries = ["$REGISTRY_CTR_ADDR"]
registries = ["$REGISTRY_CTR_ADDR"]
${CTR_CONF_EXTRA:-}
EOF
}

# setup_ctr_env N [OCID_ARGS...]: daemon of suite N up, busybox pulled.
setup_ctr_env() {
	local n=$1
	shift
	setup_pod_env "$n"
	write_pod_cni_config
	write_ctr_config
	LOG_DIR=$TESTDIR/logs
	start_pod_ocid "$@"
	"$OCIC" image pull busybox >/dev/null
}

# ctr_pod NAME [JQ_FILTER]: a pod whose logs go to $LOG_DIR; sets POD_ID.
ctr_pod() {
	local name=$1 filter=${2:-.}
	create_pod "$name" ".log_directory = \"$LOG_DIR\" | $filter"
}

# ctr_config NAME [JQ_FILTER]: $TESTDIR/ctr-NAME.json from the template
# with metadata.name NAME and log_path NAME.log; prints the path.
ctr_config() {
	local name=$1 filter=${2:-.}
	local out=$TESTDIR/ctr-$name.json
	jq --arg n "$name" '.metadata.name = $n | .log_path = ($n + ".log")' "$CTR_TEMPLATE" |
		jq "$filter" >"$out"
	echo "$out"
}

# create_ctr NAME [JQ_FILTER]: creates it in $POD_ID; sets CTR_ID.
create_ctr() {
	local cfg
	cfg=$(ctr_config "$@")
	CTR_ID=$("$OCIC" ctr create --pod "$POD_ID" --config "$cfg")
	[ ${#CTR_ID} -eq 64 ]
}

# run_ctr NAME [JQ_FILTER]: create_ctr, then start it.
run_ctr() {
	create_ctr "$@"
	"$OCIC" ctr start "$CTR_ID" >/dev/null
}

ctr_json() { "$OCIC" -o json ctr status "$1" | jq .status; }
ctr_field() { ctr_json "$1" | jq -r "$2"; }
ctr_state() { ctr_field "$1" .state; }
ctr_info() { "$OCIC" -o json ctr status -v "$1" | jq -r .info.info; }
ctr_pid() { ctr_info "$1" | jq -r .pid; }

# wait_ctr_state ID STATE [SECONDS]: polls ContainerStatus (default 10 s).
wait_ctr_state() {
	local id=$1 want=$2 secs=${3:-10}
	for _ in $(seq 1 $((secs * 20))); do
		[ "$(ctr_state "$id")" = "$want" ] && return 0
		sleep 0.05
	done
	echo "container $id is $(ctr_state "$id"), not $want" >&2
	return 1
}

# The text of a container's log (through ocic ctr logs).
ctr_logs() { "$OCIC" ctr logs "$1" 2>&1; }

# wait_ctr_log ID TEXT [SECONDS]: until the log holds TEXT.
wait_ctr_log() {
	local id=$1 text=$2 secs=${3:-10}
	for _ in $(seq 1 $((secs * 20))); do
		[[ "$(ctr_logs "$id")" == *"$text"* ]] && return 0
		sleep 0.05
	done
	echo "log of $id lacks \"$text\":" >&2
	ctr_logs "$id" >&2
	return 1
}

# The memory cgroup directory of a running container.
ctr_memcg() {
	local pid
	pid=$(ctr_pid "$1")
	local rel
	rel=$(awk -F: '$2 == "memory" {print $3}' "/proc/$pid/cgroup")
	echo "/sys/fs/cgroup/memory$rel"
}

# Prints the gRPC code name of a failed ocic call's output.
grpc_code() {
	sed -n 's/^ocic: \([A-Z_]*\): .*/\1/p' <<<"$1" | head -n1
}

db() { sqlite3 "$TESTDIR/root/ocid.db" "$@"; }

# The container directory pool (src/ctr/dir_pool.h): spare directories in
# root/containers/.pool/ready, removed containers' ones deleted from
# .pool/trash in the background. wait_pool_trash_empty waits (5 s at most)
# until that has happened.
POOL_REL=root/containers/.pool
wait_pool_trash_empty() {
	local i
	for i in $(seq 1 100); do
		[ -z "$(ls -A "$TESTDIR/$POOL_REL/trash" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	echo "left in the pool's trash: $(ls -A "$TESTDIR/$POOL_REL/trash")" >&2
	return 1
}

# RemoveContainer returns once the runtime state and the row are gone; the
# rootfs mount, the bundle and the container directory follow on the pool's
# thread (dir_pool_defer) a moment later. wait_removed_files waits (5 s at
# most) until no bundle, container directory or rootfs mount is left without
# a row, and the trash is empty.
wait_removed_files() {
	local i ids stray
	for i in $(seq 1 100); do
		ids=$(db "SELECT id FROM containers")
		stray=$( (ls -A "$TESTDIR/run/containers" "$TESTDIR/root/containers" 2>/dev/null |
			grep -E '^[0-9a-f]{64}$'
			grep -oE " $TESTDIR/run/containers/[0-9a-f]{64}/rootfs " /proc/self/mountinfo |
			sed -E 's|.*/containers/([0-9a-f]{64})/rootfs |\1|') | sort -u |
			grep -vxF -f <(echo "$ids"; echo none) || true)
		if [ -z "$stray" ]; then
			wait_pool_trash_empty
			return
		fi
		sleep 0.05
	done
	echo "removed containers' files still there: $stray" >&2
	return 1
}

# slow_runtime_conf SECONDS: a runtime handler "slow" (runc with a state root
# of its own, $RUNC_ROOT) whose `create` sleeps SECONDS first;
# $TESTDIR/create-started and create-done mark its begin and end. It takes
# effect at the daemon's next start.
slow_runtime_conf() {
	local delay=$1
	RUNC_ROOT=$TESTDIR/slow-root
	mkdir -p "$RUNC_ROOT" "$TESTDIR/conf.d"
	cat >"$TESTDIR/slow-runc" <<EOF
#!/bin/sh
for a in "\$@"; do
	if [ "\$a" = create ]; then
		touch "$TESTDIR/create-started"
		sleep $delay
		/usr/sbin/runc "\$@"
		rc=\$?
		touch "$TESTDIR/create-done"
		exit \$rc
	fi
done
exec /usr/sbin/runc "\$@"
EOF
	chmod +x "$TESTDIR/slow-runc"
	cat >"$TESTDIR/conf.d/slow.conf" <<EOF
[ocid.runtime.runtimes.slow]
runtime_path = "$TESTDIR/slow-runc"
runtime_root = "$RUNC_ROOT"
runtime_type = "oci"
EOF
}

# slow_create_in_background NAME [JQ_FILTER]: CreateContainer NAME in a pod
# of the "slow" handler (SLOW_POD_ID), in the background (SLOW_CREATE_PID);
# returns once the runtime's create has begun. A container call is then in
# flight for the handler's delay.
slow_create_in_background() {
	local name=$1 filter=${2:-.} cfg
	rm -f "$TESTDIR/create-started" "$TESTDIR/create-done"
	cfg=$(pod_config "slowpod-$name" ".log_directory = \"$LOG_DIR\"")
	SLOW_POD_ID=$("$OCIC" pod create --runtime-handler slow --config "$cfg")
	"$OCIC" ctr create --pod "$SLOW_POD_ID" --config "$(ctr_config "$name" "$filter")" >/dev/null 2>&1 &
	SLOW_CREATE_PID=$!
	wait_marker create-started "the slow create did not begin"
}

# wait_slow_create_done: the slow runtime's create has finished.
wait_slow_create_done() {
	wait_marker create-done "the slow create did not finish"
}

# wait_marker NAME WHAT: $TESTDIR/NAME exists (10 s at most), else WHAT.
wait_marker() {
	local i
	for i in $(seq 1 400); do
		[ -e "$TESTDIR/$1" ] && return 0
		sleep 0.025
	done
	echo "$2" >&2
	return 1
}

# Nothing of container ID anywhere: mounts, bundle and container dirs,
# conmon files, runtime state, processes, database row.
assert_ctr_gone() {
	local id=$1
	wait_removed_files || return 1
	if grep -q "$id" /proc/self/mountinfo; then
		echo "mounts left for $id" >&2
		return 1
	fi
	local p
	for p in "$TESTDIR/run/containers/$id" "$TESTDIR/root/containers/$id" "$TESTDIR/run/exits/$id" \
		"$TESTDIR/run/conmon/$id" "/run/runc/$id" "${RUNC_ROOT:-/nonexistent}/$id"; do
		[ ! -e "$p" ] || { echo "left: $p" >&2; return 1; }
	done
	if pgrep -f "conmon.* -c $id" >/dev/null; then
		echo "conmon of $id still runs" >&2
		return 1
	fi
	wait_pool_trash_empty || return 1
	[ "$(db "SELECT count(*) FROM containers WHERE id = '$id'")" = 0 ] || {
		echo "row left for $id" >&2
		return 1
	}
}

# No container at all: no rows, directories, mounts or exit files.
assert_no_ctrs_left() {
	[ "$(db 'SELECT count(*) FROM containers')" = 0 ] || { echo "rows left" >&2; return 1; }
	wait_removed_files || return 1
	local d
	for d in run/containers root/containers run/exits run/conmon; do
		[ -z "$(ls -A "$TESTDIR/$d" 2>/dev/null | grep -vxE '\.pool|\.warm')" ] || {
			echo "left in $d: $(ls "$TESTDIR/$d")" >&2
			return 1
		}
	done
	wait_pool_trash_empty || return 1
	if grep " $TESTDIR/run/containers/" /proc/self/mountinfo | grep -vq " $TESTDIR/run/containers/\.warm/"; then
		echo "rootfs mounts left" >&2
		return 1
	fi
}

# Every container removed through the daemon, then the pod teardown.
teardown_ctr_env() {
	if [ -n "${OCID_PID:-}" ] && kill -0 "$OCID_PID" 2>/dev/null; then
		local id
		for id in $("$OCIC" ctr list -q 2>/dev/null); do
			"$OCIC" ctr remove "$id" >/dev/null 2>&1 || true
		done
		for id in $("$OCIC" pod list -q 2>/dev/null); do
			"$OCIC" pod remove "$id" >/dev/null 2>&1 || true
		done
		# stop gracefully so that sanitizers report
		stop_ocid || true
	fi
	# containers of a daemon that died: runtime state and conmons
	if [ -n "${TESTDIR:-}" ] && [ -d "$TESTDIR/run/containers" ]; then
		local b id
		for b in "$TESTDIR"/run/containers/*; do
			[ -d "$b" ] || continue
			id=${b##*/}
			runc ${RUNC_ROOT:+--root "$RUNC_ROOT"} delete --force "$id" >/dev/null 2>&1 || true
			crun delete --force "$id" >/dev/null 2>&1 || true
			local cpid
			cpid=$(cat "$TESTDIR/run/conmon/$id/conmon.pid" 2>/dev/null || true)
			if [ -n "$cpid" ] && grep -qs -- "$id" "/proc/$cpid/cmdline"; then
				kill -KILL "$cpid" 2>/dev/null || true
			fi
		done
	fi
	teardown_pod_env
}
