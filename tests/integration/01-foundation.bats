#!/usr/bin/env bats
# The foundation: the daemon serves Version/Status/RuntimeConfig over gRPC on
# its socket, answers every other call with a proper status, survives bad
# input, and shuts down cleanly.

load helpers

setup() {
	setup_ocid_env
}

teardown() {
	teardown_ocid_env
}

@test "version prints the Version reply" {
	start_ocid
	run ocic runtime version
	[ "$status" -eq 0 ]
	[[ "$output" == *"RuntimeName:"*"ocid"* ]]
	[[ "$output" == *"RuntimeApiVersion:"*"v1"* ]]
	run ocic -o json runtime version
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .runtimeName)" = ocid ]
	[ "$(echo "$output" | jq -r .version)" = 0.1.0 ]
	[ "$(echo "$output" | jq -r .runtimeVersion)" = "$("$OCID" --version | awk '{print $3}')" ]
	[ "$(echo "$output" | jq -r .runtimeApiVersion)" = v1 ]
}

@test "socket is created 0660 in a directory made for it" {
	start_ocid
	[ "$(stat -c %a "$SOCK")" = 660 ]
	[ -d "$TESTDIR/run" ]
}

@test "status reports RuntimeReady and flips NetworkReady when a CNI config appears" {
	start_ocid
	run ocic -o json runtime status
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .status')" = true ]
	[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="NetworkReady") | .status')" = false ]
	[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="NetworkReady") | .reason')" = NetworkPluginNotReady ]
	[[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="NetworkReady") | .message')" == *"$CNI_DIR"* ]]
	[ "$(echo "$output" | jq -r '[.runtimeHandlers[].name] | join(",")')" = "runc,crun" ]

	write_test_cni_config
	run ocic -o json runtime status
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="NetworkReady") | .status')" = true ]
}

@test "status verbose returns the effective config as JSON" {
	start_ocid
	run ocic -o json runtime status --verbose
	[ "$status" -eq 0 ]
	config=$(echo "$output" | jq -r .info.config)
	[ "$(echo "$config" | jq -r .ocid.root)" = "$TESTDIR/root" ]
	[ "$(echo "$config" | jq -r .ocid.network.network_dir)" = "$CNI_DIR" ]
}

@test "status reports RuntimeReady=false when the runtime binary is missing" {
	start_ocid --runtime /nonexistent/runc
	run ocic -o json runtime status
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .status')" = false ]
	[[ "$(echo "$output" | jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .message')" == *"/nonexistent/runc"* ]]
}

@test "runtime config reports the cgroupfs driver" {
	start_ocid
	run ocic -o json runtime config
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .linux.cgroupDriver)" = CGROUPFS ]
}

@test "an RPC ocid does not serve yet returns UNIMPLEMENTED naming the method" {
	start_ocid
	run ocic raw /runtime.v1.RuntimeService/CheckpointContainer --data-hex ""
	[ "$status" -eq 1 ]
	[[ "$output" == *"UNIMPLEMENTED"* ]]
	[[ "$output" == *"CheckpointContainer"* ]]
	run ocic raw /runtime.v1.Nope/Missing --data-hex ""
	[[ "$output" == *"UNIMPLEMENTED"* ]]
	[[ "$output" == *"/runtime.v1.Nope/Missing"* ]]
}

@test "a garbage body returns INVALID_ARGUMENT and the daemon keeps serving" {
	start_ocid
	run ocic raw /runtime.v1.RuntimeService/Version --data-hex ffffffffffff
	[[ "$output" == *"INVALID_ARGUMENT"* ]]
	# A body without the 5-byte gRPC prefix at all.
	run ocic raw /runtime.v1.RuntimeService/Status --data-hex 0a --no-prefix
	[[ "$output" == *"INVALID_ARGUMENT"* ]]
	run ocic runtime version
	[ "$status" -eq 0 ]
	kill -0 "$OCID_PID"
}

