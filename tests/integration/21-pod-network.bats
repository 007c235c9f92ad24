#!/usr/bin/env bats
# Pod networking with the real CNI plugins (bridge + host-local + portmap):
# addresses, pod-to-pod traffic, hostPorts on 127.0.0.1, and teardown from
# the cached result even when the network config changed.

load pod_helpers

setup() {
	setup_pod_env 21
	write_pod_cni_config
	start_pod_ocid
}

teardown() {
	teardown_pod_env
}

@test "a pod gets an IP on eth0 in its netns, a veth on the bridge and a host-local reservation" {
	create_pod net1
	ip=$(pod_ip "$POD_ID")
	[[ "$ip" == "$POD_SUBNET_PREFIX".* ]]
	netns=$(pod_netns "$POD_ID")
	[ "$netns" = "$TESTDIR/run/ns/$POD_ID/net" ]
	nsenter --net="$netns" ip -o -4 addr show dev eth0 | grep -q "inet $ip/24"
	nsenter --net="$netns" ip route | grep -q "default via $POD_SUBNET_PREFIX.1"
	[ "$(ip -o link show master "$POD_BRIDGE" | wc -l)" = 1 ]
	[ "$(ipam_reservations)" = "$ip" ]
	grep -q "$POD_ID" "$IPAM_DIR/ocid-pods-21/$ip"
	# The hosts file maps the hostname to the pod IP.
	grep -q "^$ip	" "$TESTDIR/run/pods/$POD_ID/hosts"
}

@test "two pods reach each other" {
	create_pod ping-a
	a=$POD_ID
	create_pod ping-b
	b=$POD_ID
	ip_a=$(pod_ip "$a")
	ip_b=$(pod_ip "$b")
	[ "$ip_a" != "$ip_b" ]
	nsenter --net="$(pod_netns "$a")" busybox ping -c1 -W2 "$ip_b"
	nsenter --net="$(pod_netns "$b")" busybox ping -c1 -W2 "$ip_a"
	# And the host reaches them through the bridge gateway.
	busybox ping -c1 -W2 "$ip_a"
}

@test "a hostPort reaches the pod on 127.0.0.1 and stops after removal" {
	create_pod web '.port_mappings = [{"protocol": "TCP", "container_port": 8080, "host_port": 18621}]'
	id=$POD_ID
	mkdir -p "$TESTDIR/www"
	echo "hello from $id" >"$TESTDIR/www/index.html"
	in_netns_bg "$(pod_netns "$id")" busybox httpd -f -p 8080 -h "$TESTDIR/www"
	ok=0
	for _ in $(seq 1 50); do
		if out=$(curl -s -m 2 http://127.0.0.1:18621/index.html) && [ "$out" = "hello from $id" ]; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ "$ok" = 1 ]
	# The pod IP directly, too.
	[ "$(curl -s -m 2 "http://$(pod_ip "$id"):8080/index.html")" = "hello from $id" ]
	kill "$BG_PID"
	wait "$BG_PID" || true
	BG_PID=
	ocic pod remove "$id"
	run curl -s -m 2 http://127.0.0.1:18621/index.html
	[ "$status" -ne 0 ]
	assert_pod_gone "$id" web
	assert_no_pods_left
}

@test "stop runs CNI DEL from the cached result after the network config is gone" {
	create_pod cached
	id=$POD_ID
	[ -n "$(ipam_reservations)" ]
	rm -f "$CNI_DIR"/*.conflist
	run ocic pod stop "$id"
	[ "$status" -eq 0 ]
	[ -z "$(ipam_reservations)" ]
	[ -z "$(ip -o link show master "$POD_BRIDGE")" ]
	ocic pod remove "$id"
	assert_pod_gone "$id" cached
	assert_no_pods_left
}

@test "stop runs CNI DEL from the cached result after the network config changed" {
	create_pod changed
	id=$POD_ID
	ip=$(pod_ip "$id")
	# Same network name, another subnet and data dir: DEL must use the cached one.
	sed -i "s|$POD_SUBNET_PREFIX.0/24|10.89.121.0/24|; s|\"$IPAM_DIR\"|\"$TESTDIR/ipam2\"|" "$CNI_DIR/10-pods.conflist"
	ocic pod stop "$id"
	[ -z "$(ipam_reservations)" ]
	ocic pod remove "$id"
	assert_pod_gone "$id" changed
}

@test "a failed ADD is undone: no IP, veth or pin stays, and the next pod gets the network" {
	# A third plugin that fails after bridge and portmap succeeded.
	cat >"$PLUGIN_DIR/ocid-test-fail" <<'EOF'
#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
	echo '{"cniVersion": "1.0.0", "code": 7, "msg": "test plugin refuses", "details": "on purpose"}'
	exit 1
fi
exit 0
EOF
	chmod +x "$PLUGIN_DIR/ocid-test-fail"
	write_pod_cni_config '{ "type": "ocid-test-fail" }'
	cfg=$(pod_config failing)
	run ocic pod create --config "$cfg"
	[ "$status" -ne 0 ]
	[[ "$output" == *"test plugin refuses: on purpose"* ]]
	[[ "$output" == *"ocid-test-fail"* ]]
	[ -z "$(ocic pod list -q)" ]
	assert_no_pods_left
	write_pod_cni_config
	run ocic pod create --config "$cfg"
	[ "$status" -eq 0 ]
	[ -n "$(pod_ip "$output")" ]
}
