#!/usr/bin/env bats
# Container lifecycle through conmon + runc (and crun for a RuntimeClass
# "crun" pod): create, start, status, stop, remove; the process as the image
# and the config define it (entrypoint/cmd, env, working dir, user); exit
# codes, reasons and times; logs in CRI format; termination messages; stop
# with a timeout, then SIGKILL, without blocking status or list; list
# filters; exec, log reopening and resource updates; StopPodSandbox and
# RemovePodSandbox taking the pod's containers with them.

load ctr_helpers

setup_file() {
	ctr_setup_file
}

teardown_file() {
	ctr_teardown_file
}

setup() {
	setup_ctr_env 30
	ctr_pod web
}

teardown() {
	teardown_ctr_env
}

@test "create, start, status, stop, remove: states, times, image, labels, log path, verbose info" {
	before=$(date +%s%N)
	create_ctr app '.command = ["sh", "-c", "echo hello; sleep 1000"]'
	after=$(date +%s%N)
	st=$(ctr_json "$CTR_ID")
	[ "$(jq -r .state <<<"$st")" = CONTAINER_CREATED ]
	[ "$(jq -r .id <<<"$st")" = "$CTR_ID" ]
	[ "$(jq -r .metadata.name <<<"$st")" = app ]
	[ "$(jq -r .metadata.attempt <<<"$st")" = 0 ]
	created=$(jq -r .createdAt <<<"$st")
	[ "$created" -ge "$before" ] && [ "$created" -le "$after" ]
	[ "$(jq -r .startedAt <<<"$st")" = 0 ]
	image_id=$(ocic -o json image status busybox | jq -r .image.id)
	[ "$(jq -r .imageRef <<<"$st")" = "$image_id" ]
	[ "$(jq -r .imageId <<<"$st")" = "$image_id" ]
	[ "$(jq -r .image.image <<<"$st")" = busybox ]
	[ "$(jq -r .labels.tier <<<"$st")" = test ]
	[ "$(jq -r .annotations.owner <<<"$st")" = ocid-tests ]
	[ "$(jq -r .logPath <<<"$st")" = "$LOG_DIR/app.log" ]
	[ "$(jq -r .resources.linux.memoryLimitInBytes <<<"$st")" = 268435456 ]
	# listed, and the container is in the runtime
	[[ "$(ocic ctr list)" == *"${CTR_ID:0:13}"*busybox*Created*app* ]]
	runc state "$CTR_ID" | jq -e '.status == "created"'

	ocic ctr start "$CTR_ID"
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
	wait_ctr_log "$CTR_ID" hello
	info=$(ctr_info "$CTR_ID")
	pid=$(jq -r .pid <<<"$info")
	[ "$pid" -gt 1 ] && kill -0 "$pid"
	[ "$(jq -r .sandboxID <<<"$info")" = "$POD_ID" ]
	[ "$(jq -r .runtimeHandler <<<"$info")" = runc ]
	[ "$(jq -r '.runtimeSpec.process.args | join(" ")' <<<"$info")" = "sh -c echo hello; sleep 1000" ]
	[ "$(jq -r '.runtimeSpec.annotations["io.kubernetes.cri.sandbox-id"]' <<<"$info")" = "$POD_ID" ]
	started=$(ctr_field "$CTR_ID" .startedAt)
	[ "$started" -gt "$created" ]

	ocic ctr stop "$CTR_ID"
	st=$(ctr_json "$CTR_ID")
	[ "$(jq -r .state <<<"$st")" = CONTAINER_EXITED ]
	[ "$(jq -r .exitCode <<<"$st")" = 137 ]
	[ "$(jq -r .reason <<<"$st")" = Error ]
	[ "$(jq -r .finishedAt <<<"$st")" -ge "$started" ]
	! kill -0 "$pid" 2>/dev/null
	# stop again: nothing to do
	ocic ctr stop "$CTR_ID"

	ocic ctr remove "$CTR_ID"
	run ocic ctr status "$CTR_ID"
	[ "$status" -eq 1 ]
	[ "$(grpc_code "$output")" = NOT_FOUND ]
	assert_ctr_gone "$CTR_ID"
	# idempotent
	ocic ctr remove "$CTR_ID"
	assert_no_ctrs_left
}

