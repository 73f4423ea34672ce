"""Run a command as root under Debian's stock kernel, in a throwaway qemu VM.

This machine's kernel lacks dummy, 802.1Q, ipvlan, bridge VLAN filtering and the
Open vSwitch datapath, and cannot load modules. Debian's ``linux-image-amd64``
has them all as modules. The VM boots that kernel with a tiny initramfs (busybox
and the virtio/9p/overlay modules), mounts this host's root read-only over
virtio-9p under a tmpfs overlay, and runs the command there as root: the same
Python, venv and checkout, nothing copied. The command's output goes to the
serial console (our stdout); its exit status comes back through a second,
writable 9p share. ``-nodefaults -nic none`` keeps the VM off every network, and
every write lands in the VM's tmpfs, so the host is never changed.

Usage: vm.py [--timeout S] [--memory MB] -- COMMAND [ARG...]   (run from the checkout)
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the initramfs needs these to reach the root filesystem (dependencies come first)
BOOT_MODULES = (
    "virtio",
    "virtio_ring",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
    "overlay",
)
CACHE = Path(os.environ.get("PIPEWORK_VM_CACHE", "/var/cache/pipework-vm"))


def stock_kernel() -> tuple[str, Path]:
    """The newest Debian kernel installed in /boot whose modules are installed too."""
    found = []
    for image in Path("/boot").glob("vmlinuz-*"):
        release = image.name.removeprefix("vmlinuz-")
        if (Path("/lib/modules") / release / "modules.dep").exists():
            found.append((release, image))
    if not found:
        sys.exit("vm.py: no kernel in /boot with its modules (apt-get install linux-image-amd64)")
    return max(found, key=lambda item: [int(p) if p.isdigit() else 0 for p in item[0].split(".")])


def module_paths(release: str) -> list[Path]:
    """The .ko files of BOOT_MODULES and what they depend on, dependencies first,
    from modules.dep (whose lists are already in load order, last loaded first)."""
    base = Path("/lib/modules") / release
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko", 1)[0].replace("-", "_")] = path
    builtin = {
        Path(line).name.split(".ko", 1)[0].replace("-", "_")
        for line in (base / "modules.builtin").read_text().splitlines()
    }
    ordered: list[str] = []
    for name in BOOT_MODULES:
        if name in builtin:
            continue
        if name not in by_name:
            sys.exit(f"vm.py: kernel {release} has no module {name}")
        path = by_name[name]
        for needed in [*reversed(deps[path]), path]:
            if needed not in ordered:
                ordered.append(needed)
    return [base / path for path in ordered]


def build_initramfs(release: str) -> Path:
    """A cpio archive: busybox, /init, the boot modules. Rebuilt when its inputs change."""
    busybox = "/bin/busybox"  # busybox-static: the initramfs has no libc to link against
    modules = module_paths(release)
    init = HERE / "init"
    inputs = [Path(busybox), init, Path(__file__), *modules]
    out = CACHE / f"initramfs-{release}.cpio"
    if out.exists() and all(out.stat().st_mtime >= p.stat().st_mtime for p in inputs):
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pwvm-initramfs-") as tmp:
        root = Path(tmp)
        for d in ("bin", "dev", "proc", "sys", "lower", "upper", "root", "results", "modules"):
            (root / d).mkdir()
        shutil.copy2(busybox, root / "bin" / "busybox")
        shutil.copy2(init, root / "init")
        (root / "init").chmod(0o755)
        order = []
        for i, ko in enumerate(modules):
            name = f"{i:02d}-{ko.name}"
            shutil.copy2(ko, root / "modules" / name)
            order.append(name)
        (root / "modules" / "order").write_text("\n".join(order) + "\n")
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        with open(out.with_suffix(".tmp"), "wb") as archive:
            subprocess.run(
                ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                input="\n".join(files).encode(),
                stdout=archive,
                cwd=root,
                check=True,
            )
        out.with_suffix(".tmp").rename(out)
    return out


def run(command: list[str], *, timeout: float, memory: int) -> int:
    release, kernel = stock_kernel()
    initramfs = build_initramfs(release)
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        sys.exit("vm.py: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)")
    with tempfile.TemporaryDirectory(prefix="pwvm-share-") as share:
        # the command runs from the current directory, with our environment's PATH
        script = (
            f"cd {shlex.quote(os.getcwd())}\n"
            f"export PATH={shlex.quote(os.environ.get('PATH', '/usr/bin:/bin'))}\n"
            f"export PIPEWORK_IN_VM=1 PIPEWORK_REQUIRE_ALL="
            f"{shlex.quote(os.environ.get('PIPEWORK_REQUIRE_ALL', ''))}\n"
            f"{shlex.join(command)}\n"
            "echo $? > /run/pipework-vm/status\n"
        )
        Path(share, "command").write_text(script)
        argv = [
            qemu,
            "-accel", "tcg", "-cpu", "max", "-smp", str(min(os.cpu_count() or 1, 2)),
            "-m", str(memory),
            "-nodefaults", "-nic", "none", "-display", "none", "-no-reboot",
            "-serial", "stdio",
            "-kernel", str(kernel),
            "-initrd", str(initramfs),
            "-append", "console=ttyS0 quiet loglevel=3 panic=-1",
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={share},mount_tag=results,security_model=none",
        ]  # fmt: skip
        started = time.monotonic()
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"vm.py: the VM did not finish within {timeout:g} s", file=sys.stderr)
            return 124
        status_file = Path(share, "status")
        if not status_file.exists():
            print("vm.py: the VM stopped without reporting a status", file=sys.stderr)
            return 125
        status = int(status_file.read_text().strip() or "125")
        print(f"vm.py: kernel {release}, exit status {status}, {time.monotonic() - started:.1f} s")
        return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--memory", type=int, default=1024, help="MiB")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    return run(args.command, timeout=args.timeout, memory=args.memory)


if __name__ == "__main__":
    sys.exit(main())
