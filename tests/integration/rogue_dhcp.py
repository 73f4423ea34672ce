"""A rogue DHCPv4 server for the hostile-environment tests: it says whatever a test tells it to.

It is a real server, small: one UDP socket on port 67 bound to one interface
(SO_BINDTODEVICE) inside a test's network namespace, answering DISCOVER with an
OFFER and REQUEST with an ACK (or a NAK) of one configured lease. Replies go to
the broadcast address, except a renewal's (the client has an address and did not
ask for broadcast), which goes to the client's address as RFC 2131 4.1 says; the
built-in client, udhcpc, dhclient and dhcpcd all take them.

What a hostile server can do is the configuration (JSON, the one argument):

    interface     the interface to serve on (required); it must carry ``server``
    server        the server identifier (option 54), its own address (required)
    address       the address offered and acknowledged (required)
    mask          the subnet mask (option 1), dotted; null: left out
    routers       option 3, a list of dotted addresses (any: broadcast, the lease's own...)
    dns           option 6, a list of dotted addresses
    domain        option 15 as ARBITRARY bytes: a JSON string whose code points
                  0-255 are the bytes ("evil\\nnameserver 203.0.113.66", "\\u001b[31m")
    search        option 119: a list of names, each encoded label by label, the
                  labels being arbitrary bytes as for ``domain``
    search_raw    option 119 as raw bytes (as for ``domain``), instead of ``search``
    hostname      option 12, arbitrary bytes as for ``domain``
    lease_time    option 51 in seconds (0, 1, 2, 3600...; default 3600); null: left out
    t1, t2        options 58 and 59 in seconds; absent: left out
    extra         {"code": "hex bytes"}: any other option, as is
    nak           true: every REQUEST gets a DHCPNAK
    nak_after     N: the first N REQUESTs are acknowledged, the later ones refused
    nak_message   option 56 in a NAK, arbitrary bytes as for ``domain``
    answers       N: answer N messages (OFFERs, ACKs and NAKs together), then stay
                  silent (but keep logging what arrives)
    timeout       seconds after which the server exits whatever happens (default 60,
                  at most 600): a test that forgets it does not leave it running
    log           a file to append one JSON line to per event (default: stdout)

Every event is one JSON line: ``{"event": "ready"}`` once the socket listens,
then ``{"event": "received", "type": "DISCOVER", "mac": ..., "ciaddr": ..., "t": ...}``
per message and ``{"event": "sent", "type": "OFFER", "to": ...}`` per reply. A test
counts exchanges from them.

Run it as a test does, inside the server's namespace::

    ip netns exec NS python tests/integration/rogue_dhcp.py '{"interface": "eth0", ...}'

(``python -m tests.integration.rogue_dhcp`` from the checkout works too). It dies with
its parent (PR_SET_PDEATHSIG) and after ``timeout``; ``start`` below is what the
tests call, under the ``spawn`` fixture, which kills it after the test.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SO_BINDTODEVICE = 25
PR_SET_PDEATHSIG = 1
MAGIC = b"\x63\x82\x53\x63"
_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE"}
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
MAX_TIMEOUT = 600.0


def raw(text: str) -> bytes:
    """The bytes a JSON string stands for: each code point 0-255 one byte."""
    return text.encode("latin-1")


def ip(text: str) -> bytes:
    return socket.inet_aton(text)


def encode_names(names: list[str]) -> bytes:
    """Option 119 (RFC 3397): each name as DNS labels, no compression."""
    out = bytearray()
    for name in names:
        for label in raw(name).split(b"."):
            if label:
                out += bytes((len(label),)) + label
        out.append(0)
    return bytes(out)


def option(code: int, value: bytes) -> bytes:
    """One option, split over instances when longer than 255 bytes (RFC 3396)."""
    if not value:
        return bytes((code, 0))
    return b"".join(
        bytes((code, len(value[i : i + 255]))) + value[i : i + 255]
        for i in range(0, len(value), 255)
    )


def parse(data: bytes) -> dict[str, Any] | None:
    """A client message's fields and options; None for anything else."""
    if len(data) < _FIXED.size + 4 or data[_FIXED.size : _FIXED.size + 4] != MAGIC:
        return None
    fields = _FIXED.unpack_from(data)
    if fields[0] != 1:  # BOOTREQUEST
        return None
    options: dict[int, bytes] = {}
    i, body = 0, data[_FIXED.size + 4 :]
    while i < len(body) and body[i] != 255:
        if body[i] == 0:
            i += 1
            continue
        if i + 1 >= len(body):
            break
        code, length = body[i], body[i + 1]
        options[code] = options.get(code, b"") + body[i + 2 : i + 2 + length]
        i += 2 + length
    kind = options.get(53, b"\0")[0]
    return {
        "xid": fields[4],
        "flags": fields[6],
        "ciaddr": fields[7],
        "giaddr": fields[10],
        "chaddr": fields[11],
        "type": kind,
        "options": options,
    }


