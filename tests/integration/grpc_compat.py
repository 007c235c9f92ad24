"""Wire compatibility with the stock gRPC stack (Debian's python3-grpcio).

Usage: grpc_compat.py PROTO_DIR SOCKET_PATH
Generates Python messages from our api.proto with protoc, then calls ocid
through grpcio's generic unary calls. Exits non-zero on the first mismatch.
"""
import concurrent.futures
import atexit
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import grpc


def load_api(proto_dir):
    out = tempfile.mkdtemp(prefix="ocid-pb2-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", "--proto_path=" + proto_dir, "--python_out=" + out, "api.proto"], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2")


def call(channel, service, method, request, response_type, **kw):
    fn = channel.unary_unary(
        "/runtime.v1.%s/%s" % (service, method),
        request_serializer=(lambda m: m) if isinstance(request, bytes) else type(request).SerializeToString,
        response_deserializer=response_type.FromString if response_type else None,
    )
    return fn(request, **kw)


def expect_code(code, fn):
    try:
        fn()
    except grpc.RpcError as e:
        if e.code() != code:
            raise AssertionError("expected %s, got %s: %s" % (code, e.code(), e.details()))
        return e
    raise AssertionError("expected %s, call succeeded" % code)


def main():
    api = load_api(sys.argv[1])
    sock = sys.argv[2]
    opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    channel = grpc.insecure_channel("unix:" + sock, options=opts)

    v = call(channel, "RuntimeService", "Version", api.VersionRequest(version="v1"), api.VersionResponse, timeout=5)
    assert v.runtime_name == "ocid", v
    assert v.runtime_api_version == "v1", v
    assert v.version == "0.1.0", v

    st = call(channel, "RuntimeService", "Status", api.StatusRequest(verbose=True), api.StatusResponse, timeout=5)
    types = {c.type: c.status for c in st.status.conditions}
    assert types.get("RuntimeReady") is True, st
    assert "NetworkReady" in types, st
    cfg = json.loads(st.info["config"])
    assert cfg["ocid"]["listen"] == sock, cfg

    rc = call(channel, "RuntimeService", "RuntimeConfig", api.RuntimeConfigRequest(), api.RuntimeConfigResponse, timeout=5)
    assert rc.linux.cgroup_driver == api.CGROUPFS, rc

    req = api.UpdateRuntimeConfigRequest(
        runtime_config=api.RuntimeConfig(network_config=api.NetworkConfig(pod_cidr="10.244.0.0/24")))
    call(channel, "RuntimeService", "UpdateRuntimeConfig", req, api.UpdateRuntimeConfigResponse, timeout=5)
    st = call(channel, "RuntimeService", "Status", api.StatusRequest(verbose=True), api.StatusResponse, timeout=5)
    assert st.info["podCIDR"] == "10.244.0.0/24", st.info

    pods = call(channel, "RuntimeService", "ListPodSandbox", api.ListPodSandboxRequest(), api.ListPodSandboxResponse,
                timeout=5)
    assert len(pods.items) == 0, pods
    e = expect_code(grpc.StatusCode.UNIMPLEMENTED, lambda: call(
        channel, "RuntimeService", "CheckpointContainer", api.CheckpointContainerRequest(),
        api.CheckpointContainerResponse, timeout=5))
    assert "CheckpointContainer" in e.details(), e.details()
    images = call(channel, "ImageService", "ListImages", api.ListImagesRequest(), api.ListImagesResponse, timeout=5)
    assert len(images.images) == 0, images
    expect_code(grpc.StatusCode.UNIMPLEMENTED, lambda: call(channel, "Nope", "Nothing", b"", None, timeout=5))
    expect_code(grpc.StatusCode.INVALID_ARGUMENT, lambda: call(
        channel, "RuntimeService", "Version", b"\xff\xff\xff\xff", None, timeout=5))
    expect_code(grpc.StatusCode.RESOURCE_EXHAUSTED, lambda: call(
        channel, "RuntimeService", "Version", b"\x0a" * (17 << 20), None, timeout=30))

    # Many calls in flight on one HTTP/2 connection.
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futs = [pool.submit(call, channel, "RuntimeService", "Version", api.VersionRequest(),
                            api.VersionResponse, timeout=10) for _ in range(200)]
        for f in futs:
            assert f.result().runtime_name == "ocid"

    # The server-streaming RPC is routed too, and answers with a status.
    stream = channel.unary_stream("/runtime.v1.RuntimeService/GetContainerEvents",
                                  request_serializer=api.GetEventsRequest.SerializeToString,
                                  response_deserializer=api.ContainerEventResponse.FromString)
    expect_code(grpc.StatusCode.UNIMPLEMENTED, lambda: list(stream(api.GetEventsRequest(), timeout=5)))

    channel.close()
    print("grpc compat: all checks passed")


if __name__ == "__main__":
    main()