@test "the image by id (as the kubelet names it), id prefix, repo digest and full name" {
	img=$(ocic -o json image status busybox | jq .image)
	id=$(jq -r .id <<<"$img")
	digest=$(jq -r '.repoDigests[0]' <<<"$img")
	tag=$(jq -r '.repoTags[0]' <<<"$img")
	[[ "$digest" == *@sha256:* ]]
	n=0
	for ref in "$id" "${id#sha256:}" "${id:7:12}" "$digest" "$tag"; do
		n=$((n + 1))
		create_ctr "byref$n" ".image.image = \"$ref\""
		[ "$(ctr_field "$CTR_ID" .imageRef)" = "$id" ]
		# by id, the image is reported by its tag (as cri-o does)
		case $ref in
		"$digest") [ "$(ctr_field "$CTR_ID" .image.image)" = "$digest" ] ;;
		*) [ "$(ctr_field "$CTR_ID" .image.image)" = "$tag" ] ;;
		esac
	done
	[ "$(ocic ctr list -q | wc -l)" -eq 5 ]
	# held five times: not removable until the last one goes
	run ocic image remove "$id"
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	for c in $(ocic ctr list -q); do
		ocic ctr remove "$c"
	done
	ocic image remove "$id"
	run ocic ctr create --pod "$POD_ID" --config "$(ctr_config gone)"
	[ "$(grpc_code "$output")" = NOT_FOUND ]
}

@test "image Cmd, entrypoint/command/args, env and working dir follow Kubernetes semantics" {
	# args alone replace the image's Cmd (busybox: Cmd /bin/sh)
	run_ctr args 'del(.command) | .args = ["sh", "-c", "echo args:$OCID_FIXTURE:$PWD:$OCID_TEST:$HOME"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "args:busybox:/:1:/root" ]
	# command with args; a config env overrides the image's; working_dir
	run_ctr cmd '.command = ["/bin/sh", "-c"] | .args = ["echo cmd:$OCID_FIXTURE:$PWD:$X"]
		| .envs += [{"key": "OCID_FIXTURE", "value": "mine"}, {"key": "X", "value": "a b"}]
		| .working_dir = "/tmp"'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "cmd:mine:/tmp:a b" ]
	# neither: the image Cmd, /bin/sh with no stdin, exits 0 at once
	run_ctr plain 'del(.command) | del(.args)'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 0 ]
	[ "$(ctr_field "$CTR_ID" .reason)" = Completed ]
	[ "$(ctr_info "$CTR_ID" | jq -r '.runtimeSpec.process.args | join(" ")')" = /bin/sh ]
}

@test "users: image USER uid:gid and name (with its groups), run_as_user, run_as_username, run_as_group" {
	ocic image pull user >/dev/null
	ocic image pull username >/dev/null
	# image "user": User 1000:1000, WorkingDir /home/app
	run_ctr u1 '.image.image = "user" | del(.working_dir) | .command = ["sh", "-c", "echo $(id -u):$(id -g):$PWD"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "1000:1000:/home/app" ]
	[ "$(ctr_field "$CTR_ID" .user.linux.uid)" = 1000 ]
	# image "username": User app, which is in groups users (100) and extra (1001)
	run_ctr u2 '.image.image = "username" | .command = ["sh", "-c", "echo $(id -un):$(id -G):$HOME"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "app:1000 100 1001:/home/app" ]
	[ "$(ctr_field "$CTR_ID" '.user.linux.supplementalGroups | join(",")')" = "100,1001" ]
	# run_as_user wins over the image's USER
	run_ctr u3 '.image.image = "username" | .command = ["sh", "-c", "echo $(id -u):$(id -g)"]
		| .linux.security_context.run_as_user = {"value": 0}'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "0:0" ]
	# run_as_username and run_as_group on plain busybox
	run_ctr u4 '.command = ["sh", "-c", "echo $(id -un):$(id -g)"]
		| .linux.security_context.run_as_username = "app" | .linux.security_context.run_as_group = {"value": 100}'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_logs "$CTR_ID")" = "app:100" ]
}

