#!/usr/bin/env python3
"""Make a minimal Debian root file system, as a tar on stdout, from this Debian
host's own installed packages: no registry, no network.

What goes in: the files of the Python interpreter's packages (``dpkg -L``:
python3.X-minimal, libpython3.X-minimal, libpython3.X-stdlib; their tests, docs,
IDLE and Tk left out), the shared libraries the interpreter and its extension
modules load (``ldd``), busybox-static as /bin/sh and a few applets (for the
Containerfile's RUN line, the DaemonSet's script), /usr/bin/python3, and an /etc
with passwd, group and os-release. About 37 MB; `docker import` turns it into the base image
contrib/container/Containerfile builds on when no registry is at hand:

    python3 contrib/container/rootfs.py | docker import - pipework-base:local
    git archive HEAD | docker build --build-arg BASE=pipework-base:local \\
        -f contrib/container/Containerfile -t pipework -

The tests (tests/integration/test_container_image.py) build the image this way.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

#: for the Containerfile's RUN line and the DaemonSet's install script
APPLETS = ("sh", "cat", "chmod", "cp", "ls", "mkdir", "mv", "rm", "sed", "sleep", "test", "true")
#: parts of the standard library a container running pipework never loads
SKIP = ("/test/", "/tests/", "/idlelib/", "/tkinter/", "/turtledemo/", "/ensurepip/",
        "/lib2to3/", "/pydoc_data/", "/__pycache__/", "/usr/share/doc/", "/usr/share/man/",
        "/usr/share/lintian/", "/usr/share/binfmts/", "/usr/share/applications/",
        "/usr/share/pixmaps/")  # fmt: skip


def packages() -> list[str]:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [f"python{version}-minimal", f"libpython{version}-minimal",
            f"libpython{version}-stdlib"]  # fmt: skip


def package_files(names: list[str]) -> list[str]:
    out = subprocess.run(["dpkg", "-L", *names], capture_output=True, text=True, check=True)
    found = []
    for path in out.stdout.splitlines():
        if any(part in path + "/" for part in SKIP) or path.endswith((".pyc", ".exe")):
            continue
        if os.path.isfile(path) or os.path.islink(path):
            found.append(path)
    return found


def libraries(binaries: list[str]) -> set[str]:
    """The shared libraries ``binaries`` load, and the loader."""
    found: set[str] = set()
    for binary in binaries:
        res = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            words = line.split()
            for word in words:
                if word.startswith("/") and os.path.exists(word):
                    found.add(word)
    return found


def canonical(path: str) -> str:
    """``path`` through the links of its directories (/lib/x86_64-linux-gnu/libc.so.6
    is /usr/lib/x86_64-linux-gnu/libc.so.6 on a merged /usr): a file in the tar under
    a directory that is a link there would be refused or go astray."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def add_file(tar: tarfile.TarFile, path: str, done: set[str]) -> None:
    """``path`` and, for a link, what it points to; the directories above it."""
    if os.path.dirname(path) != "/":  # the top-level links themselves stay links
        path = canonical(path)
    if path in done:
        return
    done.add(path)
    parent = os.path.dirname(path)
    if parent != "/":
        add_dir(tar, parent, done)
    if os.path.islink(path):
        target = os.readlink(path)
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type, info.linkname = tarfile.SYMTYPE, target
        tar.addfile(info)
        add_file(tar, os.path.normpath(os.path.join(parent, target)), done)
        return
    tar.add(path, arcname=path.lstrip("/"), recursive=False)


def add_dir(tar: tarfile.TarFile, path: str, done: set[str]) -> None:
    if path in done or path == "/":
        return
    if os.path.islink(path):  # /lib64 -> usr/lib64 (merged /usr)
        add_file(tar, path, done)
        return
    done.add(path)
    add_dir(tar, os.path.dirname(path), done)
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def add_text(tar: tarfile.TarFile, path: str, text: str, done: set[str], mode: int = 0o644) -> None:
    add_dir(tar, os.path.dirname(path), done)
    data = text.encode()
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))
    done.add(path)


def build(out: io.BufferedIOBase) -> None:
    files = package_files(packages())
    python = os.path.realpath("/usr/bin/python3")
    dynload = [f for f in files if f.endswith(".so")]
    with tarfile.open(fileobj=out, mode="w|") as tar:
        done: set[str] = set()
        for top in ("bin", "lib", "lib64", "sbin"):  # merged /usr: links, as on the host
            if os.path.islink(f"/{top}"):
                add_file(tar, f"/{top}", done)
        for directory in ("/run", "/proc", "/sys", "/dev", "/etc", "/root"):
            add_dir(tar, directory, done)
        info = tarfile.TarInfo("tmp")
        info.type, info.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(info)
        for path in sorted(set(files) | libraries([python, *dynload]) | {"/usr/bin/python3"}):
            add_file(tar, path, done)
        tar.add("/bin/busybox", arcname="usr/bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"usr/bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add_text(tar, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", done)
        add_text(tar, "/etc/group", "root:x:0:\n", done)
        with open("/etc/os-release") as f:
            add_text(tar, "/etc/os-release", f.read(), done)


if __name__ == "__main__":
    if sys.stdout.isatty():
        sys.exit("rootfs.py writes a tar: pipe it (| docker import - NAME) or redirect it")
    build(sys.stdout.buffer)
