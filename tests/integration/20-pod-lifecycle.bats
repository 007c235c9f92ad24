#!/usr/bin/env bats
# Pod sandbox lifecycle: RunPodSandbox builds a pod (pinned namespaces,
# hostname, DNS files, sysctls, /dev/shm, cgroups, ocid-pause for a shared
# PID namespace), Status and List report it, Stop and Remove are idempotent
# and leave nothing behind.

load pod_helpers

setup() {
	setup_pod_env 20
	write_pod_cni_config
	start_pod_ocid
}

teardown() {
	teardown_pod_env
}

@test "ocic pod create --config test/testdata/sandbox_config.json gives a ready pod (README walk-through)" {
	run ocic pod create --config "$POD_TEMPLATE"
	[ "$status" -eq 0 ]
	id=$output
	[[ "$id" =~ ^[0-9a-f]{64}$ ]]
	run ocic pod list
	[ "$status" -eq 0 ]
	[[ "$output" == *"${id:0:13}"*"Ready"*"podsandbox1"*"ocid.test"*"1"*"(default)"* ]]
	run ocic pod status "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"State:"*"Ready"* ]]
	[[ "$output" == *"IP:"*"$POD_SUBNET_PREFIX."* ]]
	ocic pod stop "$id"
	ocic pod remove "$id"
	[ -z "$(ocic pod list -q)" ]
	assert_pod_gone "$id"
	assert_no_pods_left
}

@test "status reports metadata, state, created_at, IP, namespace options, labels, annotations and verbose info" {
	before=$(date +%s%N)
	create_pod web '.annotations.extra = "yes"'
	after=$(date +%s%N)
	run ocic -o json pod status -v "$POD_ID"
	[ "$status" -eq 0 ]
	st=$(echo "$output" | jq .status)
	[ "$(echo "$st" | jq -r .id)" = "$POD_ID" ]
	[ "$(echo "$st" | jq -r .metadata.name)" = web ]
	[ "$(echo "$st" | jq -r .metadata.namespace)" = ocid.test ]
	[ "$(echo "$st" | jq -r .metadata.uid)" = "uid-web-$$" ]
	[ "$(echo "$st" | jq -r .metadata.attempt)" = 1 ]
	[ "$(echo "$st" | jq -r .state)" = SANDBOX_READY ]
	created=$(echo "$st" | jq -r .createdAt)
	[ "$created" -ge "$before" ] && [ "$created" -le "$after" ]
	[[ "$(echo "$st" | jq -r .network.ip)" == "$POD_SUBNET_PREFIX".* ]]
	[ "$(echo "$st" | jq -r '.linux.namespaces.options | "\(.network) \(.pid) \(.ipc)"')" = "POD POD POD" ]
	[ "$(echo "$st" | jq -r .labels.group)" = test ]
	[ "$(echo "$st" | jq -r .annotations.owner)" = ocid-tests ]
	[ "$(echo "$st" | jq -r .annotations.extra)" = yes ]
	[ "$(echo "$st" | jq -r .runtimeHandler)" = "" ]
	info=$(echo "$output" | jq -r .info.info)
	[ "$(echo "$info" | jq -r .netns)" = "$TESTDIR/run/ns/$POD_ID/net" ]
	[ "$(echo "$info" | jq -r .namespaces.ipc)" = "$TESTDIR/run/ns/$POD_ID/ipc" ]
	[ "$(echo "$info" | jq -r .cgroup)" = "/$CG_ROOT/pod-web" ]
	[ "$(echo "$info" | jq -r .runtimeName)" = runc ]
	[ "$(echo "$info" | jq -r .cniNetwork)" = "ocid-pods-20" ]
	[ "$(echo "$info" | jq -r '.cniResult.ips[0].address')" = "$(echo "$st" | jq -r .network.ip)/24" ]
	pid=$(echo "$info" | jq -r .pid)
	[ "$pid" -gt 0 ]
	# Without --verbose there is no info.
	[ "$(ocic -o json pod status "$POD_ID" | jq -r '.info | length')" = 0 ]
	# A unique prefix works too.
	[ "$(ocic -o json pod status "${POD_ID:0:12}" | jq -r .status.id)" = "$POD_ID" ]
}

