#!/usr/bin/env bash
# Container lifecycle benchmark (bench/bench_ctr.c): sets up a local
# docker-registry with the busybox fixture, a fresh ocid on a temporary
# root that pulls it, a pod on a bridge network of its own (like the
# kubelet's: own network/IPC, PID per container, a cgroup parent), then runs
# bench-ctr, which measures CreateContainer+StartContainer and
# StopContainer+RemoveContainer through ocid against conmon + runc on the
# same bundle without ocid, one by one and C at a time.
#
# Usage: bench/bench-ctr.sh [-n N] [-c C] [-R ROUNDS] [-r RUNTIME] [-w WORKERS] [-t] [-d] [-x TOML] [-b BUILDDIR]
#   N         containers per phase (default 100)
#   C         concurrency of the second phase (default 10)
#   ROUNDS    how many times the second phase runs (default 1): its latency
#             varies by +-30 ms from batch to batch on 2 cores, so a verdict
#             on a few ms needs ~100 pairs of batches (-R 10)
#   RUNTIME   runc (default) or crun
#   WORKERS   ocid --workers (default: ocid's own default, 4)
#   -t        runroot (bundles, the floor's too) on a tmpfs (/dev/shm), as /run is on
#             most hosts; default: under /tmp (ext4 on this machine)
#   -d        debug logs on both sides (ocid's and the floor driver's), and
#             where the time went: ocid's own steps, the runtime's as the driver
#             timed them. Default: ocid at its default level (info), as deployed.
#   TOML      lines added to the daemon's ocid.conf, for A/B runs, e.g.
#             -x $'[ocid.runtime]\nwarm_rootfs = 0'
# OCID_BENCH_LOG=FILE keeps a copy of the daemon's (debug) log.
#   BUILDDIR  where ocid, ocic and bench-ctr are built (default $OCID_BUILDDIR or ./build)
# Needs root, conmon, runc/crun, docker-registry, jq, python3 (fixtures).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=100
C=10
RUNTIME=runc
BUILDDIR=${OCID_BUILDDIR:-$SRC/build}
WORKERS=
TMPFS=
DEBUG=
ROUNDS=1
CONF_EXTRA=
while getopts n:c:R:r:w:tdx:b:h opt; do
	case $opt in
	n) N=$OPTARG ;;
	c) C=$OPTARG ;;
	R) ROUNDS=$OPTARG ;;
	r) RUNTIME=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	t) TMPFS=1 ;;
	d) DEBUG=1 ;;
	x) CONF_EXTRA=$OPTARG ;;
	b) BUILDDIR=$OPTARG ;;
	*) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 2 ;;
	esac