@test "exit codes, reasons and times; logs in CRI format through ocic ctr logs" {
	run_ctr fail '.command = ["sh", "-c", "echo out; echo err >&2; printf partial; sleep 0.2; exit 3"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	st=$(ctr_json "$CTR_ID")
	[ "$(jq -r .exitCode <<<"$st")" = 3 ]
	[ "$(jq -r .reason <<<"$st")" = Error ]
	c=$(jq -r .createdAt <<<"$st")
	s=$(jq -r .startedAt <<<"$st")
	f=$(jq -r .finishedAt <<<"$st")
	[ "$c" -le "$s" ] && [ "$s" -lt "$f" ]
	# it slept 0.2 s
	[ $((f - s)) -ge 150000000 ]
	# the file: <RFC3339Nano> <stream> <P|F> <text>
	log=$LOG_DIR/fail.log
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) stdout F out$' "$log"
	grep -qE '^[^ ]+ stderr F err$' "$log"
	grep -qE '^[^ ]+ stdout P partial$' "$log"
	run "$OCIC" ctr logs "$CTR_ID"
	[ "$status" -eq 0 ]
	[[ "$output" == *out* ]] && [[ "$output" == *err* ]] && [[ "$output" == *partial* ]]
	[ "$("$OCIC" ctr logs "$CTR_ID" 2>/dev/null)" = "$(printf 'out\npartial')" ]
	[ "$("$OCIC" ctr logs "$CTR_ID" 2>&1 >/dev/null)" = err ]
	# a clean exit
	run_ctr ok '.command = ["true"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 0 ]
	[ "$(ctr_field "$CTR_ID" .reason)" = Completed ]
	# ocic ctr logs -f ends once the container exits
	run_ctr follow '.command = ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"]'
	run timeout 10 "$OCIC" ctr logs -f "$CTR_ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'line1\nline2\nline3')" ]
}

@test "termination message: the file the container writes, else the log tail with FallbackToLogsOnError" {
	run_ctr msg '.command = ["sh", "-c", "echo -n all done > /dev/termination-log; exit 1"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = "all done" ]
	# a custom path (kubelet's annotation), as a non-root user
	run_ctr msg2 '.command = ["sh", "-c", "echo custom > /tmp/msg"]
		| .annotations["io.kubernetes.container.terminationMessagePath"] = "/tmp/msg"
		| .linux.security_context.run_as_user = {"value": 1000}'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = custom ]
	# FallbackToLogsOnError: the last 80 lines of the log when the file is empty
	run_ctr fb '.command = ["sh", "-c", "for i in $(seq 1 100); do echo log$i; done; exit 2"]
		| .annotations["io.kubernetes.container.terminationMessagePolicy"] = "FallbackToLogsOnError"'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	msg=$(ctr_field "$CTR_ID" .message)
	[ "$(wc -l <<<"$msg")" -eq 80 ]
	[ "$(head -n1 <<<"$msg")" = log21 ]
	[ "$(tail -n1 <<<"$msg")" = log100 ]
	# ... but not for a clean exit, nor without the policy
	run_ctr fb0 '.command = ["sh", "-c", "echo quiet"]
		| .annotations["io.kubernetes.container.terminationMessagePolicy"] = "FallbackToLogsOnError"'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = "" ]
	run_ctr nofb '.command = ["sh", "-c", "echo loud; exit 1"]'
	wait_ctr_state "$CTR_ID" CONTAINER_EXITED
	[ "$(ctr_field "$CTR_ID" .message)" = "" ]
}

