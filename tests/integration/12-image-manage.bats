#!/usr/bin/env bats
# ListImages, ImageStatus, RemoveImage and ImageFsInfo over pulled images:
# filters, absent images, verbose info, removal by id / tag / digest / id
# prefix (the whole image with all its tags), idempotent and concurrent
# removals, and every layer and blob reclaimed on disk and in the database.
# (The in-use hold that keeps an image a container uses: unit test
# image_pull with direct calls, and 30-/32-ctr-*.bats with real containers.)

# shellcheck source-path=SCRIPTDIR source=image_helpers.bash
source "$BATS_TEST_DIRNAME/image_helpers.bash"

setup_file() {
	fixtures_build
	registry_start manage
	registry_push_fixtures "$REGISTRY_MANAGE_PORT" "$FIXTURES_DIR" busybox busybox-docker user username \
		tags layered multiarch >/dev/null
}

teardown_file() {
	registry_stop_all
}

setup() {
	start_image_ocid "$REGISTRY_MANAGE_ADDR"
	R=$REGISTRY_MANAGE_ADDR
}

teardown() {
	image_teardown
}

status_json() {
	echo "{\"image\": {\"image\": \"$1\"}, \"verbose\": ${2:-false}}" >"$TESTDIR/status.json"
	ocic -o json raw /runtime.v1.ImageService/ImageStatus --json "$TESTDIR/status.json"
}

@test "list: every image once, tags in rows; filter by name, short id, full id, digest" {
	ocic image pull "$R/busybox:latest"
	ocic image pull "$R/tags:v1"
	ocic image pull "$R/tags:v2"
	ocic image pull "$R/user@$(fx .fixtures.user.digest)"
	run ocic -o json image list
	[ "$(jq '.images | length' <<<"$output")" = 3 ]
	[ "$(jq -r '.images[] | select(.id == "'"$(fx_image_id tags)"'") | .repoTags | join(",")' <<<"$output")" = "$R/tags:v1,$R/tags:v2" ]
	run ocic image list
	echo "$output"
	[ "$(grep -c . <<<"$output")" = 5 ] # header, busybox, tags v1 + v2, user (<none>)
	[[ "$output" == *"$R/user "*"<none>"* ]]
	local id
	id=$(fx_image_id tags)
	for spec in "$R/tags:v2" "$R/tags:v1" "$id" "${id#sha256:}" "${id:7:12}" "$R/tags@$(fx .fixtures.tags.digest)"; do
		run ocic -o json image list "$spec"
		echo "$spec: $output"
		[ "$(jq -r '[.images[].id] | join(",")' <<<"$output")" = "$id" ]
	done
	run ocic -o json image list "$R/tags:v3"
	[ "$(jq '.images | length' <<<"$output")" = 0 ]
	run ocic image list -q
	[ "$(grep -c . <<<"$output")" = 3 ]
}

@test "status: an absent image is an empty reply, not an error" {
	run status_json "$R/busybox:latest"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.status' <<<"$output")" = 0 ]
	[ "$(jq -r '.response.image' <<<"$output")" = null ]
	run status_json "sha256:$(printf '%064d' 0)" true
	[ "$(jq -r '.response.image' <<<"$output")" = null ]
	[ "$(jq -r '.response.info | length' <<<"$output")" = 0 ]
	# ocic says NOT_FOUND for it
	run ocic image status "$R/busybox:latest"
	[ "$status" -eq 1 ]
	[[ "$output" == "ocic: NOT_FOUND: image $R/busybox:latest not found" ]]
}

