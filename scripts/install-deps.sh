#!/usr/bin/env bash
# Installs the Debian 12 packages ocid needs. `run` = build and run the
# daemon; `test` = also what the test suites use. Skips apt when all present.
set -euo pipefail

build_pkgs=(build-essential meson ninja-build pkg-config
	libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
	libjansson-dev libcurl4-openssl-dev libssl-dev libarchive-dev libsqlite3-dev)
runtime_pkgs=(runc crun conmon containernetworking-plugins iptables iproute2)
test_pkgs=(libcmocka-dev bats python3 python3-grpcio python3-protobuf
	docker-registry busybox-static skopeo jq zstd curl openssl sqlite3 time)

want=("${build_pkgs[@]}" "${runtime_pkgs[@]}")
if [ "${1:-run}" = test ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
