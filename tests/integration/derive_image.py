#!/usr/bin/python3
"""Pushes a variant of a manifest fixture with config changes, for container
tests that need an image property no fixture has (a STOPSIGNAL, ...).

Usage: derive_image.py REGISTRY FIXTURE_DIR FIXTURE REPO KEY=JSON...

The fixture's layers are reused; its config gets config.KEY = JSON for each
pair (e.g. StopSignal='"SIGUSR1"'); the new config and manifest go to
REPO:latest on REGISTRY (plain http). Prints the new manifest digest.
"""

import hashlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from push import Registry  # noqa: E402


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    registry, fdir, name, repo = sys.argv[1:5]
    fx = json.load(open(os.path.join(fdir, "fixtures.json")))["fixtures"][name]
    if fx["kind"] != "manifest":
        sys.exit("%s is not a single-manifest fixture" % name)
    blobs = os.path.join(fdir, fx["layout"], "blobs", "sha256")
    manifest = json.load(open(os.path.join(blobs, fx["digest"][7:])))
    config = json.load(open(os.path.join(blobs, fx["config"]["digest"][7:])))
    for pair in sys.argv[5:]:
        key, _, value = pair.partition("=")
        config.setdefault("config", {})[key] = json.loads(value)
    config.setdefault("config", {}).setdefault("Labels", {})["org.ocid.test.derived"] = repo
    cbytes = json.dumps(config, sort_keys=True).encode()
    cdigest = "sha256:" + hashlib.sha256(cbytes).hexdigest()
    reg = Registry(registry)
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(cbytes)
        tmp.flush()
        reg.push_blob(repo, tmp.name, cdigest, len(cbytes))
    for layer in fx["layers"]:
        reg.push_blob(repo, os.path.join(blobs, layer["digest"][7:]), layer["digest"], layer["size"])
    manifest["config"]["digest"] = cdigest
    manifest["config"]["size"] = len(cbytes)
    mbytes = json.dumps(manifest).encode()
    print(reg.put_manifest(repo, "latest", mbytes, fx["media_type"]) or
          "sha256:" + hashlib.sha256(mbytes).hexdigest())


if __name__ == "__main__":
    main()
