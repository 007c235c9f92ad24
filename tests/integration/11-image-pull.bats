#!/usr/bin/env bats
# PullImage from local registries: every fixture by tag and by digest, short
# names, mirrors (in order, then the origin), basic and token auth, the
# unpacked content seen through an overlay mount, present images (a HEAD
# only), concurrent pulls (each blob fetched once), tag moves, a kill -9 in
# the middle of a pull, and the progress side channel.

# shellcheck source-path=SCRIPTDIR source=image_helpers.bash
source "$BATS_TEST_DIRNAME/image_helpers.bash"

setup_file() {
	fixtures_build
	registry_start main
	registry_push_fixtures "$REGISTRY_MAIN_PORT" "$FIXTURES_DIR" >/dev/null
	# what docker.io/library/busybox asks a mirror for
	registry_push_fixtures "$REGISTRY_MAIN_PORT" "$FIXTURES_DIR" --prefix library/ busybox >/dev/null
	registry_start empty
}

teardown_file() {
	registry_stop_all
}

setup() {
	start_image_ocid "$REGISTRY_MAIN_ADDR" "$REGISTRY_EMPTY_ADDR"
	R=$REGISTRY_MAIN_ADDR
}

teardown() {
	image_teardown
	local n
	for n in ${REGISTRY_STARTED:-}; do
		case $n in
		main | empty) ;;
		*) registry_stop "$n" ;;
		esac
	done
}

@test "every fixture pulls by tag: the image id, its tags, repo digest, size and user" {
	local n t id
	for n in $(good_fixtures); do
		for t in $(fx ".fixtures[\"$n\"].tags[]"); do
			run ocic image pull "$R/$n:$t"
			echo "$n:$t: $output"
			[ "$status" -eq 0 ]
			[ "$output" = "$(fx_image_id "$n")" ]
		done
		run ocic -o json image status "$R/$n:$(fx ".fixtures[\"$n\"].tags[0]")"
		[ "$status" -eq 0 ]
		id=$(jq -r .image.id <<<"$output")
		[ "$id" = "$(fx_image_id "$n")" ]
		# every tag, and the repo digest of what the tag named (an index: the index)
		[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = \
			"$(fx ".fixtures[\"$n\"].tags | map(\"$R/$n:\" + .) | sort | join(\",\")")" ]
		[ "$(jq -r '.image.repoDigests | join(",")' <<<"$output")" = "$R/$n@$(fx ".fixtures[\"$n\"].digest")" ]
		[ "$(jq -r .image.size <<<"$output")" -gt 1000000 ]
		[ "$(jq -r .image.spec.image <<<"$output")" = "$id" ]
	done
	# USER "1000:1000" -> uid 1000; USER "app" -> username app; none -> uid 0? no: unset
	run ocic -o json image status "$R/user:latest"
	[ "$(jq -r .image.uid.value <<<"$output")" = 1000 ]
	[ "$(jq -r .image.username <<<"$output")" = "" ]
	run ocic -o json image status "$R/username:latest"
	[ "$(jq -r .image.uid <<<"$output")" = null ]
	[ "$(jq -r .image.username <<<"$output")" = app ]
	run ocic -o json image status "$R/busybox:latest"
	[ "$(jq -r .image.uid <<<"$output")" = null ]
	[ "$(jq -r .image.username <<<"$output")" = "" ]
	# one image per fixture (tags:v1,v2,latest is one image)
	[ "$(ocic image list -q | sort -u | wc -l)" = "$(good_fixtures | wc -l)" ]
}

@test "every fixture pulls by digest, into the same image a tag gives" {
	local n d
	for n in $(good_fixtures); do
		d=$(fx ".fixtures[\"$n\"].digest")
		run ocic image pull "$R/$n@$d"
		echo "$n@$d: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "$(fx_image_id "$n")" ]
		run ocic -o json image status "$R/$n@$d"
		[ "$(jq -r '.image.repoTags | length' <<<"$output")" = 0 ]
		[ "$(jq -r '.image.repoDigests | join(",")' <<<"$output")" = "$R/$n@$d" ]
	done
	# the platform manifest of an index, by its own digest
	d=$(fx '.fixtures.multiarch.manifests[] | select(.platform.architecture == "amd64") | .digest')
	run ocic image pull "$R/multiarch@$d"
	[ "$output" = "$(fx_image_id multiarch)" ]
	# then by tag: the same image gains the tag
	run ocic image pull "$R/busybox:latest"
	[ "$output" = "$(fx_image_id busybox)" ]
	run ocic -o json image status "$R/busybox:latest"
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = "$R/busybox:latest" ]
	[ "$(db 'SELECT COUNT(*) FROM images')" = "$(good_fixtures | wc -l)" ]
}

@test "unpacked content matches fixtures.json: files, whiteouts, opaque dirs, owners, modes, links" {
	local n
	MNT=$TESTDIR/mnt
	for n in $(good_fixtures); do
		ocic image pull "$R/$n:$(fx ".fixtures[\"$n\"].tags[0]")" >/dev/null
		mount_image "$R/$n:$(fx ".fixtures[\"$n\"].tags[0]")" "$MNT"
		run "$SYSTEM_PYTHON" "$BATS_TEST_DIRNAME/check_rootfs.py" "$FIXTURES_DIR/fixtures.json" "$n" "$MNT"
		umount "$MNT"
		echo "$output"
		[ "$status" -eq 0 ]
	done
	# the layers hold overlay whiteouts, never .wh. files
	local dirs l2
	mapfile -t dirs < <(image_lower_dirs "$R/layered:latest")
	[ "${#dirs[@]}" = 3 ]
	l2=${dirs[1]} # top first: the middle layer deletes and makes /opq opaque
	[ "$(stat -c '%F %t:%T' "$l2/data/remove-me")" = "character special file 0:0" ]
	[ "$("$SYSTEM_PYTHON" -c 'import os, sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque", follow_symlinks=False).decode())' "$l2/opq")" = y ]
	[ -z "$(find "$TESTDIR/root/overlay" -name '.wh.*')" ]
	# the busybox in the image runs
	mount_image "$R/busybox:latest" "$MNT"
	[ "$("$MNT/bin/busybox" echo hello)" = hello ]
	umount "$MNT"
	# the index gave this machine's platform
	mount_image "$R/multiarch-docker:latest" "$MNT"
	[ "$(cat "$MNT/platform")" = amd64 ]
}

