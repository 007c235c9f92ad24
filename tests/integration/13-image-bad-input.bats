#!/usr/bin/env bats
# Bad input fails cleanly: the right gRPC code, a message a person can act
# on, and a store left exactly as it was (database, layer directories,
# blobs) — unknown images, invalid references, blobs that do not match their
# digest, a malformed manifest, malicious layers (nothing written outside),
# wrong credentials, a registry that stops in the middle of a blob.

# shellcheck source-path=SCRIPTDIR source=image_helpers.bash
source "$BATS_TEST_DIRNAME/image_helpers.bash"

setup_file() {
	fixtures_build
	registry_start bad
	local evil
	mapfile -t evil < <(jq -r '.fixtures | keys[] | select(startswith("evil-"))' "$FIXTURES_DIR/fixtures.json")
	registry_push_fixtures "$REGISTRY_BAD_PORT" "$FIXTURES_DIR" busybox user layered "${evil[@]}" >/dev/null
}

teardown_file() {
	registry_stop_all
}

setup() {
	start_image_ocid "$REGISTRY_BAD_ADDR"
	R=$REGISTRY_BAD_ADDR
	# something in the store that must survive every failure
	ocic image pull "$R/busybox:latest" >/dev/null
	store_state >"$TESTDIR/before"
}

teardown() {
	image_teardown
	local n
	for n in ${REGISTRY_STARTED:-}; do
		[ "$n" = bad ] || registry_stop "$n"
	done
}

