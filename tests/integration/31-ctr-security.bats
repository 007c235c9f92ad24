#!/usr/bin/env bats
# The security context and resources as the container sees them: read-only
# rootfs, capabilities in /proc/1/status, RuntimeDefault/Unconfined/
# Localhost seccomp, no_new_privs, masked and read-only /proc paths,
# privileged, the pod's namespaces (hostname, DNS, shared PID namespace),
# CRI bind mounts, and cgroup limits (memory, CPU) up to an OOM kill.

load ctr_helpers

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

setup() {
	setup_ctr_env 31
	ctr_pod sec
}

teardown() {
	teardown_ctr_env
}

# run_script NAME JQ_FILTER SCRIPT: like run_ctr with .command = sh -c SCRIPT;
# waits for the exit and leaves the log in $LOG.
run_script() {
	local name=$1 filter=$2 script=$3 cfg
	cfg=$(ctr_config "$name" "$filter")
	jq --arg s "$script" '.command = ["sh", "-c", $s]' "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
	CTR_ID=$("$OCIC" ctr create --pod "$POD_ID" --config "$cfg")
	"$OCIC" ctr start "$CTR_ID" >/dev/null
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	LOG=$(ctr_logs "$CTR_ID")
}

cap_eff() { sed -n 's/^CapEff:[[:space:]]*//p' <<<"$1"; }

@test "read-only rootfs refuses writes outside volumes; a writable one writes to the container's upper dir" {
	run_script ro '.linux.security_context.readonly_rootfs = true' \
		'touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok; echo msg > /dev/termination-log && echo term-ok'
	[[ "$LOG" == *"Read-only file system"* ]]
	[[ "$LOG" == *rc=1* ]]
	[[ "$LOG" == *shm-ok* ]]
	[[ "$LOG" == *term-ok* ]]
	run_script rw . 'echo data > /written && cat /written'
	[ "$LOG" = data ]
	[ "$(cat "$TESTDIR/root/containers/$CTR_ID/upper/written")" = data ]
	# the image's layers are untouched
	[ -z "$(find "$TESTDIR/root/overlay" -name written)" ]
}

@test "capabilities in /proc/1/status: the default set, add, drop, ALL, privileged" {
	run_script def . 'grep -E "^Cap(Eff|Bnd|Prm)" /proc/1/status'
	# CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
	[ "$(cap_eff "$LOG")" = 00000000000005fb ]
	[[ "$LOG" == *"CapBnd:	00000000000005fb"* ]]
	run_script add '.linux.security_context.capabilities = {"add_capabilities": ["NET_ADMIN", "CAP_SYS_TIME"]}' \
		'grep CapEff /proc/1/status'
	[ "$(cap_eff "$LOG")" = 00000000020015fb ]
	run_script drop '.linux.security_context.capabilities = {"drop_capabilities": ["CHOWN", "KILL"]}' \
		'grep CapEff /proc/1/status; chown 1000 /tmp && echo chowned'
	[ "$(cap_eff "$LOG")" = 00000000000005da ]
	[[ "$LOG" != *chowned* ]]
	run_script none '.linux.security_context.capabilities = {"drop_capabilities": ["ALL"], "add_capabilities": ["KILL"]}' \
		'grep CapEff /proc/1/status'
	[ "$(cap_eff "$LOG")" = 0000000000000020 ]
	# ALL = every capability ocid itself holds
	bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$OCID_PID/status")
	run_script all '.linux.security_context.capabilities = {"add_capabilities": ["ALL"]}' 'grep CapEff /proc/1/status'
	[ "$(cap_eff "$LOG")" = "$bnd" ]
	run_script priv '.linux.security_context.privileged = true' \
		'grep -E "^(CapEff|Seccomp):" /proc/1/status; ls /dev | wc -l; mkdir -p /m && mount -t tmpfs t /m && echo mounted'
	[ "$(cap_eff "$LOG")" = "$bnd" ]
	[[ "$LOG" == *"Seccomp:	0"* ]]
	[[ "$LOG" == *mounted* ]]
	# the host's devices
	[ "$(sed -n 3p <<<"$LOG")" -gt 20 ]
}

@test "seccomp: RuntimeDefault blocks unshare (user namespaces), Unconfined does not, Localhost loads a profile" {
	run_script def . 'grep ^Seccomp: /proc/1/status; unshare -U true 2>&1; echo rc=$?'
	[[ "$LOG" == *"Seccomp:	2"* ]]
	[[ "$LOG" == *"Operation not permitted"* ]]
	[[ "$LOG" == *rc=1* ]]
	run_script unc '.linux.security_context.seccomp = {"profile_type": "Unconfined"}' \
		'grep ^Seccomp: /proc/1/status; unshare -U true; echo rc=$?'
	[[ "$LOG" == *"Seccomp:	0"* ]]
	[[ "$LOG" == *rc=0* ]]
	# a profile of our own: everything allowed but mkdir/mkdirat (EPERM)
	cat >"$TESTDIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
EOF
	run_script loc ".linux.security_context.seccomp = {\"profile_type\": \"Localhost\", \"localhost_ref\": \"$TESTDIR/profile.json\"}" \
		'mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo touched'
	[[ "$LOG" == *"Operation not permitted"* ]]
	[[ "$LOG" == *rc=1* ]]
	[[ "$LOG" == *touched* ]]
}