@test "a layer shared by images is unpacked once" {
	ocic image pull "$R/busybox:latest"
	ocic image pull "$R/busybox-zstd:latest"
	ocic image pull "$R/busybox-docker:latest"
	ocic image pull "$R/busybox-plain:latest"
	ocic image pull "$R/user:latest"
	# one rootfs in four encodings, plus user: one layer for all five images
	[ "$(db 'SELECT COUNT(*) FROM images')" = 5 ]
	[ "$(db 'SELECT COUNT(*) FROM layers')" = 1 ]
	[ "$(ls "$TESTDIR/root/overlay" | wc -l)" = 1 ]
	[ "$(db 'SELECT COUNT(DISTINCT image_id) FROM image_layers')" = 5 ]
}

@test "a present image only checks the manifest: one HEAD, no GET" {
	ocic image pull "$R/layered:latest"
	local before
	before=$(wc -l <"$REGISTRY_MAIN_LOG")
	run ocic image pull "$R/layered:latest"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id layered)" ]
	local new
	new=$(tail -n +"$((before + 1))" "$REGISTRY_MAIN_LOG" | grep '"[A-Z]* /v2/')
	echo "$new"
	[ "$(grep -c . <<<"$new")" = 1 ]
	[[ "$new" == *'"HEAD /v2/layered/manifests/latest '* ]]
	# by digest: nothing to ask at all
	before=$(wc -l <"$REGISTRY_MAIN_LOG")
	ocic image pull "$R/layered@$(fx .fixtures.layered.digest)"
	ocic image pull "$R/layered@$(fx .fixtures.layered.digest)"
	[ "$(tail -n +"$((before + 1))" "$REGISTRY_MAIN_LOG" | grep -c 'blobs/')" = 0 ]
	# another tag of a stored image: manifests only, no blob
	ocic image pull "$R/tags:v1"
	before=$(wc -l <"$REGISTRY_MAIN_LOG")
	ocic image pull "$R/tags:v2"
	[ "$(tail -n +"$((before + 1))" "$REGISTRY_MAIN_LOG" | grep -c 'blobs/')" = 0 ]
	run ocic -o json image status "$R/tags:v2"
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = "$R/tags:v1,$R/tags:v2" ]
}

