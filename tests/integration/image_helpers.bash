# shellcheck shell=bash
# Shared by the image suites (11-13-image-*.bats): fixtures and registries
# (tests/fixtures/registry.sh), the daemon's image config, store inspection
# (sqlite3 on ocid.db, the layer and blob directories), and mounting a
# pulled image with overlay to check its content.

# shellcheck source-path=SCRIPTDIR source=helpers.bash
source "$BATS_TEST_DIRNAME/helpers.bash"
# shellcheck source-path=SCRIPTDIR source=../fixtures/registry.sh
source "$BATS_TEST_DIRNAME/../fixtures/registry.sh"

fx() {
	jq -r "$1" "$FIXTURES_DIR/fixtures.json"
}

# The image id a fixture pulls to on this machine (an index: its amd64 entry).
fx_image_id() {
	fx ".fixtures[\"$1\"] | if .kind == \"index\" then (.manifests[] | select(.platform.architecture == \"amd64\") | .image_id) else .image_id end"
}

# Names of the fixtures that are proper images (not the malicious ones).
good_fixtures() {
	fx '.fixtures | to_entries[] | select(.value.malicious == null) | .key'
}

# Writes ocid.conf's [ocid.image] table: every address given is an insecure
# registry; extra TOML lines (mirrors, auth file...) come from $IMAGE_CONF_EXTRA.
write_image_config() {
	local list='' a
	for a in "$@"; do
		list="${list:+$list, }\"$a\""
	done
	{
		echo '[ocid.image]'
		echo "insecure_registries = [$list]"
		if [ -n "${IMAGE_CONF_EXTRA:-}" ]; then
			printf '%s\n' "$IMAGE_CONF_EXTRA"
		fi
	} >"$TESTDIR/ocid.conf"
}

# A fresh daemon on a fresh root that trusts the given registries over http.
start_image_ocid() {
	setup_ocid_env
	write_image_config "$@"
	start_ocid
}

db() {
	sqlite3 "$TESTDIR/root/ocid.db" "$@"
}

# Everything the store holds, one fact a line (for before/after compares).
store_state() {
	db "SELECT 'image', id FROM images ORDER BY id;
	    SELECT 'tag', name, image_id FROM image_names ORDER BY name;
	    SELECT 'digest', name, image_id FROM image_digests ORDER BY name;
	    SELECT 'layer', id, state FROM layers ORDER BY id;
	    SELECT 'image_layer', image_id, idx, layer_id FROM image_layers ORDER BY image_id, idx;"
	ls -A "$TESTDIR/root/overlay" | sed 's/^/dir /'
	ls -A "$TESTDIR/root/blobs/sha256" | sed 's/^/blob /'
}

# No image, layer or blob anywhere: database and disk.
assert_store_empty() {
	local s
	s=$(store_state)
	if [ -n "$s" ]; then
		echo "store is not empty:" >&2
		echo "$s" >&2
		return 1
	fi
}

# Waits (up to 10 s) until the store is back to the state in file $1 (a
# failed pull cleans up as its handler returns; the client may have given up
# earlier, at its deadline).
wait_store_state() {
	local want=$1
	for _ in $(seq 1 200); do
		if [ "$(store_state)" = "$(cat "$want")" ]; then
			return 0
		fi
		sleep 0.05
	done
	diff <(cat "$want") <(store_state) >&2
	return 1
}

# Prints the gRPC code name of a failed ocic call's stderr ("ocic: CODE: ...").
grpc_code() {
	sed -n 's/^ocic: \([A-Z_]*\): .*/\1/p' <<<"$1" | head -n1
}

# The layer directories of an image, top first (overlay's lowerdir order).
image_lower_dirs() {
	local ref=$1 info
	info=$(ocic -o json image status -v "$ref" | jq -r '.info.info')
	jq -r '.chainIDs | reverse | .[]' <<<"$info" | while read -r id; do
		echo "$TESTDIR/root/overlay/${id#sha256:}/diff"
	done
}

# Mounts image REF read-only with overlay at DIR (its layers as lowerdirs).
mount_image() {
	local ref=$1 dir=$2 lower='' d n=0
	while read -r d; do
		lower="${lower:+$lower:}$d"
		n=$((n + 1))
	done < <(image_lower_dirs "$ref")
	[ "$n" -gt 0 ] || return 1
	if [ "$n" -eq 1 ]; then
		# overlay wants two lower layers without an upper one
		mkdir -p "$TESTDIR/empty-lower"
		lower="$lower:$TESTDIR/empty-lower"
	fi
	mkdir -p "$dir"
	mount -t overlay overlay -o "ro,lowerdir=$lower" "$dir"
}

# Counts the GETs of a blob in a docker-registry access log.
blob_gets() {
	local log=$1 digest=$2
	grep -c "\"GET /v2/[^ ]*/blobs/$digest " "$log" || true
}

# Stops the daemon (gracefully, so sanitizers get to report; a daemon that
# does not exit 0 on SIGTERM fails the test), unmounts what
# is left under the test directory (an image mount, the pod module's
# namespace directory after a kill -9), then removes everything.
image_teardown() {
	local rc=0
	stop_ocid || rc=$?
	if [ "$rc" -ne 0 ] && [ -f "$TESTDIR/ocid.log" ]; then
		echo "ocid exited with status $rc; its log ends with:" >&2
		tail -n 20 "$TESTDIR/ocid.log" >&2
	fi
	if [ -n "${TESTDIR:-}" ]; then
		awk -v t="$TESTDIR/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	teardown_ocid_env || rc=1
	return "$rc"
}

# kill -9 of the daemon; its socket file stays behind, so remove it for the
# next start_ocid to wait for the new one.
kill9_ocid() {
	kill -KILL "$OCID_PID"
	wait "$OCID_PID" 2>/dev/null || true
	OCID_PID=
	rm -f "$SOCK"
}

# Restarts the daemon with a new [ocid.image] config (write_image_config's
# arguments; IMAGE_CONF_EXTRA as set by the caller).
restart_image_ocid() {
	stop_ocid || true
	rm -f "$SOCK"
	write_image_config "$@"
	start_ocid
}
