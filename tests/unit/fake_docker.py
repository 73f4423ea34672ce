"""A fake Docker daemon for the hostile-environment tests: it answers whatever a test says.

It listens on a unix socket in a directory of the test's own, in threads of the
test process: one accepts, one per connection reads the request head and then runs
the test's *answer*, a function given the connection and an event that is set when
the daemon stops (a stream that never ends must end then). Answers are built by
the helpers below: bytes at once, bytes trickled, an endless stream, silence.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable

Answer = Callable[[socket.socket, threading.Event], None]

#: a container ID as Docker writes them: 64 hex digits
CID = "a" * 12 + "0123456789abcdef" * 3 + "b" * 4


def say(data: bytes) -> Answer:
    """Send ``data`` and close."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)

    return answer


def trickle(data: bytes, interval: float) -> Answer:
    """Send ``data`` one byte every ``interval`` seconds (until the daemon stops)."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            if stop.wait(interval):
                return

    return answer


def endless(head: bytes, piece: bytes, interval: float = 0.0) -> Answer:
    """Send ``head``, then ``piece`` over and over until the client hangs up or the
    daemon stops (bounded by the stop event, so by the test)."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        while not stop.is_set():
            conn.sendall(piece)
            if interval:
                stop.wait(interval)

    return answer


def hold(head: bytes = b"") -> Answer:
    """Send ``head`` (maybe nothing), then keep the connection open, silent."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        stop.wait(30)

    return answer


def http(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    """A whole HTTP/1.1 response with a Content-Length."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


class FakeDocker:
    """The daemon: ``with FakeDocker(answer) as daemon:`` serves on ``daemon.path``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        # a short directory of its own: unix socket paths are limited to 107 bytes
        self.directory = tempfile.mkdtemp(prefix="pwt-docker-")
        self.path = f"{self.directory}/docker.sock"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FakeDocker:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client hung up: its business
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            self.requests.append(request)
            self.answer(conn, self.stop)
