#!/usr/bin/env bats
# An independent client, the stock gRPC stack (Debian's python3-grpcio), talks
# to ocid with messages generated from our api.proto.

load helpers

setup() {
	setup_ocid_env
}

teardown() {
	teardown_ocid_env
}

@test "python3-grpcio calls Version, Status, RuntimeConfig, UpdateRuntimeConfig and gets proper statuses" {
	start_ocid
	run "$SYSTEM_PYTHON" "$BATS_TEST_DIRNAME/grpc_compat.py" "$BATS_TEST_DIRNAME/../../proto" "$SOCK"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"all checks passed"* ]]
	stop_ocid
}
