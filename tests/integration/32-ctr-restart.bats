#!/usr/bin/env bats
# Restart safety: conmon and the containers keep running while ocid is
# down; the next ocid re-attaches to each (running, exited meanwhile with
# its exit code, gone, or without its conmon) and removes what a kill -9 in
# the middle of CreateContainer left behind. Names and image holds are
# restored with the containers.

load ctr_helpers

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

setup() {
	setup_ctr_env 32
	ctr_pod keep
}

teardown() {
	teardown_ctr_env
}

restart_ocid() {
	stop_ocid
	start_pod_ocid
}

restart_ocid_kill9() {
	kill9_ocid
	start_pod_ocid
}

@test "a running container survives an ocid restart (graceful and kill -9) and is still managed" {
	run_ctr long '.command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done"]'
	wait_ctr_log "$CTR_ID" tick3
	pid=$(ctr_pid "$CTR_ID")
	started=$(ctr_field "$CTR_ID" .startedAt)
	restart_ocid
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
	[ "$(ctr_pid "$CTR_ID")" = "$pid" ]
	[ "$(ctr_field "$CTR_ID" .startedAt)" = "$started" ]
	restart_ocid_kill9
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
	[ "$(ctr_pid "$CTR_ID")" = "$pid" ]
	kill -0 "$pid"
	# the log goes on through conmon
	n=$(ctr_logs "$CTR_ID" | wc -l)
	sleep 0.5
	[ "$(ctr_logs "$CTR_ID" | wc -l)" -gt "$n" ]
	# exec, stop and remove work on it
	[ "$(ocic ctr exec "$CTR_ID" echo hi)" = hi ]
	ocic ctr stop "$CTR_ID"
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 137 ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
}

@test "crun (RuntimeClass handler): a running container survives a kill -9 restart, exits are recorded after it" {
	cfg=$(pod_config crunpod ".log_directory = \"$LOG_DIR\"")
	POD_ID=$(ocic pod create --runtime-handler crun --config "$cfg")
	run_ctr c1 '.command = ["sleep", "1000"]'
	c1=$CTR_ID
	run_ctr c2 '.command = ["sh", "-c", "sleep 1; exit 6"]'
	c2=$CTR_ID
	pid=$(ctr_pid "$c1")
	kill9_ocid
	sleep 1.5
	start_pod_ocid
	[ "$(ctr_state "$c1")" = CONTAINER_RUNNING ]
	[ "$(ctr_pid "$c1")" = "$pid" ]
	[ "$(ctr_field "$c2" .exitCode)" = 6 ]
	[ "$(ocic ctr exec "$c1" echo hi)" = hi ]
	ocic ctr stop "$c1"
	[ "$(ctr_field "$c1" .exitCode)" = 137 ]
	ocic pod remove "$POD_ID"
	assert_ctr_gone "$c1"
	assert_ctr_gone "$c2"
	! crun state "$c1" 2>/dev/null
}

@test "exits are recorded by the new ocid: while it was down (with the code), and after it started" {
	run_ctr down '.command = ["sh", "-c", "sleep 1; exit 7"]'
	down=$CTR_ID
	run_ctr later '.command = ["sh", "-c", "sleep 4; exit 9"]'
	later=$CTR_ID
	run_ctr before '.command = ["sh", "-c", "exit 5"]'
	before=$CTR_ID
	wait_ctr_state "$before" CONTAINER_EXITED
	before_fin=$(ctr_field "$before" .finishedAt)
	kill9_ocid
	sleep 2
	start_pod_ocid
	st=$(ctr_json "$down")
	[ "$(jq -r .state <<<"$st")" = CONTAINER_EXITED ]
	[ "$(jq -r .exitCode <<<"$st")" = 7 ]
	[ "$(jq -r .reason <<<"$st")" = Error ]
	fin=$(jq -r .finishedAt <<<"$st")
	[ "$fin" -gt "$(jq -r .startedAt <<<"$st")" ]
	[ "$fin" -lt "$(date +%s%N)" ]
	# exited before the restart: unchanged
	[ "$(ctr_field "$before" .exitCode)" = 5 ]
	[ "$(ctr_field "$before" .finishedAt)" = "$before_fin" ]
	# still running at the restart, exits under the new ocid
	[ "$(ctr_state "$later")" = CONTAINER_RUNNING ]
	wait_ctr_state "$later" CONTAINER_EXITED 10
	[ "$(ctr_field "$later" .exitCode)" = 9 ]
}