@test "the pod has its hostname, DNS files, sysctls, /dev/shm and pinned namespaces" {
	create_pod dnspod '.hostname = "web-1" | .linux.sysctls = {"net.core.somaxconn": "1234", "kernel.shmmni": "2048"}
		| .dns_config = {"servers": ["10.96.0.10", "fd00::10"], "searches": ["ns1.svc.cluster.local", "cluster.local"], "options": ["ndots:5", "edns0"]}'
	ns=$TESTDIR/run/ns/$POD_ID
	dir=$TESTDIR/run/pods/$POD_ID
	[ "$(nsenter --uts="$ns/uts" hostname)" = web-1 ]
	[ "$(hostname)" != web-1 ]
	[ "$(nsenter --net="$ns/net" cat /proc/sys/net/core/somaxconn)" = 1234 ]
	[ "$(cat /proc/sys/net/core/somaxconn)" != 1234 ]
	[ "$(nsenter --ipc="$ns/ipc" cat /proc/sys/kernel/shmmni)" = 2048 ]
	[ "$(nsenter --net="$ns/net" ip -o link show lo | grep -c 'state UNKNOWN\|,UP')" = 1 ]
	printf 'nameserver 10.96.0.10\nnameserver fd00::10\nsearch ns1.svc.cluster.local cluster.local\noptions ndots:5 edns0\n' >"$TESTDIR/want"
	diff "$TESTDIR/want" "$dir/resolv.conf"
	[ "$(cat "$dir/hostname")" = web-1 ]
	ip=$(pod_ip "$POD_ID")
	grep -qxF "$(printf '%s\tweb-1' "$ip")" "$dir/hosts"
	grep -q '^127.0.0.1' "$dir/hosts"
	# /dev/shm: a tmpfs of its own.
	[ "$(stat -f -c %T "$dir/shm")" = tmpfs ]
	[ "$(stat -c %a "$dir/shm")" = 1777 ]
	# Pins are nsfs bind mounts.
	for t in net ipc uts pid; do
		grep -q " $ns/$t " /proc/self/mountinfo
	done
	# The pod cgroup exists in every hierarchy, and ocid-pause is in its leaf.
	assert_cgroup_everywhere "/$CG_ROOT/pod-dnspod"
	pid=$(pod_info "$POD_ID" | jq -r .pid)
	grep -q "memory:/$CG_ROOT/pod-dnspod/ocid-$POD_ID" "/proc/$pid/cgroup"
	[ "$(readlink "/proc/$pid/ns/net")" = "$(nsenter --net="$ns/net" readlink /proc/self/ns/net)" ]
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
}

@test "without DNS config the pod gets the host's resolv.conf" {
	create_pod nodns 'del(.dns_config)'
	diff /etc/resolv.conf "$TESTDIR/run/pods/$POD_ID/resolv.conf"
}

@test "stop and remove are idempotent and leave nothing behind" {
	create_pod one
	id=$POD_ID
	pid=$(pod_info "$id" | jq -r .pid)
	ip=$(pod_ip "$id")
	[ -n "$(ipam_reservations)" ]
	[ -n "$(ip -o link show master "$POD_BRIDGE")" ]
	run ocic pod stop "$id"
	[ "$status" -eq 0 ]
	[ "$(pod_state "$id")" = SANDBOX_NOTREADY ]
	# After stop: network, pins, shm and ocid-pause are gone; the record stays.
	proc_gone "$pid"
	[ -z "$(ipam_reservations)" ]
	[ -z "$(ip -o link show master "$POD_BRIDGE")" ]
	run ! grep -q "$id" /proc/self/mountinfo
	[ "$(pod_ip "$id")" = "" ]
	[ "$(pod_info "$id" | jq -r .reason)" = stopped ]
	run ocic pod stop "$id"
	[ "$status" -eq 0 ]
	[ "$(ocic pod list -q --state notready)" = "$id" ]
	[ -z "$(ocic pod list -q --state ready)" ]
	run ocic pod remove "$id"
	[ "$status" -eq 0 ]
	run ocic pod remove "$id"
	[ "$status" -eq 0 ]
	run ocic pod stop "$id"
	[ "$status" -eq 0 ]
	run ocic pod status "$id"
	[ "$status" -ne 0 ]
	[[ "$output" == *NOT_FOUND* ]]
	assert_pod_gone "$id" one
	assert_no_pods_left
	# The name is free again.
	create_pod one
}

@test "remove of a ready pod stops it first" {
	create_pod direct
	id=$POD_ID
	ocic pod remove "$id"
	[ -z "$(ocic pod list -q)" ]
	assert_pod_gone "$id" direct
	assert_no_pods_left
}

@test "list filters by id, unique id prefix, state and labels" {
	create_pod a '.labels.tier = "front" | .labels.app = "x"'
	a=$POD_ID
	create_pod b '.labels.tier = "back" | .labels.app = "x"'
	b=$POD_ID
	create_pod c '.labels.tier = "front" | .labels.app = "y"'
	c=$POD_ID
	ocic pod stop "$c"
	[ "$(ocic pod list -q | sort)" = "$(printf '%s\n' "$a" "$b" "$c" | sort)" ]
	[ "$(ocic pod list -q --id "$b")" = "$b" ]
	[ "$(ocic pod list -q --id "${b:0:10}")" = "$b" ]
	[ "$(ocic pod list -q --id nonexistent)" = "" ]
	[ "$(ocic pod list -q --state notready)" = "$c" ]
	[ "$(ocic pod list -q --state ready | sort)" = "$(printf '%s\n' "$a" "$b" | sort)" ]
	[ "$(ocic pod list -q --label tier=front | sort)" = "$(printf '%s\n' "$a" "$c" | sort)" ]
	[ "$(ocic pod list -q --label tier=front --label app=x)" = "$a" ]
	[ "$(ocic pod list -q --label tier=front --state ready)" = "$a" ]
	[ "$(ocic pod list -q --label tier=none)" = "" ]
	json=$(ocic -o json pod list --id "$a")
	[ "$(echo "$json" | jq -r '.items[0].metadata.name')" = a ]
	[ "$(echo "$json" | jq -r '.items[0].labels.tier')" = front ]
	[ "$(echo "$json" | jq -r '.items[0].state')" = SANDBOX_READY ]
}

