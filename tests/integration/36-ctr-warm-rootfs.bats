#!/usr/bin/env bats
# Rootfs mounted ahead (src/ctr/container_warm.c): once ocid is quiet after
# creates of an image, the directory pool's thread mounts as many rootfs of
# that image as the last burst used, under a fresh container id, and the
# next CreateContainer of it takes one (its id, its mount, its upper dir);
# a burst is matched; nothing is mounted ahead while a call is in flight,
# but a stop that waits out its grace period holds the pool only at first;
# RemoveImage drops them and is not refused for them; warm_rootfs = 0 turns
# it off; a kill -9 leaves them to the next start, which removes them, and
# a clean stop leaves none.

load ctr_helpers

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

teardown() {
	teardown_ctr_env
}

WARM_RUN() { echo "$TESTDIR/run/containers/.warm"; }
WARM_ROOT() { echo "$TESTDIR/root/containers/.warm"; }

# The ids of the sets mounted ahead (a directory with its rootfs mounted).
warm_ids() {
	grep -oE " $(WARM_RUN)/[0-9a-f]{64}/rootfs " /proc/self/mountinfo |
		sed -E 's|.*/([0-9a-f]{64})/rootfs |\1|' | sort
}

# wait_warm N: N sets mounted ahead, each with its directory (5 s at most).
wait_warm() {
	local n=$1 i id ok
	for i in $(seq 1 100); do
		if [ "$(warm_ids | grep -c .)" = "$n" ]; then
			ok=1
			for id in $(warm_ids); do
				[ -d "$(WARM_ROOT)/$id/upper" ] && [ -d "$(WARM_ROOT)/$id/work" ] || ok=
			done
			[ -n "$ok" ] && return 0
		fi
		sleep 0.05
	done
	echo "mounted ahead: $(warm_ids | grep -c .), wanted $n" >&2
	return 1
}

@test "after a create, a rootfs of its image is mounted ahead; the next create takes it: its id, its mount, its own upper dir" {
	setup_ctr_env 36
	ctr_pod warm
	sleep 0.3
	[ -z "$(warm_ids)" ] # nothing before any create
	run_ctr first '.command = ["sleep", "1000"]'
	first=$CTR_ID
	wait_warm 1
	ready=$(warm_ids)
	[ -f "$(WARM_ROOT)/$ready/termination-log" ]
	[ -e "$(WARM_RUN)/$ready/rootfs/bin/sh" ] # the image's files

	run_ctr second '.command = ["sh", "-c", "echo hi > /made-here; sleep 1000"]'
	[ "$CTR_ID" = "$ready" ]
	grep -q " $TESTDIR/run/containers/$CTR_ID/rootfs " /proc/self/mountinfo
	[ ! -e "$(WARM_RUN)/$ready" ] && [ ! -e "$(WARM_ROOT)/$ready" ]
	for _ in $(seq 1 100); do
		[ -f "$TESTDIR/root/containers/$CTR_ID/upper/made-here" ] && break
		sleep 0.05
	done
	[ "$(cat "$TESTDIR/root/containers/$CTR_ID/upper/made-here")" = hi ]
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
	[ "$(ctr_field "$CTR_ID" .imageRef)" = "$(ctr_field "$first" .imageRef)" ]
	# refilled with a new one
	wait_warm 1
	[ "$(warm_ids)" != "$ready" ]

	for id in "$first" "$CTR_ID"; do
		ocic ctr stop --timeout 0 "$id"
		ocic ctr remove "$id"
		assert_ctr_gone "$id"
	done
}

@test "a burst is matched (four creates, four ready), and nothing is mounted ahead while a call is in flight" {
	setup_ctr_env 36
	slow_runtime_conf 4
	stop_ocid
	start_pod_ocid
	ctr_pod burst
	# a create in flight for 4 s (of the same image)
	slow_create_in_background held
	ids=()
	for n in a b c; do
		create_ctr "$n" '.command = ["sleep", "1000"]'
		ids+=("$CTR_ID")
	done
	sleep 1.2 # longer than deferred work may wait: this kind never runs while busy
	[ -z "$(warm_ids)" ]
	[ ! -e "$TESTDIR/create-done" ] # the slow create was in flight all along
	wait "$SLOW_CREATE_PID"
	wait_warm 4
	for id in "${ids[@]}"; do
		ocic ctr remove "$id"
		assert_ctr_gone "$id"
	done
}

@test "a stop that waits out its grace period holds the pool only for its first second: a rootfs is mounted ahead while it waits" {
	setup_ctr_env 36
	ctr_pod grace
	run_ctr slow '.command = ["sh", "-c", "trap \"touch /got-term\" TERM; while true; do sleep 0.1; done"]'
	slow=$CTR_ID
	wait_warm 1
	"$OCIC" ctr stop --timeout 60 "$slow" >/dev/null 2>&1 &
	stopping=$!
	for _ in $(seq 1 100); do
		[ -e "$TESTDIR/root/containers/$slow/upper/got-term" ] && break
		sleep 0.05
	done
	[ -e "$TESTDIR/root/containers/$slow/upper/got-term" ]
	create_ctr next '.command = ["sleep", "1000"]'
	next=$CTR_ID
	wait_warm 1
	kill -0 "$stopping" # the stop still waits
	[ "$(ctr_state "$slow")" = CONTAINER_RUNNING ]
	kill -KILL "$(ctr_pid "$slow")"
	wait "$stopping"
	for id in "$slow" "$next"; do
		ocic ctr remove "$id"
		assert_ctr_gone "$id"
	done
}

@test "RemoveImage unmounts the image's rootfs mounted ahead and is not refused for them; warm_rootfs = 0 mounts none" {
	setup_ctr_env 36
	ctr_pod img
	run_ctr c '.command = ["true"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	wait_warm 1
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
	ocic image remove busybox
	[ -z "$(warm_ids)" ]
	[ -z "$(ls -A "$(WARM_RUN)")" ]
	[ -z "$(ocic image list -q)" ]
	# and it comes back when the image is used again
	ocic image pull busybox >/dev/null
	run_ctr again '.command = ["true"]'
	wait_warm 1
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"

	stop_ocid
	CTR_CONF_EXTRA=$'[ocid.runtime]\nwarm_rootfs = 0'
	write_ctr_config
	start_pod_ocid
	run_ctr off '.command = ["true"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	sleep 0.5
	[ -z "$(warm_ids)" ]
	[ ! -e "$(WARM_RUN)" ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
}

@test "a kill -9 leaves the rootfs mounted ahead to the next start, which removes them; a clean stop leaves none" {
	setup_ctr_env 36
	ctr_pod crash
	run_ctr c '.command = ["true"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	wait_warm 1
	left=$(warm_ids)
	kill9_ocid
	grep -q " $(WARM_RUN)/$left/rootfs " /proc/self/mountinfo
	start_pod_ocid
	! grep -q "$left" /proc/self/mountinfo
	[ ! -e "$(WARM_RUN)/$left" ]
	wait_pool_trash_empty
	[ ! -e "$(WARM_ROOT)/$left" ]
	grep -q "warm rootfs left by an earlier run removed" "$TESTDIR/ocid.log"
	# the container itself is kept
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_EXITED ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"

	run_ctr d '.command = ["true"]'
	wait_warm 1
	ocic ctr remove "$CTR_ID"
	stop_ocid
	[ -z "$(warm_ids)" ]
	[ ! -e "$(WARM_RUN)" ] && [ ! -e "$(WARM_ROOT)" ]
}
