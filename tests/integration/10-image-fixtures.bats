#!/usr/bin/env bats
# The image fixtures and local registries the image tests stand on: the
# fixtures build byte for byte the same, agree with fixtures.json, push to a
# docker-registry on 127.0.0.1 with the recorded digests and media types,
# are read by skopeo; the basic-auth and token-auth registries refuse and
# accept the right requests; the misbehaving server misbehaves as promised.

# shellcheck source-path=SCRIPTDIR source=../fixtures/registry.sh
source "$BATS_TEST_DIRNAME/../fixtures/registry.sh"

ACCEPT_ALL='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json'

setup_file() {
	fixtures_build
	registry_start plain
	registry_push_fixtures "$REGISTRY_PLAIN_PORT" "$FIXTURES_DIR"
	registry_start basic --htpasswd alice:s3cret
	registry_start token --token bob:t0ken
}

teardown_file() {
	registry_stop_all
}

teardown() {
	# Registries a test started for itself (setup_file's are kept).
	local n
	for n in ${REGISTRY_STARTED:-}; do
		case $n in
		plain | basic | token) ;;
		*) registry_stop "$n" ;;
		esac
	done
}

fx() {
	jq -r "$1" "$FIXTURES_DIR/fixtures.json"
}

# Prints "STATUS DIGEST CONTENT-TYPE" of a manifest HEAD.
manifest_head() {
	curl -s -I -H "Accept: $ACCEPT_ALL" "$@" | tr -d '\r' |
		awk '{h = tolower($1)} h ~ /^http\// {s = $2} h == "docker-content-digest:" {d = $2}
		     h == "content-type:" {t = $2} END {print s, d, t}'
}

@test "fixtures build the same bytes twice, quickly, and only into OUTDIR" {
	local again=$BATS_FILE_TMPDIR/again
	mkdir -p "$BATS_FILE_TMPDIR/cwd"
	local start=$SECONDS
	(cd "$BATS_FILE_TMPDIR/cwd" && "$BATS_TEST_DIRNAME/../fixtures/build-images.sh" "$again")
	[ $((SECONDS - start)) -lt 30 ]
	[ -z "$(ls -A "$BATS_FILE_TMPDIR/cwd")" ]
	cmp "$FIXTURES_DIR/fixtures.json" "$again/fixtures.json"
	diff <(cd "$FIXTURES_DIR" && find oci dir blobs -printf '%y %p %s\n' | sort) \
		<(cd "$again" && find oci dir blobs -printf '%y %p %s\n' | sort)
	# blobs are named by digest, so equal names with equal bytes is the whole check
	(cd "$again/blobs/sha256" && for f in *; do echo "$f  $f"; done) >"$BATS_FILE_TMPDIR/sums"
	(cd "$again/blobs/sha256" && sha256sum -c --quiet "$BATS_FILE_TMPDIR/sums")
	rm -rf "$again"
	# it refuses to write over fixtures
	run "$BATS_TEST_DIRNAME/../fixtures/build-images.sh" "$FIXTURES_DIR"
	[ "$status" -ne 0 ]
}

@test "every fixture agrees with fixtures.json: layouts, digests, diff_ids, expected files" {
	run /usr/bin/python3 "$BATS_TEST_DIRNAME/../fixtures/check_fixtures.py" "$FIXTURES_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
	for n in busybox busybox-docker busybox-zstd busybox-plain user username tags layered \
		multiarch multiarch-docker big evil-dotdot evil-abs evil-symlink evil-symlink-rel \
		evil-hardlink; do
		[[ "$output" == *"ok $n"* ]]
	done
}

