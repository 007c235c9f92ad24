#!/usr/bin/env bats
# The walk-through of the original cri-o README, run as written with our
# test/testdata (IDs are positional arguments in ocic rather than --id):
#
#   ocic image pull busybox
#   ocic pod create --config test/testdata/sandbox_config.json
#   ocic ctr create --pod <pod> --config test/testdata/container_config.json
#   ocic ctr start <ctr>
#   ocic ctr status <ctr>
#   ocic ctr stop <ctr>
#   ocic ctr remove <ctr>
#   ocic pod stop <pod>
#   ocic pod remove <pod>
#   ocic pod list
#   ocic ctr list
#
# "busybox" resolves through the daemon's short-name search list, which
# names the test registry (ctr_helpers.bash), so the testdata is unchanged.
# The testdata's pod logs to /tmp: the container's log is /tmp/busybox.0.log.

load ctr_helpers

TESTDATA=$BATS_TEST_DIRNAME/../../test/testdata

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

setup() {
	setup_pod_env 34
	write_pod_cni_config
	write_ctr_config
	start_pod_ocid
	rm -f /tmp/busybox.0.log /tmp/busybox-user.0.log
}

teardown() {
	teardown_ctr_env
	rm -f /tmp/busybox.0.log /tmp/busybox-user.0.log
}

@test "the cri-o README walk-through runs as written with test/testdata" {
	run ocic image pull busybox
	[ "$status" -eq 0 ]

	run ocic pod create --config "$TESTDATA/sandbox_config.json"
	[ "$status" -eq 0 ]
	pod=$output
	[[ "$pod" =~ ^[0-9a-f]{64}$ ]]
	run ocic pod list
	[[ "$output" == *"${pod:0:13}"*Ready*podsandbox1* ]]

	run ocic ctr create --pod "$pod" --config "$TESTDATA/container_config.json"
	[ "$status" -eq 0 ]
	ctr=$output
	[[ "$ctr" =~ ^[0-9a-f]{64}$ ]]

	run ocic ctr start "$ctr"
	[ "$status" -eq 0 ]
	[ "$output" = "$ctr" ]

	run ocic ctr status "$ctr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Name:  busybox"* ]]
	[[ "$output" == *"State:  Running"* ]]
	[[ "$output" == *"Image:  busybox"* ]]
	[[ "$output" == *"Log path:  /tmp/busybox.0.log"* ]]
	[[ "$output" == *"tier: test"* ]]
	# the command of the testdata: echo hello; sleep 1000
	wait_ctr_log "$ctr" hello
	grep -q ' stdout F hello$' /tmp/busybox.0.log
	# its resources, as the testdata asks: 256 MiB, 0.5 CPU
	cg=$(ctr_memcg "$ctr")
	[ "$(cat "$cg/memory.limit_in_bytes")" = 268435456 ]
	[ "$(cat "${cg/memory/cpu}/cpu.cfs_quota_us")" = 50000 ]
	[[ "$cg" == */ocid-test/pod_123-456/ocid-$ctr ]]

	run ocic ctr stop "$ctr"
	[ "$status" -eq 0 ]
	run ocic ctr status "$ctr"
	[[ "$output" == *"State:  Exited"* ]]
	[[ "$output" == *"Exit code:  137"* ]]

	run ocic ctr remove "$ctr"
	[ "$status" -eq 0 ]
	run ocic pod stop "$pod"
	[ "$status" -eq 0 ]
	run ocic pod remove "$pod"
	[ "$status" -eq 0 ]

	run ocic pod list
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 1 ] # the header alone
	run ocic ctr list
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 1 ]
	assert_ctr_gone "$ctr"
	assert_no_ctrs_left
	assert_pod_gone "$pod"
	[ ! -d /sys/fs/cgroup/memory/ocid-test/pod_123-456 ]
}

@test "the walk-through without stopping first: pod stop and remove take the running container along" {
	ocic image pull busybox >/dev/null
	pod=$(ocic pod create --config "$TESTDATA/sandbox_config.json")
	ctr=$(ocic ctr create --pod "$pod" --config "$TESTDATA/container_config.json")
	ocic ctr start "$ctr"
	ocic pod stop "$pod"
	[ "$(ctr_state "$ctr")" = CONTAINER_EXITED ]
	ocic pod remove "$pod"
	[ -z "$(ocic ctr list -q)" ]
	[ -z "$(ocic pod list -q)" ]
	assert_ctr_gone "$ctr"
	assert_no_ctrs_left
}

@test "test/testdata/container_config_user.json: the image's user, read-only rootfs, no capabilities" {
	ocic image pull busybox >/dev/null
	ocic image pull username >/dev/null
	pod=$(ocic pod create --config "$TESTDATA/sandbox_config.json")
	ctr=$(ocic ctr create --pod "$pod" --config "$TESTDATA/container_config_user.json")
	ocic ctr start "$ctr"
	wait_ctr_log "$ctr" "app in /home/app"
	[ "$(ocic ctr exec "$ctr" -- sh -c 'grep CapEff /proc/self/status; touch /x 2>&1 || true')" = \
		"$(printf 'CapEff:\t0000000000000000\ntouch: /x: Read-only file system')" ]
	ocic ctr stop "$ctr"
	ocic pod remove "$pod"
	rm -f /tmp/busybox-user.0.log
	assert_ctr_gone "$ctr"
}