@test "short names resolve through the search list and keep the registry's name" {
	IMAGE_CONF_EXTRA="registries = [\"$REGISTRY_EMPTY_ADDR\", \"$R\"]" restart_image_ocid "$R" "$REGISTRY_EMPTY_ADDR"
	run ocic image pull busybox
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id busybox)" ]
	run ocic -o json image status busybox
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = "$R/busybox:latest" ]
	# the first registry of the list was asked first
	grep -q '"GET /v2/busybox/manifests/latest HTTP/1.1" 404' "$REGISTRY_EMPTY_LOG"
	run ocic image pull no-such-image
	[ "$status" -eq 1 ]
	[[ "$output" == "ocic: NOT_FOUND: "* ]]
	[[ "$output" == *"$REGISTRY_EMPTY_ADDR/no-such-image:latest"*"$R/no-such-image:latest"* ]]
}

@test "a mirror serves docker.io images, which keep their docker.io name" {
	IMAGE_CONF_EXTRA="[ocid.image.mirrors]
\"docker.io\" = [\"$R\"]" restart_image_ocid "$R"
	run ocic image pull busybox
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id busybox)" ]
	run ocic -o json image status docker.io/library/busybox:latest
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = docker.io/library/busybox:latest ]
	[ "$(jq -r '.image.repoDigests | join(",")' <<<"$output")" = "docker.io/library/busybox@$(fx .fixtures.busybox.digest)" ]
	grep -q '"GET /v2/library/busybox/manifests/latest HTTP/1.1" 200' "$REGISTRY_MAIN_LOG"
	# by digest through the mirror too
	run ocic image pull "busybox@$(fx .fixtures.busybox.digest)"
	[ "$status" -eq 0 ]
}

@test "mirrors are tried in order, then the origin" {
	IMAGE_CONF_EXTRA="[ocid.image.mirrors]
\"registry.ocid.test\" = [\"$REGISTRY_EMPTY_ADDR\", \"$R\"]
\"$R\" = [\"$REGISTRY_EMPTY_ADDR\"]" restart_image_ocid "$R" "$REGISTRY_EMPTY_ADDR"
	# the first mirror lacks it, the second has it; the origin does not exist
	run ocic image pull registry.ocid.test/tags:v1
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id tags)" ]
	grep -q '"GET /v2/tags/manifests/v1 HTTP/1.1" 404' "$REGISTRY_EMPTY_LOG"
	run ocic -o json image status registry.ocid.test/tags:v1
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = registry.ocid.test/tags:v1 ]
	# the only mirror lacks it: the origin serves it
	run ocic image pull "$R/user:latest"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id user)" ]
	grep -q '"GET /v2/user/manifests/latest HTTP/1.1" 404' "$REGISTRY_EMPTY_LOG"
	run ocic -o json image status "$R/user:latest"
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = "$R/user:latest" ]
}

@test "basic-auth registry: --creds, and the global auth file when none are given" {
	registry_start basic --htpasswd alice:s3cret
	registry_push_fixtures "$REGISTRY_BASIC_PORT" "$FIXTURES_DIR" --creds alice:s3cret busybox user >/dev/null
	cat >"$TESTDIR/auth.json" <<JSON
{"auths": {"http://$REGISTRY_BASIC_ADDR": {"auth": "$(printf alice:s3cret | base64)"}}}
JSON
	IMAGE_CONF_EXTRA="global_auth_file = \"$TESTDIR/auth.json\"" restart_image_ocid "$REGISTRY_BASIC_ADDR"
	run ocic image pull --creds alice:s3cret "$REGISTRY_BASIC_ADDR/busybox:latest"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id busybox)" ]
	run ocic image pull "$REGISTRY_BASIC_ADDR/user:latest"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id user)" ]
	# the request's credentials win over the file's
	run ocic image pull --creds alice:wrong "$REGISTRY_BASIC_ADDR/user:latest"
	[ "$status" -eq 1 ]
	[[ "$output" == "ocic: UNAUTHENTICATED: "* ]]
}

@test "token-auth registry: --creds, an identity token, a registry token" {
	registry_start token --token bob:t0ken
	registry_push_fixtures "$REGISTRY_TOKEN_PORT" "$FIXTURES_DIR" --creds bob:t0ken busybox user username >/dev/null
	restart_image_ocid "$REGISTRY_TOKEN_ADDR"
	local a=$REGISTRY_TOKEN_ADDR
	run ocic image pull --creds bob:t0ken "$a/busybox:latest"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id busybox)" ]
	grep -q 'granted user=bob' "$REGISTRY_TOKEN_TOKEN_LOG"
	# CRI identity_token: exchanged at the token service (OAuth2 refresh_token grant)
	cat >"$TESTDIR/pull.json" <<JSON
{"image": {"image": "$a/user:latest"}, "auth": {"identityToken": "$REGISTRY_TOKEN_REFRESH_TOKEN"}}
JSON
	run ocic -o json raw /runtime.v1.ImageService/PullImage --json "$TESTDIR/pull.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .response.imageRef <<<"$output")" = "$(fx_image_id user)" ]
	# CRI registry_token: sent as the bearer token as it is
	local tok
	tok=$(curl -sf -u bob:t0ken "$REGISTRY_TOKEN_TOKEN_REALM?service=$REGISTRY_TOKEN_TOKEN_SERVICE&scope=repository:username:pull" | jq -r .token)
	cat >"$TESTDIR/pull.json" <<JSON
{"image": {"image": "$a/username:latest"}, "auth": {"registryToken": "$tok"}}
JSON
	run ocic -o json raw /runtime.v1.ImageService/PullImage --json "$TESTDIR/pull.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .response.imageRef <<<"$output")" = "$(fx_image_id username)" ]
}

