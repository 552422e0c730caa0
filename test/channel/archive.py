"""Writes the tar and zip archives of the test channel (driven by archive-writer.ts).

Reads one JSON request on stdin:
  {"op": "tar", "out": PATH, "root": DIR, "members": [REL, ...], "extra": [ENTRY, ...]}
      An uncompressed tar of root/REL for each member, in the given order, with fixed owner
      and mtime so that equal inputs give equal bytes. Regular files, symlinks and hard links
      (same inode as an earlier member) are stored as such. ENTRY adds a raw entry that need not
      exist on disk (for hostile archives): {"name", "type": "file"|"symlink"|"hardlink"|"dir",
      "data"?: str, "linkname"?: str, "mode"?: int}.
  {"op": "zip", "out": PATH, "entries": [{"name": NAME, "source": PATH}, ...]}
      An uncompressed (ZIP_STORED) zip, the outer container of a .conda package.
Python's tarfile is used because it writes exactly the entries it is given, including the
hostile names GNU tar refuses to create.
"""

import io
import json
import os
import stat
import sys
import tarfile
import zipfile

MTIME = 1_700_000_000  # fixed, so that rebuilds are byte-identical
ZIP_DATE = (2023, 11, 14, 22, 13, 20)


def base_info(name):
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar(request):
    root = request["root"]
    seen_inodes = {}
    with tarfile.open(request["out"], "w", format=tarfile.PAX_FORMAT) as tar:
        for member in request.get("members", []):
            path = os.path.join(root, member)
            st = os.lstat(path)
            info = base_info(member)
            if stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                if st.st_nlink > 1 and key in seen_inodes:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen_inodes[key]
                    tar.addfile(info)
                    continue
                seen_inodes[key] = member
                info.size = st.st_size
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                raise SystemExit(f"unsupported file type: {path}")
        for entry in request.get("extra", []):
            info = base_info(entry["name"])
            kind = entry["type"]
            info.mode = entry.get("mode", 0o644)
            if kind == "file":
                data = entry.get("data", "").encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = entry["linkname"]
                tar.addfile(info)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = entry.get("mode", 0o755)
                tar.addfile(info)
            else:
                raise SystemExit(f"unknown extra entry type: {kind}")


def write_zip(request):
    with zipfile.ZipFile(request["out"], "w", compression=zipfile.ZIP_STORED) as archive:
        for entry in request["entries"]:
            info = zipfile.ZipInfo(entry["name"], date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with open(entry["source"], "rb") as source, archive.open(info, "w") as target:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    target.write(chunk)


def main():
    request = json.load(sys.stdin)
    if request["op"] == "tar":
        write_tar(request)
    elif request["op"] == "zip":
        write_zip(request)
    else:
        raise SystemExit(f"unknown op: {request['op']}")


if __name__ == "__main__":
    main()
