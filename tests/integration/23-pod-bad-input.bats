#!/usr/bin/env bats
# Bad input to the pod sandbox calls: clear errors with the right codes, and
# nothing created or left behind (no pins, mounts, cgroups, IPs, records).

load pod_helpers

setup() {
	setup_pod_env 23
	write_pod_cni_config
	start_pod_ocid
}

teardown() {
	teardown_pod_env
}

# run_create NAME FILTER: a create expected to fail; leaves $output.
run_create() {
	local cfg
	cfg=$(pod_config "$@")
	run ocic pod create --config "$cfg"
	[ "$status" -ne 0 ]
}

nothing_created() {
	[ -z "$(ocic pod list -q)" ]
	assert_no_pods_left
	[ -z "$(find /sys/fs/cgroup -maxdepth 2 -name "$CG_ROOT" 2>/dev/null || true)" ]
}

@test "missing metadata, name, namespace or uid: INVALID_ARGUMENT naming the field" {
	run_create m1 'del(.metadata)'
	[[ "$output" == *INVALID_ARGUMENT* ]]
	[[ "$output" == *"config.metadata is required"* ]]
	run_create m2 '.metadata.name = ""'
	[[ "$output" == *INVALID_ARGUMENT*"config.metadata.name is required"* ]]
	run_create m3 'del(.metadata.namespace)'
	[[ "$output" == *INVALID_ARGUMENT*"config.metadata.namespace is required"* ]]
	run_create m4 '.metadata.uid = ""'
	[[ "$output" == *INVALID_ARGUMENT*"config.metadata.uid is required"* ]]
	nothing_created
}

@test "an unknown runtime handler: INVALID_ARGUMENT listing the configured ones" {
	cfg=$(pod_config rh)
	run ocic pod create --config "$cfg" --runtime-handler kata
	[ "$status" -ne 0 ]
	[[ "$output" == *INVALID_ARGUMENT* ]]
	[[ "$output" == *'runtime handler "kata" is not configured'* ]]
	[[ "$output" == *"runc, crun"* ]]
	nothing_created
}

@test "unsafe sysctls: INVALID_ARGUMENT before anything is created" {
	run_create s1 '.linux.sysctls = {"kernel.panic": "1"}'
	[[ "$output" == *INVALID_ARGUMENT*"kernel.panic is not allowed"*"not namespaced"* ]]
	run_create s2 '.linux.sysctls = {"vm.swappiness": "10"}'
	[[ "$output" == *INVALID_ARGUMENT*"vm.swappiness"* ]]
	# net.* with the host network would change the host.
	run_create s3 '.linux.sysctls = {"net.core.somaxconn": "1024"} | .linux.security_context.namespace_options.network = "NODE"'
	[[ "$output" == *INVALID_ARGUMENT*"net.core.somaxconn"*"host network"* ]]
	# Namespaced by name but unknown to the kernel.
	run_create s4 '.linux.sysctls = {"net.ipv4.no_such_thing": "1"}'
	[[ "$output" == *INVALID_ARGUMENT*"net.ipv4.no_such_thing"* ]]
	nothing_created
}

@test "bad hostname, DNS, port mappings, namespace modes or cgroup parent: INVALID_ARGUMENT, nothing created" {
	run_create h1 '.hostname = "bad host!"'
	[[ "$output" == *INVALID_ARGUMENT*"config.hostname"* ]]
	run_create d1 '.dns_config.servers = ["not-an-ip"]'
	[[ "$output" == *INVALID_ARGUMENT*"config.dns_config"* ]]
	run_create p1 '.port_mappings = [{"container_port": 70000, "host_port": 8080}]'
	[[ "$output" == *INVALID_ARGUMENT*"config.port_mappings"* ]]
	run_create n1 '.linux.security_context.namespace_options.pid = "TARGET"'
	[[ "$output" == *INVALID_ARGUMENT*"namespace_options.pid TARGET"* ]]
	run_create n2 '.linux.security_context.namespace_options.userns_options = {"mode": "POD"}'
	[[ "$output" == *INVALID_ARGUMENT*"user namespaces are not supported"* ]]
	run_create c1 '.linux.cgroup_parent = "kubepods-besteffort.slice"'
	[[ "$output" == *INVALID_ARGUMENT*"cgroup_parent"* ]]
	run_create c2 '.linux.cgroup_parent = "/a/../b"'
	[[ "$output" == *INVALID_ARGUMENT*"cgroup_parent"* ]]
	nothing_created
}

