#!/usr/bin/python3
"""Checks a mounted image root against a fixture's "expect" section in
fixtures.json: files (type, mode, uid, gid, size, sha256, content, target,
mtime, xattrs, major/minor, nlink, same_inode_as), absent paths and the
minimum number of regular files. For an index fixture, the entry for ARCH
(default amd64) is checked.

usage: check_rootfs.py FIXTURES_JSON NAME ROOT [ARCH]
Prints "ok NAME (N checks)" or the failures, one a line, and exits 1."""
import hashlib
import json
import os
import stat
import sys


def kind(st):
    m = st.st_mode
    if stat.S_ISREG(m):
        return "file"
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISLNK(m):
        return "symlink"
    if stat.S_ISFIFO(m):
        return "fifo"
    if stat.S_ISCHR(m):
        return "chardev"
    if stat.S_ISBLK(m):
        return "blockdev"
    return "other"


def main():
    fixtures, name, root = sys.argv[1], sys.argv[2], sys.argv[3]
    arch = sys.argv[4] if len(sys.argv) > 4 else "amd64"
    fx = json.load(open(fixtures))["fixtures"][name]
    expects = [fx.get("expect", {})]
    if fx["kind"] == "index":
        for m in fx["manifests"]:
            if m["platform"]["architecture"] == arch:
                expects.append(m.get("expect", {}))
    bad = []
    checks = 0

    def at(path):
        return os.path.join(root, path.lstrip("/"))

    for expect in expects:
        for path, want in expect.get("files", {}).items():
            p = at(path)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                bad.append("%s: missing" % path)
                continue
            for k, v in want.items():
                checks += 1
                if k == "type":
                    got = kind(st)
                elif k == "mode":
                    got = "%o" % stat.S_IMODE(st.st_mode)
                elif k == "uid":
                    got = st.st_uid
                elif k == "gid":
                    got = st.st_gid
                elif k == "size":
                    got = st.st_size
                elif k == "mtime":
                    got = int(st.st_mtime)
                elif k == "sha256":
                    got = hashlib.sha256(open(p, "rb").read()).hexdigest()
                elif k == "content":
                    got = open(p, "rb").read().decode(errors="replace")
                elif k == "target":
                    got = os.readlink(p)
                elif k == "major":
                    got = os.major(st.st_rdev)
                elif k == "minor":
                    got = os.minor(st.st_rdev)
                elif k == "nlink":
                    got = st.st_nlink
                elif k == "same_inode_as":
                    o = os.lstat(at(v))
                    got = v if (o.st_ino, o.st_dev) == (st.st_ino, st.st_dev) else "another inode"
                elif k == "xattrs":
                    got = {x: os.getxattr(p, x, follow_symlinks=False).decode() for x in v}
                else:
                    bad.append("%s: unknown expectation %s" % (path, k))
                    continue
                if got != v:
                    bad.append("%s: %s is %r, want %r" % (path, k, got, v))
        for path in expect.get("absent", []):
            checks += 1
            if os.path.lexists(at(path)):
                bad.append("%s: should be absent" % path)
        if "file_count_min" in expect:
            checks += 1
            n = 0
            for d, _, files in os.walk(root):
                n += sum(1 for f in files if stat.S_ISREG(os.lstat(os.path.join(d, f)).st_mode))
            if n < expect["file_count_min"]:
                bad.append("only %d files, want at least %d" % (n, expect["file_count_min"]))
    for b in bad:
        print("%s: %s" % (name, b))
    if bad:
        sys.exit(1)
    print("ok %s (%d checks)" % (name, checks))


main()
