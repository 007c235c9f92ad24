#!/usr/bin/env bats
# Container directories made ahead and deleted behind (src/ctr/dir_pool.h):
# CreateContainer takes a spare directory; RemoveContainer leaves the
# container's rootfs mount, bundle and directory to the pool's thread, which
# deletes them whatever the container wrote; an image removed right after is
# not held by them; without spares create makes its own; spares survive a
# restart and what a crash leaves (in the pool, or of a removal) is cleaned at
# the next start; the daemon's threads carry names that say what they do.

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

POOL() { echo "$TESTDIR/$POOL_REL"; }

# wait_ready N: N spare directories ready (5 s at most).
wait_ready() {
	local n=$1 i
	for i in $(seq 1 100); do
		[ "$(ls -A "$(POOL)/ready" | wc -l)" = "$n" ] && return 0
		sleep 0.05
	done
	echo "ready: $(ls -A "$(POOL)/ready" | wc -l), wanted $n" >&2
	return 1
}

@test "create takes a spare directory (refilled behind); remove moves it away and deletes it behind, never following links" {
	CTR_CONF_EXTRA=$'[ocid.runtime]\nspare_container_dirs = 3'
	setup_ctr_env 35
	ctr_pod pool
	wait_ready 3
	spare_inodes=$(stat -c %i "$(POOL)"/ready/*)
	sentinel=$TESTDIR/sentinel
	mkdir "$sentinel"
	echo keep >"$sentinel/file"
	# many files and links to host paths in the container's upper dir
	run_ctr writer ".command = [\"sh\", \"-c\", \"mkdir /data && i=0; while [ \$i -lt 2000 ]; do echo \$i > /data/f\$i; i=\$((i+1)); done; ln -s $sentinel /data/link; ln -s / /data/root; echo done\"]"
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 0 ]
	dir=$TESTDIR/root/containers/$CTR_ID
	# it is one of the spares
	echo "$spare_inodes" | grep -qx "$(stat -c %i "$dir")"
	[ -f "$dir/termination-log" ]
	[ "$(ls "$dir/upper/data" | wc -l)" = 2002 ]
	wait_ready 3

	ocic ctr remove "$CTR_ID"
	wait_removed_files
	[ ! -e "$dir" ]
	assert_ctr_gone "$CTR_ID"
	[ "$(cat "$sentinel/file")" = keep ]
	[ -d /etc ] && [ -f /etc/passwd ]
}

@test "without spares (spare_container_dirs = 0) create makes the directory itself; the termination message works either way" {
	CTR_CONF_EXTRA=$'[ocid.runtime]\nspare_container_dirs = 0'
	setup_ctr_env 35
	ctr_pod nospare
	[ -z "$(ls -A "$(POOL)/ready")" ]
	run_ctr msg '.command = ["sh", "-c", "echo bye > /dev/termination-log; exit 3"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = bye ]
	[ -z "$(ls -A "$(POOL)/ready")" ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
}

@test "a spare directory gives the same termination message and user as a made one" {
	CTR_CONF_EXTRA=$'[ocid.runtime]\nspare_container_dirs = 2'
	setup_ctr_env 35
	ctr_pod spare
	wait_ready 2
	run_ctr msg '.command = ["sh", "-c", "echo bye-$(id -u) > /dev/termination-log; exit 3"] | .linux.security_context.run_as_user = {"value": 1234}'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = bye-1234 ]
	[ "$(stat -c %u "$TESTDIR/root/containers/$CTR_ID/termination-log")" = 1234 ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
}

@test "spares are kept across a restart; a crash's leftovers in the pool are removed at the next start" {
	CTR_CONF_EXTRA=$'[ocid.runtime]\nspare_container_dirs = 4'
	setup_ctr_env 35
	wait_ready 4
	before=$(ls "$(POOL)/ready" | sort)
	kill9_ocid
	# what a kill -9 can leave: a half-made spare, undeleted trash
	mkdir -p "$(POOL)/tmp-999/upper" "$(POOL)/trash/12345/upper/deep/er"
	echo x >"$(POOL)/trash/12345/upper/deep/er/f"
	ln -s /etc "$(POOL)/trash/12345/upper/etc-link"
	start_pod_ocid
	wait_pool_trash_empty
	[ ! -e "$(POOL)/tmp-999" ]
	[ -f /etc/passwd ]
	wait_ready 4
	[ "$(ls "$(POOL)/ready" | sort)" = "$before" ]
	# and a new container still gets one
	ctr_pod after
	run_ctr c '.command = ["true"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
}

# A CreateContainer in flight (a runtime handler whose create is slow) keeps
# the pool's thread from deferred work for up to a second, so what
# RemoveContainer left is still there when the next commands run. It uses
# another image than busybox, which the test removes.
@test "RemoveContainer leaves the rootfs and directories to the pool: an image removed right after is not held; a kill -9 before they go is swept at the next start" {
	setup_ctr_env 35
	slow_runtime_conf 8
	stop_ocid
	start_pod_ocid
	ocic image pull user >/dev/null
	ctr_pod later
	slow_create_in_background held '.image.image = "user" | .linux.security_context.run_as_user = {"value": 0}'
	run_ctr gone '.command = ["sleep", "1000"]'
	gone=$CTR_ID
	ocic ctr stop "$gone"
	ocic ctr remove "$gone"
	# its files had not gone yet, and still the image it held goes
	grep -q " $TESTDIR/run/containers/$gone/rootfs " /proc/self/mountinfo
	ocic image remove busybox
	assert_ctr_gone "$gone"

	ocic image pull busybox >/dev/null
	run_ctr late '.command = ["sleep", "1000"]'
	late=$CTR_ID
	ocic ctr stop "$late"
	ocic ctr remove "$late"
	grep -q " $TESTDIR/run/containers/$late/rootfs " /proc/self/mountinfo
	[ -d "$TESTDIR/root/containers/$late" ]
	[ ! -e "$TESTDIR/create-done" ] # the slow create was in flight all along
	kill9_ocid
	wait "$SLOW_CREATE_PID" || true
	wait_slow_create_done
	start_pod_ocid
	[ -z "$(ocic ctr list -q | grep -x "$late")" ]
	assert_ctr_gone "$late"
	grep -q "removing a stale container directory" "$TESTDIR/ocid.log"
}

@test "ocid's threads are named after their job (workers, exit watcher, directory pool)" {
	setup_ctr_env 35
	names=$(cat /proc/"$OCID_PID"/task/*/comm | sort -u)
	echo "$names" | grep -qx ocid-worker
	echo "$names" | grep -qx ocid-exits
	echo "$names" | grep -qx ocid-dirpool
}
