# Helpers for the pod sandbox suites (20-23): a CNI network of the test's
# own (bridge + host-local + portmap, from /usr/lib/cni), pod configs made
# from test/testdata/sandbox_config.json, and checks that nothing of a pod
# is left. Each suite passes its own number, which picks its bridge name
# and subnet, so suites never share network state.

load helpers
bats_require_minimum_version 1.5.0

POD_TEMPLATE=$BATS_TEST_DIRNAME/../../test/testdata/sandbox_config.json

# setup_pod_env N: per-test daemon environment plus the network of suite N.
setup_pod_env() {
	setup_ocid_env
	POD_SUITE=$1
	POD_BRIDGE=ocidt$1
	POD_SUBNET_PREFIX=10.89.$1
	IPAM_DIR=$TESTDIR/ipam
	PLUGIN_DIR=$TESTDIR/cni-bin
	mkdir -p "$PLUGIN_DIR"
	# A cgroup parent unique to this test: checked for in every hierarchy.
	CG_ROOT=ocid-bats-$1-$$-$RANDOM
	OCID_ARGS+=(--cni-plugin-dir "$PLUGIN_DIR" --cni-plugin-dir /usr/lib/cni)
}

# write_pod_cni_config [EXTRA_PLUGIN_JSON]: the test network; an extra
# plugin object is appended to the chain when given.
write_pod_cni_config() {
	local extra=${1:-}
	cat >"$CNI_DIR/10-pods.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "ocid-pods-$POD_SUITE",
  "plugins": [
    { "type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false,
      "ipam": { "type": "host-local", "dataDir": "$IPAM_DIR", "routes": [{ "dst": "0.0.0.0/0" }],
                "ranges": [[{ "subnet": "$POD_SUBNET_PREFIX.0/24" }]] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }${extra:+,
    $extra}
  ]
}
JSON
}

# start_pod_ocid [ARGS]: start_ocid, for the first time or again after a
# stop or a kill. A sanitizer report in the log of the previous daemon (a
# leak found at its exit) fails the test before the log is replaced.
start_pod_ocid() {
	if [ -f "$TESTDIR/ocid.log" ] &&
		grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$TESTDIR/ocid.log"; then
		cat "$TESTDIR/ocid.log" >&2
		return 1
	fi
	rm -f "$SOCK"
	start_ocid "$@"
}

# kill9_ocid: the daemon dies without any cleanup.
kill9_ocid() {
	kill -KILL "$OCID_PID"
	wait "$OCID_PID" 2>/dev/null || true
	OCID_PID=
}

# pod_config NAME [JQ_FILTER]: writes $TESTDIR/NAME.json, the template with
# name NAME, a uid of its own, a cgroup parent under this test's root and
# the filter applied; prints the path.
pod_config() {
	local name=$1 filter=${2:-.}
	local out=$TESTDIR/$name.json
	jq --arg n "$name" --arg uid "uid-$name-$$" --arg cg "/$CG_ROOT/pod-$name" \
		'.metadata.name = $n | .metadata.uid = $uid | .labels["io.kubernetes.pod.name"] = $n
		 | .linux.cgroup_parent = $cg' "$POD_TEMPLATE" | jq "$filter" >"$out"
	echo "$out"
}