@test "stop: SIGTERM, then SIGKILL after the timeout; status and list answer while it waits" {
	# ignores SIGTERM
	run_ctr stubborn '.command = ["sh", "-c", "trap \"echo got TERM\" TERM; echo ready; while true; do sleep 0.1; done"]'
	wait_ctr_log "$CTR_ID" ready
	start=$(date +%s%N)
	ocic ctr stop --timeout 3 "$CTR_ID" &
	stop_pid=$!
	sleep 0.5
	# never blocked behind the stop
	for i in 1 2 3; do
		t0=$(date +%s%N)
		[ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
		ocic ctr list >/dev/null
		[ $(($(date +%s%N) - t0)) -lt 500000000 ]
	done
	wait "$stop_pid"
	elapsed=$(($(date +%s%N) - start))
	[ "$elapsed" -ge 3000000000 ] && [ "$elapsed" -lt 6000000000 ]
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 137 ]
	wait_ctr_log "$CTR_ID" "got TERM"
	# one that heeds SIGTERM stops at once
	run_ctr polite '.command = ["sh", "-c", "trap \"exit 0\" TERM; echo ready; while true; do sleep 0.1; done"]'
	wait_ctr_log "$CTR_ID" ready
	start=$(date +%s%N)
	ocic ctr stop --timeout 10 "$CTR_ID"
	[ $(($(date +%s%N) - start)) -lt 2000000000 ]
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 0 ]
	# a second stop of a long stop with timeout 0 kills at once
	run_ctr twice '.command = ["sh", "-c", "trap \"\" TERM; echo ready; while true; do sleep 0.1; done"]'
	wait_ctr_log "$CTR_ID" ready
	ocic ctr stop --timeout 30 "$CTR_ID" &
	stop_pid=$!
	sleep 0.3
	start=$(date +%s%N)
	ocic ctr stop "$CTR_ID"
	wait "$stop_pid"
	[ $(($(date +%s%N) - start)) -lt 2000000000 ]
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_EXITED ]
	# a created container is stopped (killed) too
	create_ctr never
	ocic ctr stop --timeout 5 "$CTR_ID"
	[ "$(ctr_state "$CTR_ID")" = CONTAINER_EXITED ]
}

@test "stop sends the image's STOPSIGNAL" {
	/usr/bin/python3 "$BATS_TEST_DIRNAME/derive_image.py" "$REGISTRY_CTR_ADDR" "$FIXTURES_DIR" busybox \
		stopsig 'StopSignal="SIGUSR1"' >/dev/null
	ocic image pull stopsig >/dev/null
	run_ctr usr1 '.image.image = "stopsig"
		| .command = ["sh", "-c", "trap \"echo got USR1; exit 0\" USR1; trap \"echo got TERM\" TERM; echo ready; while true; do sleep 0.1; done"]'
	wait_ctr_log "$CTR_ID" ready
	[ "$(ctr_info "$CTR_ID" | jq -r .stopSignal)" = 10 ]
	start=$(date +%s%N)
	ocic ctr stop --timeout 10 "$CTR_ID"
	[ $(($(date +%s%N) - start)) -lt 3000000000 ]
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 0 ]
	[ "$(ctr_field "$CTR_ID" .reason)" = Completed ]
	[[ "$(ctr_logs "$CTR_ID")" == *"got USR1"* ]]
	[[ "$(ctr_logs "$CTR_ID")" != *"got TERM"* ]]
}

@test "status and list answer while more stops wait than ocid has worker threads" {
	ids=()
	for i in 1 2 3 4 5 6; do
		run_ctr "stub$i" '.command = ["sh", "-c", "trap \"\" TERM; echo ready; while true; do sleep 0.1; done"]'
		wait_ctr_log "$CTR_ID" ready
		ids+=("$CTR_ID")
	done
	pids=()
	for id in "${ids[@]}"; do
		ocic ctr stop --timeout 4 "$id" &
		pids+=($!)
	done
	sleep 0.5
	# the default pool has 4 workers, all of them waiting in a stop now
	t0=$(date +%s%N)
	[ "$(ctr_state "${ids[5]}")" = CONTAINER_RUNNING ]
	[ "$(ocic ctr list -q | wc -l)" -eq 6 ]
	ctr_info "${ids[0]}" | jq -e '.pid > 0'
	[ $(($(date +%s%N) - t0)) -lt 1000000000 ]
	for p in "${pids[@]}"; do
		wait "$p"
	done
	for id in "${ids[@]}"; do
		[ "$(ctr_field "$id" .exitCode)" = 137 ]
	done
}

