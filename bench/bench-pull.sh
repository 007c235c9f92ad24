#!/usr/bin/env bash
# Pull of the ~50 MB `big` image fixture from a local docker-registry on
# 127.0.0.1: ocid (PullImage through ocic: download, verify, unpack into
# the layer store, record) against the same work done by stock tools
# (`skopeo copy docker://... oci:DIR` then `tar -x` of each layer), in the
# same run, alternating, on the same registry. Reports, per tool, the
# median and best wall time and the peak RSS (ocid: VmHWM of the daemon,
# started fresh for each pull; stock: the larger of skopeo's and tar's
# maximum RSS from /usr/bin/time). ocid makes each layer durable (syncfs)
# before recording it; "stock+sync" adds a `sync` to the stock run for the
# like-for-like figure.
#
# Usage: bench/bench-pull.sh [-n RUNS] [-b BUILDDIR]
#   RUNS      pulls per tool (default 5)
#   BUILDDIR  where ocid and ocic are built (default $OCID_BUILDDIR or ./build)
# Needs: docker-registry, skopeo, jq, curl, /usr/bin/time, python3 (the
# fixture builder); root (ocid unpacks with owners and device nodes).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=5
BUILDDIR=${OCID_BUILDDIR:-$SRC/build}
while getopts n:b:h opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	b) BUILDDIR=$OPTARG ;;
	*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
OCID=$BUILDDIR/src/daemon/ocid
OCIC=$BUILDDIR/src/ocic/ocic
for f in "$OCID" "$OCIC"; do
	[ -x "$f" ] || { echo "bench-pull: $f not built (ninja -C $BUILDDIR)" >&2; exit 1; }
done
for c in skopeo jq docker-registry /usr/bin/time; do
	command -v "$c" >/dev/null || { echo "bench-pull: $c is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ocid-bench-pull.XXXXXX)
OCID_PID=
cleanup() {
	if [ -n "$OCID_PID" ]; then
		kill -KILL "$OCID_PID" 2>/dev/null || true
		wait "$OCID_PID" 2>/dev/null || true
	fi
	registry_stop_all 2>/dev/null || true
	awk -v t="$WORK/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=../tests/fixtures/registry.sh
source "$SRC/tests/fixtures/registry.sh"
export OCID_FIXTURES_DIR=${OCID_FIXTURES_DIR:-$WORK/fixtures}
fixtures_build
registry_start bench
registry_push_fixtures "$REGISTRY_BENCH_PORT" "$FIXTURES_DIR" big >/dev/null
REF=$REGISTRY_BENCH_ADDR/big:latest
SIZE=$(jq -r '.fixtures.big.total_size' "$FIXTURES_DIR/fixtures.json")

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# One ocid pull on a fresh daemon and root: prints "WALL_MS RSS_KB".
ocid_pull() {
	local d=$WORK/ocid
	rm -rf "$d"
	mkdir -p "$d/conf.d"
	printf '[ocid.image]\ninsecure_registries = ["%s"]\n' "$REGISTRY_BENCH_ADDR" >"$d/ocid.conf"
	"$OCID" --config "$d/ocid.conf" --config-dir "$d/conf.d" --root "$d/root" --runroot "$d/run" \
		--listen "$d/run/ocid.sock" --cni-config-dir "$d/cni" --log-level warn >"$d/ocid.log" 2>&1 &
	OCID_PID=$!
	for _ in $(seq 1 200); do
		[ -S "$d/run/ocid.sock" ] && break
		sleep 0.02
	done
	local t0 t1 rss
	sync # nobody pays for the previous run's dirty pages
	t0=$(now_ms)
	OCID_ENDPOINT=unix://$d/run/ocid.sock "$OCIC" image pull "$REF" >/dev/null
	t1=$(now_ms)
	rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$OCID_PID/status")
	kill -TERM "$OCID_PID"
	wait "$OCID_PID" || true
	OCID_PID=
	awk -v t="$d/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$d"
	echo "$((t1 - t0)) $rss"
}

# skopeo copy to an OCI layout, then tar -x of each layer: "WALL_MS RSS_KB".
stock_pull() {
	local sync=$1 d=$WORK/stock
	rm -rf "$d"
	mkdir -p "$d/rootfs"
	local t0 t1 rss m l r
	sync
	t0=$(now_ms)
	/usr/bin/time -f %M -o "$d/rss.skopeo" skopeo copy -q --src-tls-verify=false \
		"docker://$REF" "oci:$d/oci:latest"
	m=$(jq -r '.manifests[0].digest' "$d/oci/index.json")
	rss=$(cat "$d/rss.skopeo")
	for l in $(jq -r '.layers[].digest' "$d/oci/blobs/sha256/${m#sha256:}"); do
		/usr/bin/time -f %M -o "$d/rss.tar" tar -x -C "$d/rootfs" -f "$d/oci/blobs/sha256/${l#sha256:}"
		r=$(cat "$d/rss.tar")
		[ "$r" -gt "$rss" ] && rss=$r
	done
	if [ "$sync" = 1 ]; then
		sync
	fi
	t1=$(now_ms)
	rm -rf "$d"
	echo "$((t1 - t0)) $rss"
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
best() { sort -n | head -n1; }

: >"$WORK/ocid.txt"
: >"$WORK/stock.txt"
: >"$WORK/stocksync.txt"
# one warm-up of each (page cache, registry), not counted
ocid_pull >/dev/null
stock_pull 0 >/dev/null
for i in $(seq 1 "$RUNS"); do
	ocid_pull >>"$WORK/ocid.txt"
	stock_pull 0 >>"$WORK/stock.txt"
	stock_pull 1 >>"$WORK/stocksync.txt"
	echo "run $i/$RUNS: ocid $(tail -n1 "$WORK/ocid.txt") | stock $(tail -n1 "$WORK/stock.txt") | stock+sync $(tail -n1 "$WORK/stocksync.txt")  (ms, KiB)" >&2
done

report() {
	local name=$1 f=$2
	printf '%-12s %8s %8s %10s\n' "$name" "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f1 "$f" | best)" \
		"$(cut -d' ' -f2 "$f" | sort -n | tail -n1)"
}
echo >&2
echo "pull of $REF ($SIZE bytes), $RUNS runs each, $(nproc) CPUs"
printf '%-12s %8s %8s %10s\n' tool "median" "best" "peak RSS"
printf '%-12s %8s %8s %10s\n' "" "ms" "ms" "KiB"
report ocid "$WORK/ocid.txt"
report stock "$WORK/stock.txt"
report stock+sync "$WORK/stocksync.txt"