# create_pod NAME [JQ_FILTER]: runs the pod; sets POD_ID.
create_pod() {
	local cfg
	cfg=$(pod_config "$@")
	POD_ID=$("$OCIC" pod create --config "$cfg")
	[ ${#POD_ID} -eq 64 ]
}

pod_info() { # ID -> the verbose info JSON
	"$OCIC" -o json pod status -v "$1" | jq -r '.info.info'
}
pod_netns() { pod_info "$1" | jq -r .netns; }
pod_ip() { "$OCIC" -o json pod status "$1" | jq -r .status.network.ip; }
pod_state() { "$OCIC" -o json pod status "$1" | jq -r .status.state; }

# Host-local reservations: one file per IP in the network's data dir.
ipam_reservations() {
	local d=$IPAM_DIR/ocid-pods-$POD_SUITE
	[ -d "$d" ] || return 0
	find "$d" -maxdepth 1 -type f ! -name 'lock' ! -name 'last_reserved_ip.*' -printf '%f\n'
}

# assert_pod_gone ID [NAME]: nothing of pod ID is left: mounts, pins,
# sandbox dir, IP reservations, iptables rules, cgroups in any hierarchy
# (its ocid-pause leaf, and the pod cgroup of pod_config NAME).
assert_pod_gone() {
	local id=$1
	if grep -q "$id" /proc/self/mountinfo; then
		echo "mounts left for $id:" >&2
		grep "$id" /proc/self/mountinfo >&2
		return 1
	fi
	[ ! -e "$TESTDIR/run/ns/$id" ] || { echo "pin dir left" >&2; return 1; }
	[ ! -e "$TESTDIR/run/pods/$id" ] || { echo "sandbox dir left" >&2; return 1; }
	if grep -rqs "$id" "$IPAM_DIR"; then
		echo "IP reservation left for $id:" >&2
		grep -rs "$id" "$IPAM_DIR" >&2
		return 1
	fi
	if iptables-save 2>/dev/null | grep -q "$id"; then
		echo "iptables rules left for $id" >&2
		return 1
	fi
	local cg
	cg=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d \( -name "ocid-$id" -o -name "pod-$id" \
		${2:+-o -path "*/$CG_ROOT/pod-$2"} \) 2>/dev/null || true)
	if [ -n "$cg" ]; then
		echo "cgroups left: $cg" >&2
		return 1
	fi
}

# Nothing of any pod: no pins or sandbox dirs at all, no veth on the test
# bridge, no reservation, no cgroup of this test.
assert_no_pods_left() {
	[ -z "$(ls -A "$TESTDIR/run/ns" 2>/dev/null)" ] || { echo "pins left: $(ls "$TESTDIR/run/ns")" >&2; return 1; }
	[ -z "$(ls -A "$TESTDIR/run/pods" 2>/dev/null)" ] || { echo "sandbox dirs left" >&2; return 1; }
	if grep -E "$TESTDIR/run/(ns|pods)/" /proc/self/mountinfo; then
		echo "mounts left" >&2
		return 1
	fi
	local veths
	veths=$(ip -o link show master "$POD_BRIDGE" 2>/dev/null || true)
	[ -z "$veths" ] || { echo "veths left on $POD_BRIDGE: $veths" >&2; return 1; }
	local res
	res=$(ipam_reservations)
	[ -z "$res" ] || { echo "IP reservations left: $res" >&2; return 1; }
	local cg
	cg=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$CG_ROOT" 2>/dev/null || true)
	[ -z "$cg" ] || { echo "cgroups left: $cg" >&2; return 1; }
}

# The cgroup directory of path P exists in every writable hierarchy.
assert_cgroup_everywhere() {
	local p=$1 n=0
	while read -r mnt; do
		[ -d "$mnt$p" ] || { echo "cgroup $p missing in $mnt" >&2; return 1; }
		n=$((n + 1))
	done < <(awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo)
	[ "$n" -gt 0 ]
}

# True when process PID has exited (gone, or a zombie its new parent has not
# reaped yet: an orphaned ocid-pause is reaped by pid 1, maybe late).
proc_gone() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# Runs a command in the background inside a netns; sets BG_PID.
in_netns_bg() {
	local ns=$1
	shift
	nsenter --net="$ns" "$@" &
	BG_PID=$!
}

# portmap rules of this suite's network that a failed test left: the DNAT
# jump (commented with the network name) and the chain it jumps to.
clean_portmap_rules() {
	local net="ocid-pods-$POD_SUITE"
	iptables-save -t nat 2>/dev/null | grep -F "dnat name: \\\"$net\\\"" | while read -r rule; do
		local chain
		chain=$(echo "$rule" | sed -n 's/.* -j \(CNI-DN-[0-9a-f]*\).*/\1/p')
		eval "iptables -t nat ${rule/-A /-D }" 2>/dev/null || true
		if [ -n "$chain" ]; then
			iptables -t nat -F "$chain" 2>/dev/null || true
			iptables -t nat -X "$chain" 2>/dev/null || true
		fi
	done
}

# Best effort, always: every pod removed through the daemon (started again
# if a test left it dead with pods), then whatever is still there (mounts,
# bridge, cgroups, portmap rules) cleaned by force.
teardown_pod_env() {
	if [ -n "${BG_PID:-}" ]; then
		kill "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	if [ -n "${TESTDIR:-}" ] && [ -n "$(ls -A "$TESTDIR/run/pods" 2>/dev/null)" ] &&
		{ [ -z "${OCID_PID:-}" ] || ! kill -0 "$OCID_PID" 2>/dev/null; }; then
		rm -f "$PLUGIN_DIR"/ocid-test-* 2>/dev/null
		write_pod_cni_config 2>/dev/null || true
		OCID_PID=
		start_pod_ocid >/dev/null 2>&1 || true
	fi
	if [ -n "${OCID_PID:-}" ] && kill -0 "$OCID_PID" 2>/dev/null; then
		for id in $("$OCIC" pod list -q 2>/dev/null); do
			"$OCIC" pod remove "$id" >/dev/null 2>&1 || true
		done
	fi
	# SIGTERM (so that a sanitizer build reports leaks at exit into the log,
	# which teardown_ocid_env checks), SIGKILL if it does not go.
	if [ -n "${OCID_PID:-}" ]; then
		kill -TERM "$OCID_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$OCID_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$OCID_PID" 2>/dev/null || true
		wait "$OCID_PID" 2>/dev/null || true
		OCID_PID=
	fi
	if [ -n "${TESTDIR:-}" ]; then
		# ocid-pause processes of pods that were not removed.
		for pid in $(pgrep -x ocid-pause 2>/dev/null); do
			if grep -qs "$CG_ROOT" "/proc/$pid/cgroup"; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
		grep -E " $TESTDIR/" /proc/self/mountinfo | awk '{ print $5 }' | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	fi
	if [ -n "${POD_BRIDGE:-}" ]; then
		ip link del "$POD_BRIDGE" 2>/dev/null || true
		clean_portmap_rules
	fi
	if [ -n "${CG_ROOT:-}" ]; then
		find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -depth -type d -path "*/$CG_ROOT*" \
			-exec rmdir {} \; 2>/dev/null || true
	fi
	teardown_ocid_env
}
