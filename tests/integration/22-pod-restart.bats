#!/usr/bin/env bats
# Pods survive a restart of ocid (SIGKILL or SIGTERM): status and list are
# identical afterwards and the network still works; what cannot be restored
# is NOTREADY and still stops and removes cleanly; name reservations follow
# the pods; a crash in the middle of RunPodSandbox is undone at start-up.

load pod_helpers

setup() {
	setup_pod_env 22
	write_pod_cni_config
	start_pod_ocid
}

teardown() {
	teardown_pod_env
}

# Everything the CRI reports about the pods, for comparison.
snapshot() {
	ocic -o json pod list | jq -S '.items | sort_by(.id)'
	for id in $(ocic pod list -q | sort); do
		ocic -o json pod status -v "$id" | jq -S .
	done
}

restart_check() {
	local how=$1
	create_pod shared-pid
	a=$POD_ID
	create_pod own-pid '.linux.security_context.namespace_options.pid = "CONTAINER" | .port_mappings = [{"container_port": 80, "host_port": 18622}]'
	b=$POD_ID
	pause=$(pod_info "$a" | jq -r .pid)
	snapshot >"$TESTDIR/before"
	if [ "$how" = kill ]; then
		kill9_ocid
	else
		stop_ocid
	fi
	kill -0 "$pause"
	start_pod_ocid
	snapshot >"$TESTDIR/after"
	diff "$TESTDIR/before" "$TESTDIR/after"
	[ "$(pod_state "$a")" = SANDBOX_READY ]
	[ "$(pod_state "$b")" = SANDBOX_READY ]
	nsenter --net="$(pod_netns "$a")" busybox ping -c1 -W2 "$(pod_ip "$b")"
	nsenter --net="$(pod_netns "$b")" busybox ping -c1 -W2 "$(pod_ip "$a")"
	# ocid-pause is no longer ocid's child: stop still ends it.
	ocic pod stop "$a"
	proc_gone "$pause"
	ocic pod remove "$a"
	ocic pod remove "$b"
	assert_pod_gone "$a" shared-pid
	assert_pod_gone "$b" own-pid
	assert_no_pods_left
}

@test "pods survive kill -9 of ocid: identical status and list, working network, clean removal" {
	restart_check kill
}

@test "pods survive a SIGTERM restart of ocid likewise" {
	restart_check term
}

@test "a pod whose network namespace is gone after a restart is NOTREADY; stop and remove still work" {
	create_pod lost
	id=$POD_ID
	ip=$(pod_ip "$id")
	kill9_ocid
	# As after a reboot: the pin is gone (the network namespace with it).
	umount "$TESTDIR/run/ns/$id/net"
	start_pod_ocid
	[ "$(pod_state "$id")" = SANDBOX_NOTREADY ]
	[[ "$(pod_info "$id" | jq -r .reason)" == *"net namespace gone"* ]]
	[ "$(ocic pod list -q --state notready)" = "$id" ]
	[ "$(pod_ip "$id")" = "" ]
	[ "$(ipam_reservations)" = "$ip" ]
	run ocic pod stop "$id"
	[ "$status" -eq 0 ]
	[ -z "$(ipam_reservations)" ]
	run ocic pod remove "$id"
	[ "$status" -eq 0 ]
	assert_pod_gone "$id" lost
	assert_no_pods_left
}

@test "a pod whose ocid-pause died while ocid was down is NOTREADY after the restart" {
	create_pod nopause
	id=$POD_ID
	pause=$(pod_info "$id" | jq -r .pid)
	kill9_ocid
	kill -KILL "$pause"
	for _ in $(seq 1 100); do
		proc_gone "$pause" && break
		sleep 0.05
	done
	start_pod_ocid
	[ "$(pod_state "$id")" = SANDBOX_NOTREADY ]
	[[ "$(pod_info "$id" | jq -r .reason)" == *"ocid-pause"* ]]
	ocic pod remove "$id"
	assert_pod_gone "$id" nopause
	assert_no_pods_left
}

@test "name reservations are restored with the pods and released by remove" {
	cfg=$(pod_config dup)
	id=$(ocic pod create --config "$cfg")
	kill9_ocid
	start_pod_ocid
	run ocic pod create --config "$cfg"
	[ "$status" -ne 0 ]
	[[ "$output" == *ALREADY_EXISTS* ]]
	[[ "$output" == *"$id"* ]]
	ocic pod remove "$id"
	stop_ocid
	start_pod_ocid
	run ocic pod create --config "$cfg"
	[ "$status" -eq 0 ]
}

@test "a crash in the middle of RunPodSandbox is undone when ocid starts again" {
	# A plugin whose ADD hangs until the test lets it go (after the crash).
	cat >"$PLUGIN_DIR/ocid-test-hang" <<EOF
#!/bin/sh
input=\$(cat)
if [ "\$CNI_COMMAND" = ADD ] && [ -e "$TESTDIR/hang" ]; then
	echo \$\$ >"$TESTDIR/hang.pid"
	while [ -e "$TESTDIR/hang" ]; do sleep 0.05; done
	exit 1
fi
if [ "\$CNI_COMMAND" = ADD ]; then printf '%s' "\$input" | jq -c .prevResult; fi
exit 0
EOF
	chmod +x "$PLUGIN_DIR/ocid-test-hang"
	write_pod_cni_config '{ "type": "ocid-test-hang" }'
	touch "$TESTDIR/hang"
	cfg=$(pod_config crash)
	"$OCIC" pod create --config "$cfg" >"$TESTDIR/create.out" 2>&1 &
	client=$!
	for _ in $(seq 1 100); do
		[ -s "$TESTDIR/hang.pid" ] && break
		sleep 0.05
	done
	[ -s "$TESTDIR/hang.pid" ]
	# bridge has run: an IP is reserved and a veth exists.
	[ -n "$(ipam_reservations)" ]
	id=$(ls "$TESTDIR/run/pods")
	[ ${#id} -eq 64 ]
	kill9_ocid
	wait "$client" || true
	rm -f "$TESTDIR/hang"
	start_pod_ocid
	grep -q "was being created when ocid stopped" "$TESTDIR/ocid.log"
	[ -z "$(ocic pod list -q)" ]
	assert_pod_gone "$id" crash
	assert_no_pods_left
	# The name was released.
	run ocic pod create --config "$cfg"
	[ "$status" -eq 0 ]
}