@test "a message over 16 MiB returns RESOURCE_EXHAUSTED" {
	start_ocid
	run ocic --timeout 30s raw /runtime.v1.RuntimeService/Version --size 17000000
	[[ "$output" == *"RESOURCE_EXHAUSTED"* ]]
	run ocic runtime version
	[ "$status" -eq 0 ]
}

@test "100 concurrent calls all succeed" {
	start_ocid
	pids=()
	for i in $(seq 1 100); do
		"$OCIC" -o json runtime version >"$TESTDIR/out.$i" 2>&1 &
		pids+=($!)
	done
	failed=0
	for p in "${pids[@]}"; do
		wait "$p" || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ]
	for i in $(seq 1 100); do
		[ "$(jq -r .runtimeName "$TESTDIR/out.$i")" = ocid ]
	done
}

@test "SIGTERM shuts down cleanly and removes the socket" {
	start_ocid
	run ocic runtime version
	[ "$status" -eq 0 ]
	stop_ocid
	[ ! -e "$SOCK" ]
	grep -q 'ocid stopped' "$TESTDIR/ocid.log"
}

@test "a stale socket file is replaced; another kind of file is an error" {
	mkdir -p "$TESTDIR/run"
	"$SYSTEM_PYTHON" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
	[ -S "$SOCK" ]
	start_ocid
	run ocic runtime version
	[ "$status" -eq 0 ]
	stop_ocid

	echo data >"$SOCK"
	run "$OCID" "${OCID_ARGS[@]}"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$SOCK"* ]]
	[ "$(cat "$SOCK")" = data ]
}

@test "a bad config file fails start-up with file:line" {
	printf '[ocid]\nroot = "/tmp/x"\nworkers = "many"\n' >"$TESTDIR/ocid.conf"
	run "$OCID" "${OCID_ARGS[@]}"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$TESTDIR/ocid.conf:3"* ]]
	[[ "$output" == *"workers"* ]]
	printf '[ocid.runtime]\ndefault_runtim = "runc"\n' >"$TESTDIR/ocid.conf"
	run "$OCID" "${OCID_ARGS[@]}"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$TESTDIR/ocid.conf:2"* ]]
	[[ "$output" == *"default_runtim"* ]]
}

@test "drop-ins apply in lexical order and flags win over files" {
	printf '[ocid]\nworkers = 2\n' >"$TESTDIR/ocid.conf"
	printf '[ocid]\nworkers = 3\n' >"$TESTDIR/conf.d/10-a.conf"
	printf '[ocid]\nworkers = 5\n' >"$TESTDIR/conf.d/20-b.conf"
	run "$OCID" "${OCID_ARGS[@]}" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"workers = 5"* ]]
	run "$OCID" "${OCID_ARGS[@]}" --workers 7 config
	[[ "$output" == *"workers = 7"* ]]
}

@test "ocid config prints a config file that reads back to the same config" {
	printf '[ocid.image.mirrors]\n"registry.k8s.io" = ["127.0.0.1:5000"]\n[ocid.runtime.runtimes.extra]\nruntime_path = "/usr/bin/runc"\n' \
		>"$TESTDIR/conf.d/50-more.conf"
	mkdir -p "$TESTDIR/empty.d"
	"$OCID" "${OCID_ARGS[@]}" config >"$TESTDIR/effective.conf"
	run "$OCID" --config "$TESTDIR/effective.conf" --config-dir "$TESTDIR/empty.d" config
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$TESTDIR/effective.conf")" ]
	grep -q '"registry.k8s.io"' "$TESTDIR/effective.conf"
}

@test "ocic reports an unreachable daemon as UNAVAILABLE" {
	run ocic --endpoint "unix://$TESTDIR/nothing.sock" runtime version
	[ "$status" -eq 1 ]
	[[ "$output" == *"UNAVAILABLE"* ]]
}