@test "list filters: id prefix, pod, state, labels; newest first" {
	create_ctr one '.labels.app = "a"'
	one=$CTR_ID
	run_ctr two '.labels.app = "b"'
	two=$CTR_ID
	pod1=$POD_ID
	ctr_pod other
	run_ctr three '.labels.app = "a" | .command = ["true"]'
	three=$CTR_ID
	wait_ctr_state "$three" CONTAINER_EXITED
	[ "$(ocic ctr list -q | wc -l)" -eq 3 ]
	[ "$(ocic ctr list -q | head -n1)" = "$three" ]
	[ "$(ocic ctr list -q --id "${one:0:10}")" = "$one" ]
	[ "$(ocic ctr list -q --pod "$pod1" | sort)" = "$(printf '%s\n' "$one" "$two" | sort)" ]
	[ "$(ocic ctr list -q --state running)" = "$two" ]
	[ "$(ocic ctr list -q --state created)" = "$one" ]
	[ "$(ocic ctr list -q --state exited)" = "$three" ]
	[ "$(ocic ctr list -q --label app=a | sort)" = "$(printf '%s\n' "$one" "$three" | sort)" ]
	[ "$(ocic ctr list -q --label app=a --label tier=test --pod "$POD_ID")" = "$three" ]
	[ -z "$(ocic ctr list -q --label app=c)" ]
	# status by unique prefix
	[ "$(ctr_field "${two:0:12}" .id)" = "$two" ]
	run ocic -o json ctr list --pod "$pod1"
	[ "$(jq -r '.containers[0].podSandboxId' <<<"$output")" = "$pod1" ]
}

@test "exec: output, exit code, user and env of the container; a timeout kills it" {
	run_ctr ex '.command = ["sleep", "1000"] | .linux.security_context.run_as_user = {"value": 1000}'
	run ocic ctr exec "$CTR_ID" -- sh -c 'echo $(id -u) $OCID_TEST; echo oops >&2; exit 4'
	[ "$status" -eq 4 ]
	[[ "$output" == *"1000 1"* ]]
	[[ "$output" == *oops* ]]
	start=$(date +%s%N)
	run ocic ctr exec --timeout 1 "$CTR_ID" sleep 30
	[ "$status" -eq 1 ]
	[ "$(grpc_code "$output")" = DEADLINE_EXCEEDED ]
	[ $(($(date +%s%N) - start)) -lt 5000000000 ]
	# the sleep is gone from the container
	[ "$(ocic ctr exec "$CTR_ID" ps -o comm | grep -c sleep)" -eq 1 ]
	ocic ctr stop "$CTR_ID"
	run ocic ctr exec "$CTR_ID" true
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
}

@test "ReopenContainerLog after the kubelet renamed the log: no line lost" {
	run_ctr rot '.command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.02; done"]'
	wait_ctr_log "$CTR_ID" n5
	mv "$LOG_DIR/rot.log" "$LOG_DIR/rot.log.1"
	jq -n --arg id "$CTR_ID" '{container_id: $id}' >"$TESTDIR/reopen.json"
	ocic raw /runtime.v1.RuntimeService/ReopenContainerLog --json "$TESTDIR/reopen.json" >/dev/null
	[ -f "$LOG_DIR/rot.log" ]
	wait_ctr_log "$CTR_ID" n
	ocic ctr stop "$CTR_ID"
	# every number exactly once across the two files
	cat "$LOG_DIR/rot.log.1" "$LOG_DIR/rot.log" | awk '{print $4}' | sed 's/^n//' >"$TESTDIR/nums"
	last=$(tail -n1 "$TESTDIR/nums")
	[ "$(sort -n "$TESTDIR/nums" | uniq | wc -l)" -eq "$last" ]
	[ "$(wc -l <"$TESTDIR/nums")" -eq "$last" ]
	[ -s "$LOG_DIR/rot.log" ]
	# not for a stopped container
	run ocic raw /runtime.v1.RuntimeService/ReopenContainerLog --json "$TESTDIR/reopen.json"
	[[ "$output" == *FAILED_PRECONDITION* ]]
}

