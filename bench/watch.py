"""``pipework watch``: time from Docker's start event to the declared interface being up
in the container, over ``docker restart``s, against how long ``docker restart`` takes.

One container (``pwb-watch1``, busybox imported, ``--network none``) carries the label
``pipework.attach=brpwbw0 198.51.100.10/24``; ``pipework watch --json`` runs with an
empty declarations directory. Each run restarts the container (``docker restart -t 0``:
its new network namespace has no eth1) and takes:

* the start event's ``timeNano``, from ``docker events`` (the daemon's clock, the
  host's: one clock for both ends);
* the ``time`` of the watcher's ``attached`` line for the container, written once the
  engine has returned, the interface up with its address (ms resolution).

After the runs the bench checks in the container's netns that eth1 is up with the
address, so the lines timed were not empty words. Run alone: ``bench.py --only watch``.
Everything is named ``pwb…`` and removed at the end, also after a failure.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import statistics
import subprocess
import tarfile
import tempfile
import threading
import time
from contextlib import ExitStack, suppress

NAME = "pwb-watch1"
IMAGE = "pwb-busybox:watch"
BRIDGE = "brpwbw0"
ADDR = "198.51.100.10/24"
TARGET_MS = 100.0
#: how long one restart may take to be attached before the bench gives up
RUN_TIMEOUT_S = 10.0


def sh(*argv: str, stdin: bytes | None = None, check: bool = True) -> str:
    res = subprocess.run(list(argv), input=stdin, capture_output=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.decode(errors='replace').strip()}")
    return res.stdout.decode(errors="replace")


class Lines:
    """A child's output, one parsed JSON line at a time, read by a thread."""

    def __init__(self, proc: subprocess.Popen[bytes], stream: str) -> None:
        self.queue: queue.Queue[dict[str, object]] = queue.Queue()
        pipe = getattr(proc, stream)
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()
        self.text: list[str] = []

    def _read(self, pipe: io.BufferedReader) -> None:
        for raw in pipe:
            line = raw.decode(errors="replace")
            self.text.append(line)
            with suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    self.queue.put(record)

    def next(self, match: object, deadline: float) -> dict[str, object]:
        """The next line ``match(line)`` accepts, by ``deadline`` (monotonic)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("timed out; last lines:\n" + "".join(self.text[-10:]))
            try:
                record = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            if match(record):  # type: ignore[operator]
                return record


def _image() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "sleep", "ip"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    sh("docker", "import", "-", IMAGE, stdin=buf.getvalue())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _guest_addresses(pid: int) -> list[str]:
    out = sh("nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "addr", "show", "dev", "eth1")
    (entry,) = json.loads(out)
    if "UP" not in entry.get("flags", []):
        return []
    return [f"{a['local']}/{a['prefixlen']}" for a in entry["addr_info"] if a["scope"] == "global"]


def scenario(runs: int, pipework: str) -> dict[str, object]:
    """Start event -> attached (ms) and ``docker restart`` wall time (ms), per run."""
    with ExitStack() as stack:
        directory = tempfile.mkdtemp(prefix="pwb-watch-")
        stack.callback(sh, "rm", "-rf", directory, check=False)
        stack.callback(sh, "ip", "link", "del", BRIDGE, check=False)
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        stack.callback(sh, "docker", "rmi", "-f", IMAGE, check=False)
        _image()
        stack.callback(sh, "docker", "rm", "-f", NAME, check=False)
        cid = sh(
            "docker", "run", "-d", "--pull", "never", "--network", "none", "--name", NAME,
            "--label", f"pipework.attach={BRIDGE} {ADDR}", IMAGE, "/bin/sleep", "100000",
        ).strip()  # fmt: skip
        events_proc = subprocess.Popen(
            [
                "docker", "events", "--format", "{{json .}}", "--filter", "type=container",
                "--filter", "event=start", "--filter", f"container={cid}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stack.callback(_stop, events_proc)
        events = Lines(events_proc, "stdout")
        watcher = subprocess.Popen(
            [pipework, "watch", "--json", "--dir", directory],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        stack.callback(_stop, watcher)
        log = Lines(watcher, "stderr")

        def attached(record: dict[str, object]) -> bool:
            return record.get("action") == "attached" and NAME in str(record.get("message"))

        log.next(attached, time.monotonic() + 30)  # the first pass attaches it
        log.next(lambda r: r.get("action") == "watching", time.monotonic() + 30)
        latency, restart = [], []
        for _ in range(runs):
            since_ns = time.time_ns()
            start = time.perf_counter()
            sh("docker", "restart", "-t", "0", NAME)
            restart.append((time.perf_counter() - start) * 1000)
            deadline = time.monotonic() + RUN_TIMEOUT_S
            event = events.next(lambda r, t=since_ns: _event_after(r, t), deadline)
            event_s = int(event["timeNano"]) / 1e9  # type: ignore[call-overload]
            line = log.next(attached, deadline)
            latency.append((float(line["time"]) - event_s) * 1000)  # type: ignore[arg-type]
        pid = int(sh("docker", "inspect", "-f", "{{.State.Pid}}", NAME).strip())
        seen = _guest_addresses(pid)
        if seen != [ADDR]:
            raise RuntimeError(f"after the runs eth1 in {NAME} has {seen}, not {ADDR}")
    return {
        "runs": runs,
        "start_event_to_attached_ms": _stats(latency),
        "docker_restart_ms": _stats(restart),
        "cpus": os.cpu_count(),
    }


def _event_after(record: dict[str, object], since_ns: int) -> bool:
    stamp = record.get("timeNano")
    return isinstance(stamp, int) and stamp >= since_ns


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def targets(r: dict[str, object]) -> dict[str, dict[str, object]]:
    median = r["start_event_to_attached_ms"]["median"]  # type: ignore[index]
    return {
        f"watch: start event -> interface up, median (ms) < {TARGET_MS:g}": {
            "value": median,
            "limit": TARGET_MS,
            "met": median < TARGET_MS,
        }
    }


def markdown(r: dict[str, object]) -> str:
    lat = r["start_event_to_attached_ms"]
    rst = r["docker_restart_ms"]
    assert isinstance(lat, dict) and isinstance(rst, dict)
    ratio = lat["median"] / rst["median"]
    return "\n".join(
        [
            f"**pipework watch**: {r['runs']} `docker restart -t 0` of a container labelled "
            f"`pipework.attach` (ms)",
            "",
            "| measure | median | min | max |",
            "| --- | ---: | ---: | ---: |",
            f"| Docker's start event -> eth1 up with its address (watcher's `attached` line) "
            f"| {lat['median']:.1f} | {lat['min']:.1f} | {lat['max']:.1f} |",
            f"| `docker restart -t 0` itself (wall time of the command) "
            f"| {rst['median']:.1f} | {rst['min']:.1f} | {rst['max']:.1f} |",
            "",
            f"Median attach latency is {ratio:.2f} of a restart's; target: median under "
            f"{TARGET_MS:g} ms ({'met' if lat['median'] < TARGET_MS else 'NOT met'}).",
        ]
    )
