#!/usr/bin/env bats
# Bad input to the container RPCs: a clear gRPC error naming the problem,
# and everything as it was before the call (records, directories, mounts,
# runtime state, name reservations, image holds).

load ctr_helpers

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

setup() {
	setup_ctr_env 33
	ctr_pod bad
	# one container that must stay untouched by every failure
	run_ctr bystander '.command = ["sleep", "1000"]'
	BYSTANDER=$CTR_ID
	BEFORE=$(world)
}

teardown() {
	teardown_ctr_env
}

# What containers exist, in every place they could leave a trace.
world() {
	db "SELECT id, state FROM containers ORDER BY id"
	ls -A "$TESTDIR/run/containers" "$TESTDIR/root/containers" "$TESTDIR/run/exits" "$TESTDIR/run/conmon"
	# rootfs mounted ahead (.warm) come and go with creates: not a trace
	grep -o " $TESTDIR/run/containers/[^ ]*" /proc/self/mountinfo | grep -v "/containers/\.warm/" | sort
	runc list -q | grep -Fx -f <(db "SELECT id FROM containers") || true
	ls -A "$LOG_DIR"
	"$OCIC" ctr list -q
}

assert_world_unchanged() {
	local now
	now=$(world)
	if [ "$now" != "$BEFORE" ]; then
		diff <(echo "$BEFORE") <(echo "$now") >&2
		return 1
	fi
	[ "$(ctr_state "$BYSTANDER")" = CONTAINER_RUNNING ]
}

# expect_create_error CODE TEXT NAME [JQ_FILTER] [POD]; CODE "" = any code
expect_create_error() {
	local code=$1 text=$2 name=$3 filter=${4:-.} pod=${5-$POD_ID}
	run "$OCIC" ctr create --pod "$pod" --config "$(ctr_config "$name" "$filter")"
	echo "$output"
	[ "$status" -eq 1 ]
	[ -z "$code" ] || [ "$(grpc_code "$output")" = "$code" ]
	[[ "$output" == *"$text"* ]]
	assert_world_unchanged
}

@test "unknown pod: NOT_FOUND" {
	expect_create_error NOT_FOUND "pod sandbox 0123456789abcdef not found" x . 0123456789abcdef
	expect_create_error INVALID_ARGUMENT "pod_sandbox_id" x . ""
}

@test "a pod that is not ready: FAILED_PRECONDITION" {
	ready=$POD_ID
	ctr_pod stopped
	ocic pod stop "$POD_ID"
	BEFORE=$(world)
	expect_create_error FAILED_PRECONDITION "" x
	POD_ID=$ready
}

@test "unknown image: NOT_FOUND naming it; a malformed reference: INVALID_ARGUMENT" {
	expect_create_error NOT_FOUND 'image "nosuchimage" not found' x '.image.image = "nosuchimage"'
	expect_create_error NOT_FOUND "not found" x ".image.image = \"$REGISTRY_CTR_ADDR/busybox:nosuchtag\""
	expect_create_error INVALID_ARGUMENT "" x '.image.image = "Not A Reference"'
	expect_create_error INVALID_ARGUMENT "image" x 'del(.image)'
}

@test "missing mount source: INVALID_ARGUMENT naming the mount; the name stays free" {
	expect_create_error INVALID_ARGUMENT "mounts[0].host_path $TESTDIR/nothing-here" m \
		".mounts = [{\"container_path\": \"/data\", \"host_path\": \"$TESTDIR/nothing-here\"}]"
	expect_create_error INVALID_ARGUMENT "not an absolute path" m \
		'.mounts = [{"container_path": "/data", "host_path": "relative/dir"}]'
	# nothing reserved the name or held the image
	create_ctr m
	ocic ctr remove "$CTR_ID"
}

@test "duplicate name: ALREADY_EXISTS naming the holder; another attempt is fine" {
	expect_create_error ALREADY_EXISTS "$BYSTANDER" bystander
	create_ctr bystander '.metadata.attempt = 1'
	ocic ctr remove "$CTR_ID"
	# once the holder is removed, the name is free
	ocic ctr remove "$BYSTANDER"
	create_ctr bystander
}

@test "invalid config: missing name, bad resources, bad log path, bad security settings" {
	expect_create_error INVALID_ARGUMENT "metadata.name" x '.metadata.name = ""'
	expect_create_error INVALID_ARGUMENT "memory_limit_in_bytes" x '.linux.resources.memory_limit_in_bytes = 4096'
	expect_create_error INVALID_ARGUMENT "cpu_shares" x '.linux.resources.cpu_shares = 1'
	expect_create_error INVALID_ARGUMENT "log directory" x '.log_path = "../../escape.log"'
	expect_create_error INVALID_ARGUMENT "NOPE" x '.linux.security_context.capabilities = {"add_capabilities": ["NOPE"]}'
	expect_create_error INVALID_ARGUMENT "envs" x '.envs = [{"key": "A=B", "value": "x"}]'
	# a Localhost seccomp profile that is missing or malformed
	expect_create_error "" "$TESTDIR/missing.json" x \
		".linux.security_context.seccomp = {\"profile_type\": \"Localhost\", \"localhost_ref\": \"$TESTDIR/missing.json\"}"
	echo '{"defaultAction": ' >"$TESTDIR/broken.json"
	expect_create_error INVALID_ARGUMENT "$TESTDIR/broken.json" x \
		".linux.security_context.seccomp = {\"profile_type\": \"Localhost\", \"localhost_ref\": \"$TESTDIR/broken.json\"}"
	# a named AppArmor profile on a host without AppArmor
	if [ ! -d /sys/module/apparmor ]; then
		expect_create_error FAILED_PRECONDITION "AppArmor" x \
			'.linux.security_context.apparmor = {"profile_type": "Localhost", "localhost_ref": "my-profile"}'
	fi
	# a target container of another pod / unknown
	expect_create_error NOT_FOUND "target_id" x \
		'.linux.security_context.namespace_options = {"pid": "TARGET", "target_id": "0000000000"}'
}

@test "the runtime refuses the command: its message, and nothing left behind" {
	expect_create_error "" "/no/such/program" x '.command = ["/no/such/program"]'
	id=$(sed -n 's/.*runc create \([0-9a-f]\{64\}\).*/\1/p' <<<"$output")
	[ ${#id} -eq 64 ]
	! runc state "$id" 2>/dev/null
	assert_ctr_gone "$id"
	[ ! -e "$LOG_DIR/x.log" ]
}

@test "lifecycle calls in the wrong state or on unknown ids" {
	run ocic ctr start "$BYSTANDER"
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	[[ "$output" == *running* ]]
	for verb in start stop status; do
		run ocic ctr "$verb" 0123456789
		[ "$status" -eq 1 ]
		[ "$(grpc_code "$output")" = NOT_FOUND ]
	done
	# remove of an unknown id succeeds
	ocic ctr remove 0123456789
	run ocic ctr exec 0123456789 true
	[ "$(grpc_code "$output")" = NOT_FOUND ]
	create_ctr created
	run ocic ctr exec "$CTR_ID" true
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	ocic ctr stop "$CTR_ID"
	run ocic ctr start "$CTR_ID"
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	[[ "$output" == *exited* ]]
	ocic ctr remove "$CTR_ID"
	wait_removed_files
	BEFORE=$(world)
	assert_world_unchanged
}