# run_pull REF [ocic pull options]: runs the pull, expecting it to fail.
run_pull() {
	run ocic image pull "$@"
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "unknown repository, tag or digest: NOT_FOUND naming it, store intact" {
	run_pull "$R/no-such-repo:latest"
	[[ "$output" == "ocic: NOT_FOUND: pull $R/no-such-repo:latest: "*"manifest unknown"* ]]
	run_pull "$R/busybox:no-such-tag"
	[[ "$output" == "ocic: NOT_FOUND: "*"$R/busybox:no-such-tag"* ]]
	run_pull "$R/busybox@sha256:$(printf '%064d' 0)"
	[[ "$output" == "ocic: NOT_FOUND: "* ]]
	wait_store_state "$TESTDIR/before"
	# status and remove of unknown images are no errors
	run ocic -o json image list "$R/no-such-repo"
	[ "$(jq '.images | length' <<<"$output")" = 0 ]
	ocic image remove "$R/no-such-repo:latest"
	wait_store_state "$TESTDIR/before"
}

@test "invalid references: INVALID_ARGUMENT saying what is wrong" {
	run_pull Busybox
	[ "$output" = 'ocic: INVALID_ARGUMENT: invalid reference "Busybox": repository name must be lowercase' ]
	run_pull 'a b'
	[[ "$output" == 'ocic: INVALID_ARGUMENT: invalid reference "a b": '* ]]
	run_pull "busybox:bad/tag"
	[[ "$output" == "ocic: INVALID_ARGUMENT: "* ]]
	run_pull "busybox@sha256:123"
	[[ "$output" == "ocic: INVALID_ARGUMENT: "*"sha256:123"* ]]
	run_pull ""
	[ "$output" = 'ocic: INVALID_ARGUMENT: no image specified (image.image is empty)' ]
	# an image id names no registry
	run_pull "$(fx_image_id busybox)"
	[[ "$output" == "ocic: INVALID_ARGUMENT: cannot pull $(fx_image_id busybox): an image id names no registry"* ]]
	run ocic image status 'Bad!'
	[ "$output" = 'ocic: INVALID_ARGUMENT: invalid reference "Bad!": repository name must be lowercase' ]
	run ocic image remove 'Bad!'
	[ "$status" -eq 1 ]
	[[ "$output" == "ocic: INVALID_ARGUMENT: "* ]]
	wait_store_state "$TESTDIR/before"
}

@test "a layer blob whose bytes do not match its digest: DATA_LOSS, store intact" {
	registry_start corrupt
	registry_push_fixtures "$REGISTRY_CORRUPT_PORT" "$FIXTURES_DIR" layered >/dev/null
	restart_image_ocid "$R" "$REGISTRY_CORRUPT_ADDR"
	local l p
	l=$(fx '.fixtures.layered.layers[1].digest')
	p=$(registry_blob_path "$REGISTRY_CORRUPT_DIR" "$l")
	# same size, different bytes, past the gzip header
	printf 'XXXXXXXX' | dd of="$p" bs=1 seek=$(($(stat -c %s "$p") / 2)) conv=notrunc status=none
	run_pull "$REGISTRY_CORRUPT_ADDR/layered:latest"
	[[ "$output" == "ocic: DATA_LOSS: pull $REGISTRY_CORRUPT_ADDR/layered:latest: layer 2 of 3: "* ]]
	wait_store_state "$TESTDIR/before"
	# the same image from an intact registry is fine afterwards
	run ocic image pull "$R/layered:latest"
	[ "$status" -eq 0 ]
}

@test "a config blob whose bytes do not match its digest: DATA_LOSS, store intact" {
	registry_start corrupt
	registry_push_fixtures "$REGISTRY_CORRUPT_PORT" "$FIXTURES_DIR" user >/dev/null
	restart_image_ocid "$R" "$REGISTRY_CORRUPT_ADDR"
	local p
	p=$(registry_blob_path "$REGISTRY_CORRUPT_DIR" "$(fx .fixtures.user.config.digest)")
	printf 'X' | dd of="$p" bs=1 seek=10 conv=notrunc status=none
	run_pull "$REGISTRY_CORRUPT_ADDR/user:latest"
	[[ "$output" == "ocic: DATA_LOSS: "*"$(fx .fixtures.user.config.digest)"* ]]
	wait_store_state "$TESTDIR/before"
}

@test "a malformed manifest: DATA_LOSS, store intact" {
	registry_stall_server malformed "$FIXTURES_DIR" busybox malformed
	restart_image_ocid "$R" "$REGISTRY_MALFORMED_ADDR"
	run_pull "$REGISTRY_MALFORMED_ADDR/busybox:latest"
	[[ "$output" == "ocic: DATA_LOSS: "*"manifest"* ]]
	wait_store_state "$TESTDIR/before"
}

@test "malicious layers are refused: INVALID_ARGUMENT, nothing written outside, store intact" {
	local n marker passwd_sum
	passwd_sum=$(sha256sum /etc/passwd)
	rm -f /tmp/ocid-evil-*
	for n in $(fx '.fixtures | keys[] | select(startswith("evil-"))'); do
		run_pull "$R/$n:latest"
		[[ "$output" == "ocic: INVALID_ARGUMENT: pull $R/$n:latest: layer 1 of 1: "*"refused"* ]]
		marker=$(fx ".fixtures[\"$n\"].escape_marker // empty")
		if [ -n "$marker" ]; then
			[ ! -e "$marker" ]
		fi
	done
	[ -z "$(ls /tmp/ocid-evil-* 2>/dev/null)" ]
	[ "$(sha256sum /etc/passwd)" = "$passwd_sum" ]
	# nothing of them in the store, not even a hardlink to /etc/passwd
	[ -z "$(find "$TESTDIR/root" -samefile /etc/passwd)" ]
	wait_store_state "$TESTDIR/before"
}

@test "wrong or missing credentials: UNAUTHENTICATED, store intact" {
	registry_start basic --htpasswd alice:s3cret
	registry_push_fixtures "$REGISTRY_BASIC_PORT" "$FIXTURES_DIR" --creds alice:s3cret user >/dev/null
	registry_start token --token bob:t0ken
	registry_push_fixtures "$REGISTRY_TOKEN_PORT" "$FIXTURES_DIR" --creds bob:t0ken user >/dev/null
	restart_image_ocid "$R" "$REGISTRY_BASIC_ADDR" "$REGISTRY_TOKEN_ADDR"
	run_pull "$REGISTRY_BASIC_ADDR/user:latest"
	[[ "$output" == "ocic: UNAUTHENTICATED: "* ]]
	run_pull --creds alice:wrong "$REGISTRY_BASIC_ADDR/user:latest"
	[[ "$output" == "ocic: UNAUTHENTICATED: "* ]]
	run_pull "$REGISTRY_TOKEN_ADDR/user:latest"
	[[ "$output" == "ocic: UNAUTHENTICATED: "* ]]
	run_pull --creds bob:wrong "$REGISTRY_TOKEN_ADDR/user:latest"
	[[ "$output" == "ocic: UNAUTHENTICATED: "* ]]
	echo "{\"image\": {\"image\": \"$REGISTRY_TOKEN_ADDR/user:latest\"}, \"auth\": {\"identityToken\": \"not-the-token\"}}" >"$TESTDIR/pull.json"
	run ocic -o json raw /runtime.v1.ImageService/PullImage --json "$TESTDIR/pull.json"
	echo "$output"
	[ "$(jq -r .code <<<"$output")" = UNAUTHENTICATED ]
	# malformed CRI auth (not base64 of user:pass)
	echo "{\"image\": {\"image\": \"$REGISTRY_BASIC_ADDR/user:latest\"}, \"auth\": {\"auth\": \"%%%\"}}" >"$TESTDIR/pull.json"
	run ocic -o json raw /runtime.v1.ImageService/PullImage --json "$TESTDIR/pull.json"
	echo "$output"
	[ "$(jq -r .code <<<"$output")" = INVALID_ARGUMENT ]
	wait_store_state "$TESTDIR/before"
}

@test "a broken global auth file: FAILED_PRECONDITION naming it" {
	echo '{"auths": ' >"$TESTDIR/auth.json"
	IMAGE_CONF_EXTRA="global_auth_file = \"$TESTDIR/auth.json\"" restart_image_ocid "$R"
	run_pull "$R/user:latest"
	[[ "$output" == "ocic: FAILED_PRECONDITION: "*"auth file $TESTDIR/auth.json"* ]]
	# credentials in the request do not need the file
	run ocic image pull --creds x:y "$R/user:latest"
	[ "$status" -eq 0 ]
}

@test "a registry that stops in the middle of a blob: UNAVAILABLE after retries, store intact" {
	registry_stall_server stall "$FIXTURES_DIR" layered stall
	restart_image_ocid "$R" "$REGISTRY_STALL_ADDR"
	run_pull "$REGISTRY_STALL_ADDR/layered:latest"
	[[ "$output" == "ocic: UNAVAILABLE: pull $REGISTRY_STALL_ADDR/layered:latest: layer "* ]]
	# it was retried (resuming or starting over) before giving up
	[ "$(grep -c 'stall after' "$REGISTRY_STALL_LOG")" -ge 2 ]
	wait_store_state "$TESTDIR/before"
}