@test "two concurrent pulls of one image fetch each blob once" {
	registry_start conc
	registry_push_fixtures "$REGISTRY_CONC_PORT" "$FIXTURES_DIR" big >/dev/null
	restart_image_ocid "$REGISTRY_CONC_ADDR"
	local ref=$REGISTRY_CONC_ADDR/big:latest
	ocic image pull "$ref" >"$TESTDIR/p1" 2>&1 &
	local p1=$!
	ocic image pull "$ref" >"$TESTDIR/p2" 2>&1 &
	local p2=$!
	wait "$p1"
	wait "$p2"
	[ "$(cat "$TESTDIR/p1")" = "$(fx_image_id big)" ]
	[ "$(cat "$TESTDIR/p2")" = "$(fx_image_id big)" ]
	local d
	for d in $(fx '.fixtures.big | .config.digest, .layers[].digest'); do
		echo "$d: $(blob_gets "$REGISTRY_CONC_LOG" "$d") GETs"
		[ "$(blob_gets "$REGISTRY_CONC_LOG" "$d")" = 1 ]
	done
	[ "$(db 'SELECT COUNT(*) FROM images')" = 1 ]
}

@test "a tag moved to a new image moves; the old image stays, untagged" {
	registry_start move
	local a=$REGISTRY_MOVE_ADDR
	restart_image_ocid "$a"
	skopeo copy -q --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/busybox:latest" "docker://$a/moving:latest"
	run ocic image pull "$a/moving:latest"
	[ "$output" = "$(fx_image_id busybox)" ]
	skopeo copy -q --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/user:latest" "docker://$a/moving:latest"
	run ocic image pull "$a/moving:latest"
	[ "$output" = "$(fx_image_id user)" ]
	run ocic -o json image status "$a/moving:latest"
	[ "$(jq -r .image.id <<<"$output")" = "$(fx_image_id user)" ]
	[ "$(jq -r '.image.repoTags | join(",")' <<<"$output")" = "$a/moving:latest" ]
	run ocic -o json image status "$(fx_image_id busybox)"
	[ "$(jq -r '.image.repoTags | length' <<<"$output")" = 0 ]
	[ "$(jq -r '.image.repoDigests | join(",")' <<<"$output")" = "$a/moving@$(fx .fixtures.busybox.digest)" ]
	[ "$(ocic image list -q | wc -l)" = 2 ]
	# and back
	skopeo copy -q --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/busybox:latest" "docker://$a/moving:latest"
	run ocic image pull "$a/moving:latest"
	[ "$output" = "$(fx_image_id busybox)" ]
	run ocic -o json image status "$(fx_image_id user)"
	[ "$(jq -r '.image.repoTags | length' <<<"$output")" = 0 ]
}

