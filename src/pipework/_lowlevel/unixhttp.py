"""A minimal HTTP GET over a unix socket, for the Docker Engine API.

``http.client`` would do, but its import chain (email, re, ssl checks) costs more
than the whole request. The answer is not trusted: whatever listens on the socket
may be broken or hostile, so one request has ONE deadline for everything (connect,
send, every recv: a body trickled a byte at a time cannot stretch it, an endless
stream ends there), a byte budget on what it reads (head and body, so the
dechunked body too), and a strict parser that fails instead of looping: the answer
must begin ``HTTP/x.y DDD``, its head end within ``MAX_HEAD``, a chunk size be 1 to
8 hex digits whose data is followed by CRLF, and the last chunk come. An answer
with a length or chunks is complete at its end, without waiting for the close.

Failing to connect raises connect()'s own ``OSError`` (nothing listens there);
every failure after that is a ``ResponseError`` saying what was wrong.
"""

from __future__ import annotations

from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM, socket
from _socket import timeout as _SocketTimeout  # TimeoutError since 3.10; its own class on 3.9
from time import monotonic

TIMEOUT_S = 10.0  # for the whole request, not per recv
MAX_RESPONSE = 16 << 20  # a container's inspect is ~10 KiB; a listing of thousands, a few MiB
MAX_HEAD = 64 << 10
_MAX_CHUNK_DIGITS = 8  # 4 GiB - 1, already far beyond any budget
_HEX = frozenset(b"0123456789abcdefABCDEF")


class ResponseError(OSError):
    """The server took the connection but gave no complete, well-formed answer in time."""


class HTTPResponse:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


def get(
    socket_path: str,
    path: str,
    *,
    timeout: float = TIMEOUT_S,
    deadline: float | None = None,
    max_bytes: int = MAX_RESPONSE,
) -> HTTPResponse:
    """GET ``path`` from the server on ``socket_path``, all of it within ``timeout``
    seconds (or by ``deadline``, a ``time.monotonic()`` instant several requests share)
    and ``max_bytes``."""
    reader = _Reader(timeout, monotonic() + timeout if deadline is None else deadline, max_bytes)
    sock = reader.sock
    try:
        reader.arm()
        try:
            sock.connect(socket_path)
        except _SocketTimeout:
            raise ResponseError(f"the connection was not accepted within {timeout:g} s") from None
        request = f"GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n"
        reader.arm()
        try:
            sock.sendall(request.encode())
        except _SocketTimeout:
            raise ResponseError(f"the request was not taken within {timeout:g} s") from None
        except OSError as exc:
            raise ResponseError(f"the request could not be sent ({exc.strerror or exc})") from None
        return reader.response()
    finally:
        sock.close()


def _size(n: int) -> str:
    if n >= 1 << 20 and not n % (1 << 20):
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and not n % (1 << 10):
        return f"{n >> 10} KiB"
    return f"{n} bytes"