done
OCID=$BUILDDIR/src/daemon/ocid
OCIC=$BUILDDIR/src/ocic/ocic
BENCH=$BUILDDIR/bench/bench-ctr
for f in "$OCID" "$OCIC" "$BENCH"; do
	[ -x "$f" ] || { echo "bench-ctr: $f not built (ninja -C $BUILDDIR)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ocid-bench-ctr.XXXXXX)
RUNROOT=$WORK/run
if [ -n "$TMPFS" ]; then
	RUNROOT=$(mktemp -d /dev/shm/ocid-bench-ctr-run.XXXXXX)
fi
BRIDGE=ocidbctr0
CG=/ocid-bench-ctr-$$
OCID_PID=
POD=
export OCID_ENDPOINT=unix://$RUNROOT/ocid.sock
cleanup() {
	if [ -n "$POD" ] && [ -n "$OCID_PID" ]; then
		"$OCIC" pod remove "$POD" >/dev/null 2>&1 || true
	fi
	if [ -n "$OCID_PID" ]; then
		kill -TERM "$OCID_PID" 2>/dev/null || true
		wait "$OCID_PID" 2>/dev/null || true
	fi
	# after the daemon has stopped: its shutdown (and a sanitizer's report) too
	if [ -n "${OCID_BENCH_LOG:-}" ] && [ -f "$WORK/ocid.log" ]; then
		cp "$WORK/ocid.log" "$OCID_BENCH_LOG"
	fi
	registry_stop_all 2>/dev/null || true
	awk -v t="$WORK/" -v r="$RUNROOT/" 'index($5, t) == 1 || index($5, r) == 1 {print $5}' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	ip link del "$BRIDGE" 2>/dev/null || true
	find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -depth -type d -path "*$CG*" -exec rmdir {} \; 2>/dev/null || true
	rm -rf "$WORK" "$RUNROOT"
}
trap cleanup EXIT

export OCID_FIXTURES_DIR=${OCID_FIXTURES_DIR:-$WORK/fixtures}
# shellcheck source=tests/fixtures/registry.sh
source "$SRC/tests/fixtures/registry.sh"
fixtures_build >/dev/null
registry_start bench
registry_push_fixtures "$REGISTRY_BENCH_PORT" "$FIXTURES_DIR" busybox >/dev/null

mkdir -p "$WORK/cni" "$WORK/conf.d" "$WORK/logs"
cat >"$WORK/ocid.conf" <<EOF
[ocid.image]
insecure_registries = ["$REGISTRY_BENCH_ADDR"]
registries = ["$REGISTRY_BENCH_ADDR"]
$CONF_EXTRA
EOF
cat >"$WORK/cni/10-bench.conflist" <<EOF
{ "cniVersion": "1.0.0", "name": "ocid-bench-ctr", "plugins": [
  { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
    "ipam": { "type": "host-local", "dataDir": "$WORK/ipam", "ranges": [[{ "subnet": "10.89.252.0/24" }]] } } ] }
EOF
"$OCID" --config "$WORK/ocid.conf" --config-dir "$WORK/conf.d" --root "$WORK/root" --runroot "$RUNROOT" \
	--listen "$RUNROOT/ocid.sock" --cni-config-dir "$WORK/cni" --cni-plugin-dir /usr/lib/cni \
	${WORKERS:+--workers "$WORKERS"} --log-level "$([ -n "$DEBUG" ] && echo debug || echo info)" >"$WORK/ocid.log" 2>&1 &
OCID_PID=$!
for _ in $(seq 1 200); do
	"$OCIC" version >/dev/null 2>&1 && break
	sleep 0.05
done
"$OCIC" image pull busybox >/dev/null
# the image's layer directories, top first (for the floor's own rootfs mounts)
LOWER=$("$OCIC" -o json image status -v busybox | jq -r '.info.info' | jq -r '.chainIDs | reverse | .[]' |
	while read -r id; do printf '%s:' "$WORK/root/overlay/${id#sha256:}/diff"; done)

jq --arg cg "$CG/pod" --arg logs "$WORK/logs" \
	'.linux.cgroup_parent = $cg | .log_directory = $logs
	 | .linux.security_context.namespace_options = {"network": "POD", "ipc": "POD", "pid": "CONTAINER"}' \
	"$SRC/test/testdata/sandbox_config.json" >"$WORK/pod.json"
POD=$("$OCIC" pod create ${RUNTIME:+--runtime-handler "$RUNTIME"} --config "$WORK/pod.json")
jq '.command = ["sleep", "1000000"] | .metadata.name = "bench"' \
	"$SRC/test/testdata/container_config.json" >"$WORK/ctr.json"

echo "ocid $("$OCID" --version | cut -d' ' -f3-), $(runc --version | head -n1), $(conmon --version | head -n1)"
echo "ocid workers: ${WORKERS:-default}; runroot on $(stat -f -c %T "$RUNROOT"); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The floor's bundles go where ocid's do: ocid puts <runroot>/containers on a
# tmpfs of its own when runroot is on disk, so the floor's get one too; their
# upper/work dirs stay on disk under $RUNROOT/floor, as ocid's stay under root.
mkdir -p "$RUNROOT/floor" "$RUNROOT/floor-bundles"
if [ "$(stat -f -c %T "$RUNROOT")" != tmpfs ]; then
	mount -t tmpfs -o mode=0700,size=64m ocid-bench "$RUNROOT/floor-bundles"
fi
BENCH_CTR_DEBUG=$DEBUG "$BENCH" --endpoint "$OCID_ENDPOINT" --pod "$POD" --config "$WORK/ctr.json" --n "$N" --concurrency "$C" --rounds "$ROUNDS" \
	--runtime "$RUNTIME" --work-dir "$RUNROOT/floor" --bundle-dir "$RUNROOT/floor-bundles" --lower "${LOWER%:}" --ocid-pid "$OCID_PID" --log-dir "$WORK/logs" \
	2> >(tee "$WORK/floor.log" | grep -v 'level=debug' >&2)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$DEBUG" ]; then
	echo "ocid RSS with the pod: $(awk '/VmRSS/ {print $2, $3}' "/proc/$OCID_PID/status")"
	exit 0
fi
# ocid's own work inside CreateContainer and RemoveContainer, from its debug
# log: every step but the runtime's (conmon + runc create; runc delete).
own() { # FIELDS... -> "p50 p99" in ms
	sort -n | awk '{v[NR] = $1}
		END {if (!NR) exit; h = int(NR * 0.99) + 1; if (h > NR) h = NR
		     printf "p50 %.2f ms, p99 %.2f ms (%d calls)", v[int(NR / 2) + 1], v[h], NR}'
}
steps() { # MSG FIELD... -> one sum per line
	local msg=$1
	shift
	grep "msg=\"$msg\"" "$WORK/ocid.log" | grep -v bench-probe | awk -v f="$*" '
		BEGIN {n = split(f, want, " ")}
		{s = 0; for (i = 1; i <= NF; i++) {split($i, kv, "="); for (k = 1; k <= n; k++) if (kv[1] == want[k]) s += kv[2]} print s}'
}
echo "ocid's own work in CreateContainer (all but conmon + runc create): $(steps "container create steps" prepare_ms row_ms dirs_ms rootfs_ms spec_ms files_ms record_ms | own)"
echo "ocid's own work in RemoveContainer (all but runc delete + conmon exit): $(steps "container remove steps" files_ms record_ms | own)"
# conmon + runc create as the driver timed it, for the floor's containers and
# ocid's: the same code, so a difference is the machine's, not ocid's.
create_ms() { # LOG FIRST COUNT -> p50 of launch_ms + reply_ms
	grep 'msg="conmon create"' "$1" | tail -n +"$2" | head -n "$3" |
		sed 's/.*launch_ms=\([0-9.]*\) reply_ms=\([0-9.]*\).*/\1 \2/' | awk '{print $1 + $2}' | own
}
echo "conmon + runc create, one by one: floor $(create_ms "$WORK/floor.log" 1 "$N"); ocid $(create_ms "$WORK/ocid.log" 2 "$N")"
start_ms() { # LOG FIRST COUNT -> p50 of the runtime's start
	grep 'msg="runtime start"' "$1" | tail -n +"$2" | head -n "$3" | sed 's/.* ms=\([0-9.]*\).*/\1/' | own
}
echo "runc start, one by one: floor $(start_ms "$WORK/floor.log" 1 "$N"); ocid $(start_ms "$WORK/ocid.log" 1 "$N")"
step_ms() { # LOG MSG FIRST COUNT -> p50 of ms=
	grep "msg=\"$2\"" "$1" | tail -n +"$3" | head -n "$4" | sed 's/.* ms=\([0-9.]*\).*/\1/' | own
}
for step in "runtime stop" "runtime remove"; do # kill, wait for the exit file; runc delete
	echo "$step, one by one: floor $(step_ms "$WORK/floor.log" "$step" 1 "$N"); ocid $(step_ms "$WORK/ocid.log" "$step" 1 "$N")"
	echo "$step, $C at a time: floor $(step_ms "$WORK/floor.log" "$step" $((N + 1)) $((N * ROUNDS))); ocid $(step_ms "$WORK/ocid.log" "$step" $((N + 1)) $((N * ROUNDS)))"
done
echo "conmon + runc create, $C at a time: floor $(create_ms "$WORK/floor.log" $((N + 1)) $((N * ROUNDS))); ocid $(create_ms "$WORK/ocid.log" $((N + 2)) $((N * ROUNDS)))"
echo "ocid RSS with the pod: $(awk '/VmRSS/ {print $2, $3}' "/proc/$OCID_PID/status")"