@test "fixtures have the formats the issue asks for" {
	[ "$(fx '.fixtures.busybox.media_type')" = application/vnd.oci.image.manifest.v1+json ]
	[ "$(fx '.fixtures.busybox.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+gzip ]
	[ "$(fx '.fixtures["busybox-docker"].media_type')" = application/vnd.docker.distribution.manifest.v2+json ]
	[ "$(fx '.fixtures["busybox-docker"].layers[0].mediaType')" = application/vnd.docker.image.rootfs.diff.tar.gzip ]
	[ "$(fx '.fixtures["busybox-docker"].config.media_type')" = application/vnd.docker.container.image.v1+json ]
	[ "$(fx '.fixtures["busybox-zstd"].layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+zstd ]
	[ "$(fx '.fixtures["busybox-plain"].layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar ]
	# one rootfs, four encodings: one diff_id
	[ "$(fx '[.fixtures.busybox, .fixtures["busybox-docker"], .fixtures["busybox-zstd"], .fixtures["busybox-plain"]] | map(.layers[0].diff_id) | unique | length')" = 1 ]
	[ "$(fx '.fixtures.layered.layers | length')" = 3 ]
	[ "$(fx '.fixtures.multiarch.media_type')" = application/vnd.oci.image.index.v1+json ]
	[ "$(fx '.fixtures["multiarch-docker"].media_type')" = application/vnd.docker.distribution.manifest.list.v2+json ]
	[ "$(fx '.fixtures.multiarch.manifests | map(.platform.architecture + "/" + (.platform.variant // "")) | join(",")')" = amd64/,arm64/v8 ]
	[ "$(fx '.fixtures.user.user')" = 1000:1000 ]
	[ "$(fx '.fixtures.username.user')" = app ]
	[ "$(fx '.fixtures.tags.tags | join(",")')" = v1,v2,latest ]
	local big
	big=$(fx '.fixtures.big.total_size')
	[ "$big" -gt $((45 * 1024 * 1024)) ] && [ "$big" -lt $((60 * 1024 * 1024)) ]
	# every image but the shared-tag one has an image id of its own
	[ "$(fx '[.fixtures[] | select(.kind == "manifest") | .image_id] | unique | length')" = \
		"$(fx '[.fixtures[] | select(.kind == "manifest")] | length')" ]
	# the busybox in the images runs
	local l
	l=$(fx '.fixtures.busybox.layers[0].digest')
	mkdir -p "$BATS_TEST_TMPDIR/root"
	tar -xzf "$FIXTURES_DIR/blobs/sha256/${l#sha256:}" -C "$BATS_TEST_TMPDIR/root"
	[ "$("$BATS_TEST_TMPDIR/root/bin/sh" -c 'echo hi')" = hi ]
	grep -q '^app:x:1000:1000:' "$BATS_TEST_TMPDIR/root/etc/passwd"
	grep -q '^extra:x:1001:app$' "$BATS_TEST_TMPDIR/root/etc/group"
}

@test "malicious layers hold their raw entries" {
	names() {
		local l
		l=$(fx ".fixtures[\"$1\"].layers[0].digest")
		/usr/bin/python3 -c 'import sys, tarfile
for t in tarfile.open(sys.argv[1]):
    print(t.name + (" -> " + t.linkname if t.linkname else ""))' "$FIXTURES_DIR/blobs/sha256/${l#sha256:}"
	}
	[[ "$(names evil-dotdot)" == *$'\n'../../*/tmp/ocid-evil-dotdot ]]
	[[ "$(names evil-abs)" == *$'\n'/tmp/ocid-evil-abs ]]
	[[ "$(names evil-symlink)" == *$'\nlink -> /tmp\nlink/ocid-evil-symlink' ]]
	[[ "$(names evil-symlink-rel)" == *$'\nlink -> ../../'*$'/tmp\nlink/ocid-evil-symlink-rel' ]]
	[[ "$(names evil-hardlink)" == *$'\npasswd -> ../../'*'/etc/passwd' ]]
	[[ "$(names evil-hardlink-abs)" == *$'\npasswd -> /etc/passwd' ]]
	[[ "$(names evil-whiteout)" == *$'\ndata/.wh...' ]]
	[ "$(fx '.fixtures["evil-symlink"].escape_marker')" = /tmp/ocid-evil-symlink ]
}

@test "every fixture is in the registry under every tag with the digest and media type of fixtures.json" {
	local n t want got
	for n in $(fx '.fixtures | keys[]'); do
		for t in $(fx ".fixtures[\"$n\"].tags[]"); do
			want="200 $(fx ".fixtures[\"$n\"] | .digest + \" \" + .media_type")"
			got=$(manifest_head "http://$REGISTRY_PLAIN_ADDR/v2/$n/manifests/$t")
			echo "$n:$t want [$want] got [$got]"
			[ "$got" = "$want" ]
		done
		# by digest too, and the manifests of an index
		for want in $(fx ".fixtures[\"$n\"] | [.digest] + [(.manifests // [])[].digest] | .[]"); do
			got=$(manifest_head "http://$REGISTRY_PLAIN_ADDR/v2/$n/manifests/$want")
			[ "${got%% *}" = 200 ]
			[[ "$got" == "200 $want "* ]]
		done
		# every blob, with its size
		while read -r d size; do
			got=$(curl -s -I "http://$REGISTRY_PLAIN_ADDR/v2/$n/blobs/$d" | tr -d '\r' | awk 'tolower($1) == "content-length:" {print $2}')
			[ "$got" = "$size" ]
		done < <(fx ".fixtures[\"$n\"] | [., (.manifests // [])[]] | .[] | select(.config) | (.config | .digest + \" \" + (.size|tostring)), (.layers[] | .digest + \" \" + (.size|tostring))")
	done
}

@test "skopeo inspects every fixture from the registry" {
	local n raw
	for n in $(fx '.fixtures | keys[]'); do
		raw=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY_PLAIN_ADDR/$n:$(fx ".fixtures[\"$n\"].tags[0]")" | sha256sum | cut -d' ' -f1)
		[ "sha256:$raw" = "$(fx ".fixtures[\"$n\"].digest")" ]
	done
	run skopeo inspect --tls-verify=false "docker://$REGISTRY_PLAIN_ADDR/layered:latest"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .Digest)" = "$(fx .fixtures.layered.digest)" ]
	[ "$(echo "$output" | jq -c .Layers)" = "$(fx '.fixtures.layered.layers | map(.digest)' | jq -c .)" ]
	run skopeo inspect --tls-verify=false "docker://$REGISTRY_PLAIN_ADDR/tags:v2"
	[ "$(echo "$output" | jq -r '.RepoTags | sort | join(",")')" = latest,v1,v2 ]
	run skopeo inspect --tls-verify=false --config "docker://$REGISTRY_PLAIN_ADDR/user:latest"
	[ "$(echo "$output" | jq -r .config.User)" = 1000:1000 ]
	# the arm64 entry of the list, chosen the way a client on arm64 would
	run skopeo inspect --tls-verify=false --override-arch arm64 --override-variant v8 --raw \
		"docker://$REGISTRY_PLAIN_ADDR/multiarch-docker:latest"
	[ "$status" -eq 0 ]
}

@test "skopeo copies the layouts to a registry without changing a byte" {
	local a=$REGISTRY_PLAIN_ADDR
	skopeo copy -q --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/busybox:latest" "docker://$a/sk/busybox:latest"
	skopeo copy -q --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/tags:v2" "docker://$a/sk/tags:v2"
	skopeo copy -q --all --dest-tls-verify=false "oci:$FIXTURES_DIR/oci/multiarch:latest" "docker://$a/sk/multiarch:latest"
	skopeo copy -q --dest-tls-verify=false "dir:$FIXTURES_DIR/dir/busybox-docker" "docker://$a/sk/busybox-docker:latest"
	skopeo copy -q --all --dest-tls-verify=false "dir:$FIXTURES_DIR/dir/multiarch-docker" "docker://$a/sk/multiarch-docker:latest"
	[ "$(manifest_head "http://$a/v2/sk/busybox/manifests/latest")" = "200 $(fx '.fixtures.busybox | .digest + " " + .media_type')" ]
	[ "$(manifest_head "http://$a/v2/sk/tags/manifests/v2")" = "200 $(fx '.fixtures.tags | .digest + " " + .media_type')" ]
	[ "$(manifest_head "http://$a/v2/sk/multiarch/manifests/latest")" = "200 $(fx '.fixtures.multiarch | .digest + " " + .media_type')" ]
	[ "$(manifest_head "http://$a/v2/sk/busybox-docker/manifests/latest")" = "200 $(fx '.fixtures["busybox-docker"] | .digest + " " + .media_type')" ]
	[ "$(manifest_head "http://$a/v2/sk/multiarch-docker/manifests/latest")" = "200 $(fx '.fixtures["multiarch-docker"] | .digest + " " + .media_type')" ]
}

@test "fixtures push under a prefix, as docker.io short names and mirrors want" {
	registry_push_fixtures "$REGISTRY_PLAIN_PORT" "$FIXTURES_DIR" --prefix library/ busybox tags
	[ "$(manifest_head "http://$REGISTRY_PLAIN_ADDR/v2/library/busybox/manifests/latest")" = \
		"200 $(fx '.fixtures.busybox | .digest + " " + .media_type')" ]
	[ "$(manifest_head "http://$REGISTRY_PLAIN_ADDR/v2/library/tags/manifests/v1" | cut -d' ' -f2)" = "$(fx .fixtures.tags.digest)" ]
	run registry_push_fixtures "$REGISTRY_PLAIN_PORT" "$FIXTURES_DIR" no-such-fixture
	[ "$status" -ne 0 ]
}

@test "registry_blob_path finds a blob on disk, and corrupting it changes what the registry serves" {
	registry_start corrupt
	registry_push_fixtures "$REGISTRY_CORRUPT_PORT" "$FIXTURES_DIR" busybox
	local l p
	l=$(fx '.fixtures.busybox.layers[0].digest')
	p=$(registry_blob_path "$REGISTRY_CORRUPT_DIR" "$l")
	[ "sha256:$(sha256sum <"$p" | cut -d' ' -f1)" = "$l" ]
	# the manifest is a blob as well
	[ -f "$(registry_blob_path "$REGISTRY_CORRUPT_DIR" "$(fx .fixtures.busybox.digest)")" ]
	printf 'XXXX' | dd of="$p" bs=1 seek=1000 conv=notrunc status=none
	curl -sf -o "$BATS_TEST_TMPDIR/blob" "http://$REGISTRY_CORRUPT_ADDR/v2/busybox/blobs/$l"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/blob")" = "$(fx '.fixtures.busybox.layers[0].size')" ]
	[ "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/blob" | cut -d' ' -f1)" != "$l" ]
	local dir=$REGISTRY_CORRUPT_DIR pid=$REGISTRY_CORRUPT_PID
	registry_stop corrupt
	[ ! -e "$dir" ]
	run kill -0 "$pid"
	[ "$status" -ne 0 ]
}

@test "basic-auth registry refuses anonymous and wrong passwords and accepts the right one" {
	local a=$REGISTRY_BASIC_ADDR
	[ "$REGISTRY_BASIC_CREDS" = alice:s3cret ]
	run curl -s -i "http://$a/v2/"
	[[ "$output" == "HTTP/1.1 401"* ]]
	[[ "$output" == *'Www-Authenticate: Basic realm="ocid-test-registry"'* ]]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wrong "http://$a/v2/")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:s3cret "http://$a/v2/")" = 200 ]
	run registry_push_fixtures "$REGISTRY_BASIC_PORT" "$FIXTURES_DIR" busybox
	[ "$status" -ne 0 ]
	registry_push_fixtures "$REGISTRY_BASIC_PORT" "$FIXTURES_DIR" --creds alice:s3cret busybox
	run skopeo inspect --tls-verify=false --raw "docker://$a/busybox:latest"
	[ "$status" -ne 0 ]
	run skopeo inspect --tls-verify=false --creds alice:nope --raw "docker://$a/busybox:latest"
	[ "$status" -ne 0 ]
	[ "$(skopeo inspect --tls-verify=false --creds alice:s3cret --raw "docker://$a/busybox:latest" | sha256sum | cut -d' ' -f1)" = \
		"$(fx .fixtures.busybox.digest | cut -d: -f2)" ]
}

@test "token-auth registry sends clients to its token service, which checks Basic credentials" {
	local a=$REGISTRY_TOKEN_ADDR realm=$REGISTRY_TOKEN_TOKEN_REALM svc=$REGISTRY_TOKEN_TOKEN_SERVICE
	run curl -s -i "http://$a/v2/"
	[[ "$output" == "HTTP/1.1 401"* ]]
	[[ "$output" == *"Www-Authenticate: Bearer realm=\"$realm\",service=\"$svc\""* ]]
	registry_push_fixtures "$REGISTRY_TOKEN_PORT" "$FIXTURES_DIR" --creds bob:t0ken busybox
	local q="service=$svc&scope=repository:busybox:pull"
	# no credentials, wrong credentials: no token
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$realm?$q")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u bob:wrong "$realm?$q")" = 401 ]
	# the right ones: a token that opens the repository
	local tok
	tok=$(curl -sf -u bob:t0ken "$realm?$q" | jq -r .token)
	[ -n "$tok" ] && [ "$tok" != null ]
	[ "$(manifest_head -H "Authorization: Bearer $tok" "http://$a/v2/busybox/manifests/latest")" = \
		"200 $(fx '.fixtures.busybox | .digest + " " + .media_type')" ]
	# a token for busybox does not open another repository
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://$a/v2/other/manifests/latest")" = 401 ]
	# the OAuth2 form: password grant gives a refresh token, which gives access tokens
	local body rt
	body=$(curl -sf -d "grant_type=password&username=bob&password=t0ken&service=$svc&scope=repository:busybox:pull&client_id=ocid" "$realm")
	rt=$(echo "$body" | jq -r .refresh_token)
	[ "$rt" = "$REGISTRY_TOKEN_REFRESH_TOKEN" ]
	tok=$(curl -sf -d "grant_type=refresh_token&refresh_token=$rt&service=$svc&scope=repository:busybox:pull&client_id=ocid" "$realm" | jq -r .access_token)
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://$a/v2/busybox/manifests/latest" -H "Accept: $ACCEPT_ALL")" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -d "grant_type=refresh_token&refresh_token=bad&service=$svc" "$realm")" = 401 ]
	# skopeo goes the whole way
	run skopeo inspect --tls-verify=false --raw "docker://$a/busybox:latest"
	[ "$status" -ne 0 ]
	run skopeo inspect --tls-verify=false --creds bob:t0ken --raw "docker://$a/busybox:latest"
	[ "$status" -eq 0 ]
	grep -q 'granted user=bob' "$REGISTRY_TOKEN_TOKEN_LOG"
}

@test "token-auth registry with anonymous pull, the Docker Hub way" {
	registry_start hub --token --anonymous-pull
	run registry_push_fixtures "$REGISTRY_HUB_PORT" "$FIXTURES_DIR" busybox
	[ "$status" -ne 0 ]
	registry_push_fixtures "$REGISTRY_HUB_PORT" "$FIXTURES_DIR" --creds "$REGISTRY_HUB_CREDS" busybox
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY_HUB_ADDR/busybox:latest" | sha256sum | cut -d' ' -f1)" = \
		"$(fx .fixtures.busybox.digest | cut -d: -f2)" ]
	grep -q 'granted user=<anonymous>' "$REGISTRY_HUB_TOKEN_LOG"
}

@test "the stall server serves manifests, then stops in the middle of a layer" {
	registry_stall_server stall "$FIXTURES_DIR" busybox stall
	local a=$REGISTRY_STALL_ADDR l size
	l=$(fx '.fixtures.busybox.layers[0].digest')
	size=$(fx '.fixtures.busybox.layers[0].size')
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$a/v2/")" = 200 ]
	[ "$(manifest_head "http://$a/v2/library/busybox/manifests/latest")" = "200 $(fx '.fixtures.busybox | .digest + " " + .media_type')" ]
	curl -sf -o /dev/null "http://$a/v2/busybox/blobs/$(fx .fixtures.busybox.config.digest)"
	run curl -s -o "$BATS_TEST_TMPDIR/part" -w '%{size_download}' "http://$a/v2/busybox/blobs/$l"
	[ "$status" -eq 18 ] # partial file
	[ "$output" = $((size / 2)) ]
	run skopeo copy --retry-times 0 --src-tls-verify=false "docker://$a/busybox:latest" "oci:$BATS_TEST_TMPDIR/out:latest"
	[ "$status" -ne 0 ]
	grep -q "stall after $((size / 2)) of $size bytes" "$REGISTRY_STALL_LOG"

	registry_stall_server hang "$FIXTURES_DIR" busybox hang
	run curl -s -m 2 -o /dev/null -w '%{size_download}' "http://$REGISTRY_HANG_ADDR/v2/busybox/blobs/$l"
	[ "$status" -eq 28 ] # timed out, connection still open
	[ "$output" = $((size / 2)) ]

	registry_stall_server bad "$FIXTURES_DIR" busybox malformed
	run curl -sf "http://$REGISTRY_BAD_ADDR/v2/busybox/manifests/latest"
	[ "$status" -eq 0 ]
	run jq . <<<"$output"
	[ "$status" -ne 0 ]
}

@test "everything listens on 127.0.0.1 only" {
	registry_stall_server lo "$FIXTURES_DIR" busybox ok
	local port hex
	for port in "$REGISTRY_PLAIN_PORT" "$REGISTRY_BASIC_PORT" "$REGISTRY_TOKEN_PORT" \
		"$REGISTRY_TOKEN_TOKEN_PORT" "$REGISTRY_LO_PORT"; do
		hex=$(printf '%04X' "$port")
		# state 0A = LISTEN; the address must be 0100007F (127.0.0.1)
		run awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {print $2}' /proc/net/tcp /proc/net/tcp6
		[ "$output" = "0100007F:$hex" ]
	done
}