@test "a container gone while ocid was down, or left without its conmon, is recorded as exited with an error" {
	run_ctr gone '.command = ["sleep", "1000"]'
	gone=$CTR_ID
	run_ctr orphan '.command = ["sleep", "1000"]'
	orphan=$CTR_ID
	opid=$(ctr_pid "$orphan")
	kill9_ocid
	# gone: the runtime forgets it, its conmon goes
	runc delete --force "$gone"
	for _ in $(seq 1 100); do
		[ -e "$TESTDIR/run/exits/$gone" ] && break
		sleep 0.05
	done
	rm -f "$TESTDIR/run/exits/$gone" "$TESTDIR/run/conmon/$gone/exit"
	# orphan: its conmon is killed, the container runs on unmonitored
	cpid=$(cat "$TESTDIR/run/conmon/$orphan/conmon.pid")
	grep -q -- "$orphan" "/proc/$cpid/cmdline"
	kill -KILL "$cpid"
	start_pod_ocid
	st=$(ctr_json "$gone")
	[ "$(jq -r .state <<<"$st")" = CONTAINER_EXITED ]
	[ "$(jq -r .reason <<<"$st")" = Error ]
	[[ "$(jq -r .message <<<"$st")" == *gone* ]]
	st=$(ctr_json "$orphan")
	[ "$(jq -r .state <<<"$st")" = CONTAINER_EXITED ]
	[ "$(jq -r .reason <<<"$st")" = Error ]
	[[ "$(jq -r .message <<<"$st")" == *conmon* ]]
	! kill -0 "$opid" 2>/dev/null
	# both can be removed
	ocic ctr remove "$gone"
	ocic ctr remove "$orphan"
	assert_no_ctrs_left
}

@test "names, image holds and the pod hooks are restored" {
	run_ctr held '.command = ["sleep", "1000"]'
	held=$CTR_ID
	restart_ocid_kill9
	run ocic ctr create --pod "$POD_ID" --config "$(ctr_config held)"
	[ "$status" -eq 1 ]
	[ "$(grpc_code "$output")" = ALREADY_EXISTS ]
	[[ "$output" == *"$held"* ]]
	run ocic image remove busybox
	[ "$status" -eq 1 ]
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	ocic pod stop "$POD_ID"
	[ "$(ctr_state "$held")" = CONTAINER_EXITED ]
	ocic pod remove "$POD_ID"
	assert_ctr_gone "$held"
	ocic image remove busybox
}

@test "kill -9 of ocid during CreateContainer leaves nothing behind after the restart" {
	# a runtime handler whose `create` is slow: the kill lands in the middle
	slow_runtime_conf 1.5
	stop_ocid
	start_pod_ocid
	slow_create_in_background victim
	kill9_ocid
	wait "$SLOW_CREATE_PID" || true
	id=$(db "SELECT id FROM containers")
	[ ${#id} -eq 64 ]
	[ "$(db "SELECT state FROM containers")" = creating ]
	grep -q " $TESTDIR/run/containers/$id/rootfs " /proc/self/mountinfo
	# the runtime finishes what conmon started
	wait_slow_create_done
	start_pod_ocid
	[ -z "$(ocic ctr list -q)" ]
	assert_ctr_gone "$id"
	assert_no_ctrs_left
	[ -z "$(runc --root "$RUNC_ROOT" list -q)" ]
	[ ! -e "$LOG_DIR/victim.log" ]
	grep -q "removing a container that cannot be restored" "$TESTDIR/ocid.log"
	# the name is free again (in the same pod)
	POD_ID=$SLOW_POD_ID
	create_ctr victim
	ocic ctr remove "$CTR_ID"
}