@test "status: fields, user and username, verbose info with the image config" {
	ocic image pull "$R/username:latest"
	ocic image pull "$R/user:latest"
	ocic image pull "$R/multiarch:latest"
	run status_json "$R/username:latest" true
	echo "$output"
	local img info
	img=$(jq -c .response.image <<<"$output")
	info=$(jq -r .response.info.info <<<"$output")
	[ "$(jq -r .id <<<"$img")" = "$(fx_image_id username)" ]
	[ "$(jq -r .username <<<"$img")" = app ]
	[ "$(jq -r .uid <<<"$img")" = null ]
	[ "$(jq -r .spec.image <<<"$img")" = "$(fx_image_id username)" ]
	[ "$(jq -r .imageSpec.config.User <<<"$info")" = app ]
	[ "$(jq -r '.imageSpec.config.Labels["org.ocid.test.fixture"]' <<<"$info")" = username ]
	[ "$(jq -r .imageSpec.rootfs.diff_ids[0] <<<"$info")" = "$(fx '.fixtures.username.layers[0].diff_id')" ]
	[ "$(jq -r .manifestDigest <<<"$info")" = "$(fx .fixtures.username.digest)" ]
	[ "$(jq -r '.chainIDs | length' <<<"$info")" = 1 ]
	run status_json "$R/user:latest"
	[ "$(jq -r .response.image.uid.value <<<"$output")" = 1000 ]
	[ "$(jq -r .response.image.username <<<"$output")" = "" ]
	[ "$(jq -r '.response.info | length' <<<"$output")" = 0 ] # not verbose: no info
	# an index: the repo digest is the index's, the manifest the platform's
	run status_json "$R/multiarch:latest" true
	[ "$(jq -r '.response.image.repoDigests[0]' <<<"$output")" = "$R/multiarch@$(fx .fixtures.multiarch.digest)" ]
	[ "$(jq -r .response.info.info <<<"$output" | jq -r .manifestDigest)" = \
		"$(fx '.fixtures.multiarch.manifests[] | select(.platform.architecture == "amd64") | .digest')" ]
	# the table form
	run ocic image status "$R/user:latest"
	[[ "$output" == *"UID:  1000"* ]]
}

@test "remove by one tag removes the image with all its tags; layers and blobs are reclaimed" {
	ocic image pull "$R/tags:v1"
	ocic image pull "$R/tags:v2"
	ocic image pull "$R/tags:latest"
	ocic image pull "$R/layered:latest"
	[ "$(db 'SELECT COUNT(*) FROM images')" = 2 ]
	[ "$(db 'SELECT COUNT(*) FROM layers')" = 4 ] # the busybox rootfs + layered's 3
	run ocic image remove "$R/tags:v2"
	[ "$status" -eq 0 ]
	[ "$output" = "$R/tags:v2" ]
	for t in v1 v2 latest; do
		run ocic image status "$R/tags:$t"
		[ "$status" -eq 1 ]
	done
	[ "$(db 'SELECT COUNT(*) FROM images')" = 1 ]
	[ "$(db "SELECT COUNT(*) FROM image_names WHERE name LIKE '%/tags:%'")" = 0 ]
	[ "$(db "SELECT COUNT(*) FROM image_digests WHERE name LIKE '%/tags@%'")" = 0 ]
	# tags' layer (not shared with layered) went, from the database and the disk
	local l
	l=$(fx '.fixtures.tags.layers[0].diff_id')
	[ "$l" != "$(fx '.fixtures.layered.layers[0].diff_id')" ]
	[ "$(db "SELECT COUNT(*) FROM layers WHERE id = '$l'")" = 0 ]
	[ ! -e "$TESTDIR/root/overlay/${l#sha256:}" ]
	[ ! -e "$TESTDIR/root/blobs/sha256/$(fx '.fixtures.tags.config.digest' | cut -d: -f2)" ]
	[ ! -e "$TESTDIR/root/blobs/sha256/$(fx '.fixtures.tags.digest' | cut -d: -f2)" ]
	# layered is untouched and still complete
	[ "$(db 'SELECT COUNT(*) FROM layers')" = 3 ]
	ocic image status "$R/layered:latest"
	ocic image remove "$R/layered:latest"
	assert_store_empty
}

@test "remove by id, bare hex, id prefix, digest; again is fine (idempotent)" {
	local n spec
	for n in busybox user username layered; do
		ocic image pull "$R/$n:latest"
	done
	local bb us un
	bb=$(fx_image_id busybox)
	us=$(fx_image_id user)
	un=$(fx_image_id username)
	ocic image remove "$bb"
	ocic image remove "${us#sha256:}"
	ocic image remove "${un:7:12}"
	ocic image remove "$R/layered@$(fx .fixtures.layered.digest)"
	assert_store_empty
	for spec in "$bb" "${us#sha256:}" "$R/layered@$(fx .fixtures.layered.digest)" "$R/username:latest" "$R/never:pulled"; do
		run ocic image remove "$spec"
		echo "$spec: $output"
		[ "$status" -eq 0 ]
	done
}