class Rogue:
    """The server: the configuration, the socket, what it has answered."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.answered = 0
        self.requests = 0
        self.deadline = time.monotonic() + min(float(config.get("timeout", 60)), MAX_TIMEOUT)
        log = config.get("log")
        self.out = open(log, "a", buffering=1) if log else sys.stdout  # noqa: SIM115

    def event(self, **fields: object) -> None:
        self.out.write(json.dumps({**fields, "t": round(time.time(), 3)}) + "\n")
        self.out.flush()

    def lease_options(self) -> bytes:
        c = self.config
        out = b""
        lease_time = c.get("lease_time", 3600)
        if lease_time is not None:
            out += option(51, struct.pack("!I", int(lease_time)))
        for key, code in (("t1", 58), ("t2", 59)):
            if c.get(key) is not None:
                out += option(code, struct.pack("!I", int(c[key])))
        if c.get("mask") is not None:
            out += option(1, ip(c["mask"]))
        for key, code in (("routers", 3), ("dns", 6)):
            if c.get(key):
                out += option(code, b"".join(ip(a) for a in c[key]))
        for key, code in (("domain", 15), ("hostname", 12)):
            if c.get(key) is not None:
                out += option(code, raw(c[key]))
        if c.get("search_raw") is not None:
            out += option(119, raw(c["search_raw"]))
        elif c.get("search"):
            out += option(119, encode_names(c["search"]))
        for code, value in (c.get("extra") or {}).items():
            out += option(int(code), bytes.fromhex(value))
        return out

    def reply(self, msg: dict[str, Any], kind: int) -> bytes:
        c = self.config
        yiaddr = ip(c["address"]) if kind != NAK else b"\0\0\0\0"
        fixed = _FIXED.pack(
            2, 1, 6, 0, msg["xid"], 0, msg["flags"], msg["ciaddr"] if kind != NAK else b"\0" * 4,
            yiaddr, b"\0" * 4, msg["giaddr"], msg["chaddr"], b"", b"",
        )  # fmt: skip
        body = fixed + MAGIC + option(53, bytes((kind,))) + option(54, ip(c["server"]))
        if kind == NAK:
            if c.get("nak_message") is not None:
                body += option(56, raw(c["nak_message"]))
        else:
            body += self.lease_options()
        body += b"\xff"
        return body + bytes(max(0, 300 - len(body)))

    def answer(self, msg: dict[str, Any]) -> int | None:
        """What to answer ``msg`` with, or None."""
        c = self.config
        if msg["type"] == DISCOVER:
            return OFFER
        if msg["type"] != REQUEST:
            return None  # RELEASE, DECLINE, INFORM: noted, not answered
        server_id = msg["options"].get(54)
        if server_id is not None and server_id != ip(c["server"]):
            return None  # the client chose another server's offer
        self.requests += 1
        if c.get("nak"):
            return NAK
        if c.get("nak_after") is not None and self.requests > int(c["nak_after"]):
            return NAK
        wanted = msg["options"].get(50) or msg["ciaddr"]
        if wanted not in (b"\0\0\0\0", ip(c["address"])):
            return NAK  # INIT-REBOOT or renewal of an address this server does not give
        return ACK

    def send(self, sock: socket.socket, msg: dict[str, Any], kind: int, data: bytes) -> None:
        unicast = kind != NAK and msg["ciaddr"] != b"\0\0\0\0" and not msg["flags"] & 0x8000
        to = socket.inet_ntoa(msg["ciaddr"]) if unicast else "255.255.255.255"
        try:
            sock.sendto(data, (to, 68))
        except OSError as exc:  # no route to a client address off the server's subnet
            self.event(event="send failed", to=to, error=exc.strerror)
            to = "255.255.255.255"
            sock.sendto(data, (to, 68))
        self.event(event="sent", type=TYPES[kind], to=to, xid=msg["xid"])

    def serve(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.config["interface"].encode())
        sock.bind(("0.0.0.0", 67))  # noqa: S104 - only on this device (SO_BINDTODEVICE)
        self.event(event="ready", interface=self.config["interface"])
        limit = self.config.get("answers")
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.event(event="timeout")
                return
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            msg = parse(data)
            if msg is None:
                continue
            self.event(
                event="received",
                type=TYPES.get(msg["type"], str(msg["type"])),
                mac=msg["chaddr"][:6].hex(":"),
                ciaddr=socket.inet_ntoa(msg["ciaddr"]),
                xid=msg["xid"],
            )
            kind = self.answer(msg)
            if kind is None:
                continue
            if limit is not None and self.answered >= int(limit):
                self.event(event="silent", type=TYPES[kind])
                continue
            self.answered += 1
            self.send(sock, msg, kind, self.reply(msg, kind))


def _die_with_parent() -> None:
    """SIGKILL when the test process goes, even if it cannot clean up (a crash)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    for key in ("interface", "server", "address"):
        if key not in config:
            print(f"rogue_dhcp: the configuration needs {key!r}", file=sys.stderr)
            return 2
    _die_with_parent()
    Rogue(config).serve()
    return 0