@test "host network, IPC and PID: nothing pinned, no CNI, the host's /dev/shm and hostname" {
	create_pod hostpod '.linux.security_context.namespace_options = {"network": "NODE", "pid": "NODE", "ipc": "NODE"}'
	id=$POD_ID
	[ "$(pod_state "$id")" = SANDBOX_READY ]
	[ "$(pod_ip "$id")" = "" ]
	info=$(pod_info "$id")
	[ "$(echo "$info" | jq -r .netns)" = "" ]
	[ "$(echo "$info" | jq -r '.namespaces | [.[] | select(. != null)] | length')" = 0 ]
	[ "$(echo "$info" | jq -r .shm)" = /dev/shm ]
	[ "$(echo "$info" | jq -r .pid)" = 0 ]
	[ -z "$(ipam_reservations)" ]
	[ "$(cat "$TESTDIR/run/pods/$id/hostname")" = "$(hostname)" ]
	[ ! -e "$TESTDIR/run/pods/$id/shm" ]
	ocic pod remove "$id"
	assert_pod_gone "$id" hostpod
	assert_no_pods_left
}

@test "pid CONTAINER pods get no ocid-pause; the network namespace is still pinned" {
	create_pod pidc '.linux.security_context.namespace_options.pid = "CONTAINER"'
	info=$(pod_info "$POD_ID")
	[ "$(echo "$info" | jq -r .pid)" = 0 ]
	[ "$(echo "$info" | jq -r .namespaces.pid)" = null ]
	[ "$(echo "$info" | jq -r .pidMode)" = CONTAINER ]
	[ ! -e "$TESTDIR/run/ns/$POD_ID/pid" ]
	[ -e "$TESTDIR/run/ns/$POD_ID/net" ]
	[ "$(ocic -o json pod status "$POD_ID" | jq -r .status.linux.namespaces.options.pid)" = CONTAINER ]
}

@test "the runtime handler is checked and recorded" {
	cfg=$(pod_config crunpod)
	id=$(ocic pod create --config "$cfg" --runtime-handler crun)
	[ "$(ocic -o json pod status "$id" | jq -r .status.runtimeHandler)" = crun ]
	[ "$(pod_info "$id" | jq -r .runtimeName)" = crun ]
	[[ "$(ocic pod list)" == *crun* ]]
	[ "$(ocic -o json pod list | jq -r '.items[0].runtimeHandler')" = crun ]
}

@test "ten pods created and removed in parallel get distinct IPs and leave nothing" {
	for i in $(seq 1 10); do
		pod_config "par$i" >/dev/null
	done
	pids=()
	for i in $(seq 1 10); do
		"$OCIC" pod create --config "$TESTDIR/par$i.json" >"$TESTDIR/id.$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	[ "$(ocic pod list -q --state ready | wc -l)" = 10 ]
	ips=$(for i in $(seq 1 10); do pod_ip "$(cat "$TESTDIR/id.$i")"; done | sort -u | wc -l)
	[ "$ips" = 10 ]
	[ "$(ipam_reservations | wc -l)" = 10 ]
	pids=()
	for i in $(seq 1 10); do
		"$OCIC" pod remove "$(cat "$TESTDIR/id.$i")" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	[ -z "$(ocic pod list -q)" ]
	assert_no_pods_left
}

@test "status and list answer while more slow stops than worker threads are in flight" {
	# A CNI plugin whose DEL takes 2 s makes each Stop slow; 6 of them
	# occupy every worker (4 by default). Status and List must not wait.
	cat >"$PLUGIN_DIR/ocid-test-slowdel" <<'EOF'
#!/bin/sh
input=$(cat)
if [ "$CNI_COMMAND" = DEL ]; then sleep 2; fi
if [ "$CNI_COMMAND" = ADD ]; then
	printf '%s' "$input" | jq -c '.prevResult'
fi
exit 0
EOF
	chmod +x "$PLUGIN_DIR/ocid-test-slowdel"
	write_pod_cni_config '{ "type": "ocid-test-slowdel" }'
	ids=()
	for i in 1 2 3 4 5 6; do
		create_pod "slow$i"
		ids+=("$POD_ID")
	done
	pids=()
	for id in "${ids[@]}"; do
		"$OCIC" pod stop "$id" >/dev/null &
		pids+=($!)
	done
	sleep 0.5
	start=$(date +%s%N)
	ocic pod status "${ids[0]}" >/dev/null
	[ "$(ocic pod list -q | wc -l)" = 6 ]
	end=$(date +%s%N)
	[ $(((end - start) / 1000000)) -lt 1000 ]
	for p in "${pids[@]}"; do wait "$p"; done
	[ "$(ocic pod list -q --state notready | wc -l)" = 6 ]
}
