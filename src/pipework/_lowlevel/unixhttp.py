"""A minimal HTTP/1.0 GET over a unix socket, for the Docker Engine API.

``http.client`` would do, but its import chain (email, re, ssl checks) costs more
than the whole request; a GET with ``Connection: close`` needs twenty lines.
"""

from __future__ import annotations

from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM, socket

MAX_RESPONSE = 16 << 20


class HTTPResponse:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


def get(socket_path: str, path: str, *, timeout: float = 10.0) -> HTTPResponse:
    """GET ``path`` from the server on ``socket_path``; raises OSError when unreachable."""
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        size = 0
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise OSError(f"response from {socket_path} larger than {MAX_RESPONSE} bytes")
    finally:
        sock.close()
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError(f"malformed HTTP response from {socket_path}")
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        body = _dechunk(body)
    return HTTPResponse(int(status_line[1]), body)


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise OSError("truncated chunked HTTP body")
        try:
            size = int(data[pos:eol].split(b";", 1)[0], 16)
        except ValueError:
            raise OSError("malformed chunked HTTP body") from None
        if size == 0:
            return b"".join(out)
        out.append(data[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