# -- for the tests ---------------------------------------------------------------------


class RogueServer:
    """A running rogue server, seen from a test: its events."""

    def __init__(self, log: Path, ns: str, bridge: str) -> None:
        self.log = log
        self.ns = ns
        self.bridge = bridge

    def events(self, event: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        text = self.log.read_text() if self.log.exists() else ""
        found = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [
            e
            for e in found
            if (event is None or e["event"] == event) and (kind is None or e.get("type") == kind)
        ]

    def received(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.events("received", kind)


def network(
    make_netns: Callable[[], str],
    make_bridge: Callable[[], str],
    cleanup: Any,
    server: str = "198.51.100.1/24",
) -> tuple[str, str]:
    """A bridge and a namespace for the server, its eth0 on the bridge with the
    address ``server``: (bridge, namespace), both removed by the fixtures."""
    import subprocess
    import uuid

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)

    bridge, ns = make_bridge(), make_netns()
    host_end = f"pwtrg{uuid.uuid4().hex[:8]}"
    cleanup.add(
        f"link {host_end}",
        lambda: subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False),
    )
    run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "link", "set", host_end, "master", bridge, "up")
    run("ip", "-n", ns, "addr", "add", server, "dev", "eth0")
    run("ip", "-n", ns, "link", "set", "eth0", "up")
    return bridge, ns


def start(
    spawn: Callable[..., Any],
    ns: str,
    log: Path,
    bridge: str = "",
    **config: Any,
) -> RogueServer:
    """Start a rogue server in the namespace ``ns`` (under the ``spawn`` fixture, which
    kills it after the test) and wait until it listens. ``config`` as in the docstring;
    ``interface`` defaults to eth0, ``server`` to 198.51.100.1 (``network``'s)."""
    config.setdefault("interface", "eth0")
    config.setdefault("server", "198.51.100.1")
    config["log"] = str(log)
    spawn("ip", "netns", "exec", ns, sys.executable, __file__, json.dumps(config))
    server = RogueServer(log, ns, bridge)
    deadline = time.monotonic() + 10
    while not server.events("ready"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the rogue DHCP server in {ns} did not start: {log}")
        time.sleep(0.02)
    return server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