@test "a CNI plugin that fails: its message, and nothing left behind" {
	cat >"$PLUGIN_DIR/ocid-test-fail" <<'EOF'
#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
	echo '{"cniVersion": "1.0.0", "code": 11, "msg": "no capacity", "details": "try later"}'
	exit 1
fi
exit 0
EOF
	chmod +x "$PLUGIN_DIR/ocid-test-fail"
	write_pod_cni_config '{ "type": "ocid-test-fail" }'
	run_create cnifail
	[[ "$output" == *"plugin ocid-test-fail failed (code 11): no capacity: try later"* ]]
	[[ "$output" == *"set up the pod network"* ]]
	nothing_created
}

@test "a missing CNI plugin binary or no network config: a clear error, nothing left" {
	write_pod_cni_config '{ "type": "ocid-test-missing" }'
	run_create nobin
	[[ "$output" == *'failed to find CNI plugin "ocid-test-missing"'* ]]
	nothing_created
	rm -f "$CNI_DIR"/*.conflist
	run_create nocfg
	[[ "$output" == *FAILED_PRECONDITION* ]]
	[[ "$output" == *"$CNI_DIR"* ]]
	nothing_created
}

@test "a duplicate name is ALREADY_EXISTS naming the existing pod; another attempt is fine" {
	cfg=$(pod_config twin)
	id=$(ocic pod create --config "$cfg")
	run ocic pod create --config "$cfg"
	[ "$status" -ne 0 ]
	[[ "$output" == *ALREADY_EXISTS* ]]
	[[ "$output" == *"reserved by pod $id"* ]]
	[ "$(ocic pod list -q)" = "$id" ]
	[ "$(ls "$TESTDIR/run/pods")" = "$id" ]
	jq '.metadata.attempt = 2' "$cfg" >"$TESTDIR/twin2.json"
	id2=$(ocic pod create --config "$TESTDIR/twin2.json")
	[ "$id2" != "$id" ]
	# Both attempts share the pod cgroup; removing one keeps it for the other.
	ocic pod remove "$id"
	assert_cgroup_everywhere "/$CG_ROOT/pod-twin"
	ocic pod remove "$id2"
	assert_no_pods_left
}

@test "remove and stop of an unknown pod succeed; status of one is NOT_FOUND" {
	run ocic pod remove 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	[ "$status" -eq 0 ]
	run ocic pod stop 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	[ "$status" -eq 0 ]
	run ocic pod status 0123456789abcdef
	[ "$status" -ne 0 ]
	[[ "$output" == *NOT_FOUND*"0123456789abcdef"* ]]
	run ocic raw /runtime.v1.RuntimeService/StopPodSandbox --data-hex ""
	[[ "$output" == *INVALID_ARGUMENT*"pod sandbox id is empty"* ]]
}

@test "bad input leaves existing pods intact" {
	create_pod keeper
	id=$POD_ID
	before=$(ocic -o json pod status -v "$id")
	run_create keeper '.linux.sysctls = {"kernel.panic": "1"}'
	run_create other 'del(.metadata)'
	run ocic pod status not-a-pod
	[ "$(ocic -o json pod status -v "$id")" = "$before" ]
	nsenter --net="$(pod_netns "$id")" busybox ping -c1 -W2 "$POD_SUBNET_PREFIX.1"
}