class _Reader:
    """The receiving side of one request: a buffer filled within the deadline and budget."""

    __slots__ = ("budget", "buf", "end", "left", "sock", "timeout")

    def __init__(self, timeout: float, end: float, budget: int) -> None:
        self.timeout = timeout
        self.end = end
        self.budget = budget
        self.left = budget
        self.buf = bytearray()
        self.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)

    def arm(self) -> None:
        """Let the next socket call wait only for what is left of the one deadline."""
        wait = self.end - monotonic()
        if wait <= 0:
            raise ResponseError(f"no complete answer within {self.timeout:g} s")
        self.sock.settimeout(wait)

    def more(self) -> bool:
        """Receive what has come, within the deadline and the budget; False at the end."""
        self.arm()
        try:
            data = self.sock.recv(65536)
        except _SocketTimeout:
            raise ResponseError(f"no complete answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ResponseError(f"the connection failed ({exc.strerror or exc})") from None
        if not data:
            return False
        self.left -= len(data)
        if self.left < 0:
            raise ResponseError(f"the answer is more than {_size(self.budget)} (the byte budget)")
        self.buf += data
        return True

    def need(self, n: int, what: str) -> None:
        while len(self.buf) < n:
            if not self.more():
                raise ResponseError(f"the server closed the connection in the middle of {what}")

    def take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]  # cheap: a bytearray drops its head without copying the rest
        return data

    def head(self) -> bytes:
        """The status line and headers, without the blank line that ends them."""
        searched = 0
        while True:
            if len(self.buf) >= 5 and not self.buf.startswith(b"HTTP/"):
                raise ResponseError(f"not an HTTP response (it begins {bytes(self.buf[:16])!r})")
            end = self.buf.find(b"\r\n\r\n", searched)
            if 0 <= end <= MAX_HEAD:
                head = self.take(end)
                del self.buf[:4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise ResponseError(f"headers longer than {_size(MAX_HEAD)}")
            searched = max(len(self.buf) - 3, 0)
            if not self.more():
                if not self.buf:
                    raise ResponseError("the server closed the connection without answering")
                if not self.buf.startswith(b"HTTP/"):
                    raise ResponseError(f"not an HTTP response (it is {bytes(self.buf[:16])!r})")
                raise ResponseError("the server closed the connection in the middle of the headers")

    def line(self, what: str) -> bytes:
        """The next CRLF-ended line of a chunked body (a size line, a trailer)."""
        searched = 0
        while True:
            end = self.buf.find(b"\r\n", searched)
            if 0 <= end <= MAX_HEAD:
                line = self.take(end)
                del self.buf[:2]
                return line
            if len(self.buf) > MAX_HEAD:
                raise ResponseError(f"{what} longer than {_size(MAX_HEAD)}")
            searched = max(len(self.buf) - 1, 0)
            if not self.more():
                raise ResponseError(f"the server closed the connection in the middle of {what}")

    def response(self) -> HTTPResponse:
        lines = self.head().split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if (
            len(version) != 8
            or not version[5:6].isdigit()
            or version[6:7] != b"."
            or not version[7:].isdigit()
            or len(code) != 3
            or not code.isdigit()
            or rest[3:4] not in (b"", b" ")
        ):
            raise ResponseError(f"malformed status line {lines[0][:40]!r}")
        status = int(code)
        if status < 200:
            raise ResponseError(f"an interim answer ({status}) where a final one was due")
        coding = length = None
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise ResponseError(f"malformed header line {line[:40]!r}")
            name = name.lower()
            if name == b"transfer-encoding":
                coding = value.strip().lower()
            elif name == b"content-length":
                value = value.strip()
                if length is not None and value != length:
                    raise ResponseError("two different Content-Length headers")
                length = value
        if status in (204, 304):
            return HTTPResponse(status, b"")
        if coding is not None:  # it overrides a Content-Length (RFC 9112 6.3)
            if coding != b"chunked":
                raise ResponseError(f"unsupported transfer coding {coding[:40]!r}")
            return HTTPResponse(status, self.chunked())
        if length is not None:
            if not length.isdigit() or len(length) > 19:
                raise ResponseError(f"malformed Content-Length {length[:40]!r}")
            size = int(length)
            if size > self.left + len(self.buf):
                raise ResponseError(
                    f"Content-Length {size} is more than {_size(self.budget)} (the byte budget)"
                )
            self.need(size, "the body")
            return HTTPResponse(status, self.take(size))
        while self.more():  # no length: the body ends when the server closes
            pass
        return HTTPResponse(status, self.take(len(self.buf)))

    def chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.line("the chunked body, before its last chunk")
            digits = line.split(b";", 1)[0].rstrip(b" \t")  # chunk extensions are ignored
            if not digits or len(digits) > _MAX_CHUNK_DIGITS or not _HEX.issuperset(digits):
                raise ResponseError(f"malformed chunk size {line[:40]!r}")
            size = int(digits, 16)
            if size == 0:
                break
            if size > self.left + len(self.buf):
                raise ResponseError(
                    f"chunk size {size} is more than {_size(self.budget)} (the byte budget)"
                )
            self.need(size + 2, "a chunk")
            if self.buf[size : size + 2] != b"\r\n":
                raise ResponseError("chunk data not followed by CRLF")
            body += self.take(size)
            del self.buf[:2]
        while self.line("the trailer"):  # trailer fields, up to the blank line
            pass
        return bytes(body)