@test "UpdateContainerResources changes the memory limit in the cgroup and in status" {
	run_ctr upd '.command = ["sleep", "1000"]'
	cg=$(ctr_memcg "$CTR_ID")
	[ "$(cat "$cg/memory.limit_in_bytes")" = 268435456 ]
	jq -n --arg id "$CTR_ID" '{container_id: $id, linux: {memory_limit_in_bytes: 134217728, cpu_shares: 256}}' \
		>"$TESTDIR/upd.json"
	ocic raw /runtime.v1.RuntimeService/UpdateContainerResources --json "$TESTDIR/upd.json" >/dev/null
	[ "$(cat "$cg/memory.limit_in_bytes")" = 134217728 ]
	[ "$(ctr_field "$CTR_ID" .resources.linux.memoryLimitInBytes)" = 134217728 ]
	[ "$(ctr_field "$CTR_ID" .resources.linux.cpuShares)" = 256 ]
	# a bad value is refused and changes nothing
	jq -n --arg id "$CTR_ID" '{container_id: $id, linux: {memory_limit_in_bytes: 4096}}' >"$TESTDIR/bad.json"
	run ocic raw /runtime.v1.RuntimeService/UpdateContainerResources --json "$TESTDIR/bad.json"
	[[ "$output" == *INVALID_ARGUMENT* ]]
	[ "$(cat "$cg/memory.limit_in_bytes")" = 134217728 ]
}

@test "StopPodSandbox stops the pod's containers, RemovePodSandbox removes them" {
	run_ctr a '.command = ["sleep", "1000"]'
	a=$CTR_ID
	run_ctr b '.command = ["sh", "-c", "trap \"\" TERM; sleep 1000"]'
	b=$CTR_ID
	create_ctr c
	c=$CTR_ID
	start=$(date +%s%N)
	ocic pod stop "$POD_ID"
	[ $(($(date +%s%N) - start)) -lt 5000000000 ]
	for id in "$a" "$b" "$c"; do
		[ "$(ctr_state "$id")" = CONTAINER_EXITED ]
	done
	# no new container in a stopped pod
	run ocic ctr create --pod "$POD_ID" --config "$(ctr_config d)"
	[ "$(grpc_code "$output")" = FAILED_PRECONDITION ]
	ocic pod remove "$POD_ID"
	[ -z "$(ocic ctr list -q)" ]
	for id in "$a" "$b" "$c"; do
		assert_ctr_gone "$id"
	done
	assert_no_ctrs_left
	# the image is no longer held
	ocic image remove busybox
}

@test "RuntimeClass handler crun: the same lifecycle with crun" {
	cfg=$(pod_config crunpod ".log_directory = \"$LOG_DIR\"")
	POD_ID=$(ocic pod create --runtime-handler crun --config "$cfg")
	run_ctr c1 '.command = ["sh", "-c", "echo from crun; grep Cap[EB] /proc/1/status; sleep 1000"]'
	wait_ctr_log "$CTR_ID" "from crun"
	[ "$(ctr_info "$CTR_ID" | jq -r .runtimeHandler)" = crun ]
	crun state "$CTR_ID" | jq -e '.status == "running"'
	[[ "$(ctr_logs "$CTR_ID")" == *"CapEff:	00000000000005fb"* ]]
	[ "$(cat "$(ctr_memcg "$CTR_ID")/memory.limit_in_bytes")" = 268435456 ]
	run ocic ctr exec "$CTR_ID" -- sh -c 'exit 5'
	[ "$status" -eq 5 ]
	# sh as pid 1 ignores SIGTERM: killed after the timeout
	ocic ctr stop --timeout 1 "$CTR_ID"
	[ "$(ctr_field "$CTR_ID" .exitCode)" = 137 ]
	ocic ctr remove "$CTR_ID"
	assert_ctr_gone "$CTR_ID"
	! crun state "$CTR_ID" 2>/dev/null
}