@test "kill -9 in the middle of a pull leaves no image; after a restart the next pull completes" {
	registry_stall_server hang "$FIXTURES_DIR" big hang
	IMAGE_CONF_EXTRA="[ocid.image.mirrors]
\"registry.ocid.test\" = [\"$REGISTRY_HANG_ADDR\"]" restart_image_ocid "$REGISTRY_HANG_ADDR"
	ocic image pull registry.ocid.test/big:latest >/dev/null 2>&1 &
	local client=$!
	# wait until layers are being unpacked
	for _ in $(seq 1 100); do
		[ "$(db "SELECT COUNT(*) FROM layers WHERE state = 'pulling'" 2>/dev/null)" -ge 2 ] && break
		sleep 0.05
	done
	[ "$(db "SELECT COUNT(*) FROM layers WHERE state = 'pulling'")" -ge 2 ]
	[ -n "$(ls -A "$TESTDIR/root/overlay")" ]
	kill9_ocid
	wait "$client" || true
	[ "$(db 'SELECT COUNT(*) FROM images')" = 0 ]
	# now the mirror is a working registry
	IMAGE_CONF_EXTRA="[ocid.image.mirrors]
\"registry.ocid.test\" = [\"$R\"]" write_image_config "$R"
	start_ocid
	grep -q 'store recovered' "$TESTDIR/ocid.log"
	assert_store_empty
	run ocic image pull registry.ocid.test/big:latest
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id big)" ]
	MNT=$TESTDIR/mnt
	mount_image registry.ocid.test/big:latest "$MNT"
	run "$SYSTEM_PYTHON" "$BATS_TEST_DIRNAME/check_rootfs.py" "$FIXTURES_DIR/fixtures.json" big "$MNT"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "progress: per-layer counts in ImageStatus verbose while a pull runs, drawn on a terminal only" {
	registry_stall_server hang "$FIXTURES_DIR" layered hang
	registry_stall_server slow "$FIXTURES_DIR" layered slow
	restart_image_ocid "$REGISTRY_HANG_ADDR" "$REGISTRY_SLOW_ADDR"
	local ref=$REGISTRY_HANG_ADDR/layered:latest
	store_state >"$TESTDIR/before"
	# not a terminal: the error line and nothing else
	run ocic image pull --pull-timeout 1500ms "$ref"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == "ocic: DEADLINE_EXCEEDED: "* ]]
	[ "$(grep -c . <<<"$output")" = 1 ]
	wait_store_state "$TESTDIR/before"
	# ImageStatus(verbose) of the absent image reports the pull in progress
	ocic image pull --pull-timeout 3s "$ref" >/dev/null 2>&1 &
	local client=$!
	echo "{\"image\": {\"image\": \"$ref\"}, \"verbose\": true}" >"$TESTDIR/status.json"
	local pull=''
	for _ in $(seq 1 40); do
		pull=$(ocic -o json raw /runtime.v1.ImageService/ImageStatus --json "$TESTDIR/status.json" | jq -r '.response.info.pull // empty')
		[ -n "$pull" ] && [ "$(jq '[.layers[] | select(.current > 0)] | length' <<<"$pull")" -ge 1 ] && break
		sleep 0.05
	done
	echo "$pull"
	[ "$(jq -r .reference <<<"$pull")" = "$ref" ]
	[ "$(jq -r '.layers | length' <<<"$pull")" = 3 ]
	# a hanging layer stops at half its bytes
	local half
	half=$(fx '.fixtures.layered.layers[0].size / 2 | floor')
	for _ in $(seq 1 40); do
		pull=$(ocic -o json raw /runtime.v1.ImageService/ImageStatus --json "$TESTDIR/status.json" | jq -r '.response.info.pull // empty')
		[ "$(jq -r '.layers[0].current' <<<"$pull")" = "$half" ] && break
		sleep 0.05
	done
	[ "$(jq -r '.layers[0] | .digest + " " + .status + " " + (.size|tostring) + " " + (.current|tostring)' <<<"$pull")" = \
		"$(fx '.fixtures.layered.layers[0] | .digest + " downloading " + (.size|tostring)') $half" ]
	run ocic -o json raw /runtime.v1.ImageService/ImageStatus --json "$TESTDIR/status.json"
	[ "$(jq -r '.response.image' <<<"$output")" = null ]
	wait "$client" || true
	# on a terminal: one line per layer, redrawn in place
	run script -qec "$OCIC image pull --pull-timeout 1500ms $ref" /dev/null
	echo "$output" | cat -v
	[ "$status" -eq 1 ]
	[[ "$output" == *"$(fx '.fixtures.layered.layers[0].digest[7:19]')  downloading"* ]]
	[[ "$output" == *"DEADLINE_EXCEEDED"* ]]
	wait_store_state "$TESTDIR/before"
	# a successful pull on a terminal ends with every layer done
	run script -qec "$OCIC image pull $REGISTRY_SLOW_ADDR/layered:latest" /dev/null
	echo "$output" | cat -v
	[ "$status" -eq 0 ]
	local i
	for i in 0 1 2; do
		[[ "$output" == *"$(fx ".fixtures.layered.layers[$i].digest[7:19]")  done"* ]]
	done
	[[ "$output" == *"$(fx_image_id layered)"* ]]
	# and off a terminal only the image id
	ocic image remove "$(fx_image_id layered)"
	run ocic image pull "$REGISTRY_SLOW_ADDR/layered:latest"
	[ "$status" -eq 0 ]
	[ "$output" = "$(fx_image_id layered)" ]
}