@test "concurrent removals of one image all succeed" {
	ocic image pull "$R/tags:v1"
	ocic image pull "$R/tags:v2"
	ocic image pull "$R/tags:latest"
	local pids=() i
	for i in 1 2 3 4 5 6; do
		case $((i % 3)) in
		0) ocic image remove "$R/tags:v1" >"$TESTDIR/rm$i" 2>&1 & ;;
		1) ocic image remove "$R/tags:v2" >"$TESTDIR/rm$i" 2>&1 & ;;
		2) ocic image remove "$(fx_image_id tags)" >"$TESTDIR/rm$i" 2>&1 & ;;
		esac
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || {
			cat "$TESTDIR/rm$((i + 1))"
			return 1
		}
	done
	assert_store_empty
}

@test "a layer shared by two images stays until the last of them goes" {
	ocic image pull "$R/busybox:latest"
	ocic image pull "$R/busybox-docker:latest"
	[ "$(db 'SELECT COUNT(*) FROM layers')" = 1 ]
	local l dir
	l=$(db 'SELECT id FROM layers')
	dir=$TESTDIR/root/overlay/${l#sha256:}
	ocic image remove "$R/busybox:latest"
	[ -d "$dir/diff/bin" ]
	[ "$(db 'SELECT COUNT(*) FROM layers')" = 1 ]
	ocic image status "$R/busybox-docker:latest"
	ocic image remove "$R/busybox-docker:latest"
	[ ! -e "$dir" ]
	assert_store_empty
}

@test "fsinfo: the layer directory, bytes and inodes, following pulls and removals" {
	run ocic -o json image fsinfo
	echo "$output"
	[ "$(jq -r '.imageFilesystems[0].fsId.mountpoint' <<<"$output")" = "$TESTDIR/root/overlay" ]
	[ "$(jq -r '.imageFilesystems[0].usedBytes.value' <<<"$output")" = 0 ]
	[ "$(jq -r '.imageFilesystems[0].inodesUsed.value' <<<"$output")" = 0 ]
	local ts
	ts=$(jq -r '.imageFilesystems[0].timestamp' <<<"$output")
	[ "$ts" -gt $(( $(date +%s) - 60 ))000000000 ]
	ocic image pull "$R/layered:latest"
	run ocic -o json image fsinfo
	local bytes inodes du_bytes
	bytes=$(jq -r '.imageFilesystems[0].usedBytes.value' <<<"$output")
	inodes=$(jq -r '.imageFilesystems[0].inodesUsed.value' <<<"$output")
	# what the layers take on disk (du counts hardlinks once, as we do)
	du_bytes=$(du -s -B1 "$TESTDIR/root/overlay" | cut -f1)
	echo "fsinfo $bytes bytes $inodes inodes; du $du_bytes"
	[ "$bytes" -gt 2000000 ]
	[ "$bytes" -le "$du_bytes" ]
	[ "$bytes" -ge $((du_bytes * 9 / 10)) ]
	[ "$inodes" -gt 270 ] # busybox + 267 links + ...
	[ "$inodes" -le "$(find "$TESTDIR/root/overlay" | wc -l)" ]
	run ocic image fsinfo
	[[ "$output" == *"image "*"$TESTDIR/root/overlay"* ]]
	ocic image remove "$R/layered:latest"
	run ocic -o json image fsinfo
	[ "$(jq -r '.imageFilesystems[0].usedBytes.value' <<<"$output")" = 0 ]
}

@test "pull every image, remove every image: nothing left on disk or in the database" {
	local n
	for n in busybox busybox-docker user username tags layered multiarch; do
		ocic image pull "$R/$n:$(fx ".fixtures[\"$n\"].tags[0]")" >/dev/null
	done
	[ "$(db 'SELECT COUNT(*) FROM images')" = 7 ]
	for id in $(ocic image list -q); do
		ocic image remove "$id"
	done
	assert_store_empty
	[ "$(db 'SELECT COUNT(*) FROM layer_digests')" = 0 ]
	[ "$(ocic image list -q | wc -l)" = 0 ]
	# and the store still works
	ocic image pull "$R/busybox:latest"
	[ "$(db 'SELECT COUNT(*) FROM images')" = 1 ]
}