@test "no_new_privs, masked and read-only /proc paths, custom masked paths" {
	run_script nnp '.linux.security_context.no_new_privs = true' \
		'grep ^NoNewPrivs: /proc/1/status; wc -c < /proc/keys; cat /proc/timer_list | wc -c; echo 1 > /proc/sys/kernel/domainname 2>&1; echo rc=$?'
	[[ "$LOG" == *"NoNewPrivs:	1"* ]]
	[ "$(sed -n 2p <<<"$LOG")" = 0 ]
	[ "$(sed -n 3p <<<"$LOG")" = 0 ]
	[[ "$LOG" == *"Read-only file system"* ]]
	run_script nnp0 . 'grep ^NoNewPrivs: /proc/1/status'
	[[ "$LOG" == *"NoNewPrivs:	0"* ]]
	mkdir -p "$TESTDIR/hostdir"
	echo secret >"$TESTDIR/hostdir/file"
	run_script masked ".linux.security_context.masked_paths = [\"/data/file\"] | .mounts = [{\"container_path\": \"/data\", \"host_path\": \"$TESTDIR/hostdir\"}]" \
		'cat /data/file | wc -c; wc -c < /proc/keys'
	[ "$(sed -n 1p <<<"$LOG")" = 0 ]
	# custom list replaces the defaults
	[ "$(sed -n 2p <<<"$LOG")" -gt 0 ] || [ ! -s /proc/keys ]
}

@test "CRI mounts: bind read-only and read-write, reported in status" {
	mkdir -p "$TESTDIR/ro" "$TESTDIR/rw"
	echo hello >"$TESTDIR/ro/in"
	run_script mnt ".mounts = [{\"container_path\": \"/ro\", \"host_path\": \"$TESTDIR/ro\", \"readonly\": true},
		{\"container_path\": \"/rw\", \"host_path\": \"$TESTDIR/rw\"}]" \
		'cat /ro/in; echo x > /ro/new 2>&1; echo rc=$?; echo out > /rw/out'
	[[ "$LOG" == *hello* ]]
	[[ "$LOG" == *"Read-only file system"* ]]
	[ "$(cat "$TESTDIR/rw/out")" = out ]
	[ ! -e "$TESTDIR/ro/new" ]
	st=$(ctr_json "$CTR_ID")
	[ "$(jq -r '.mounts | length' <<<"$st")" = 2 ]
	[ "$(jq -r '.mounts[0].containerPath' <<<"$st")" = /ro ]
	[ "$(jq -r '.mounts[0].readonly' <<<"$st")" = true ]
	[ "$(jq -r '.mounts[1].hostPath' <<<"$st")" = "$TESTDIR/rw" ]
}

@test "the pod's namespaces: hostname and DNS files, network, shared PID namespace with ocid-pause" {
	run_script ns '.linux.security_context.namespace_options.pid = "POD"' \
		'hostname; grep nameserver /etc/resolv.conf; cat /proc/1/cmdline | tr "\0" " "; echo; ip -o -4 addr show eth0'
	[ "$(sed -n 1p <<<"$LOG")" = ocic_host ]
	[[ "$LOG" == *"nameserver 127.0.0.53"* ]]
	[[ "$(sed -n 3p <<<"$LOG")" == *ocid-pause* ]]
	[[ "$LOG" == *"$POD_SUBNET_PREFIX."* ]]
	# its own PID namespace: it is pid 1
	run_script own . 'echo $$'
	[ "$LOG" = 1 ]
	# the pod's hostname is not renamed by a container joining its UTS namespace
	[ "$(nsenter --uts="$TESTDIR/run/ns/$POD_ID/uts" hostname)" = ocic_host ]
}

@test "memory and CPU limits are in the container's cgroup, under the pod's" {
	run_ctr lim '.command = ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares; sleep 1000"]'
	wait_ctr_log "$CTR_ID" 512
	[ "$(ctr_logs "$CTR_ID" | tr '\n' ' ')" = "268435456 50000 512 " ]
	cg=$(ctr_memcg "$CTR_ID")
	[ "$cg" = "/sys/fs/cgroup/memory/$CG_ROOT/pod-sec/ocid-$CTR_ID" ]
	[ "$(cat "$cg/memory.limit_in_bytes")" = 268435456 ]
	ocic ctr remove "$CTR_ID"
	[ ! -d "$cg" ]
}

@test "a container over its memory limit is OOM-killed: reason OOMKilled, exit code 137" {
	run_ctr oom '.linux.resources.memory_limit_in_bytes = 33554432
		| .command = ["sh", "-c", "echo start; tail /dev/zero"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED 30
	st=$(ctr_json "$CTR_ID")
	[ "$(jq -r .reason <<<"$st")" = OOMKilled ]
	[ "$(jq -r .exitCode <<<"$st")" = 137 ]
	# within the limit: no OOM
	run_ctr fine '.linux.resources.memory_limit_in_bytes = 33554432 | .command = ["sh", "-c", "head -c 1000000 /dev/zero | wc -c"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .reason)" = Completed ]
}
