"""Docker as a source of declarations: the labels and ``pipework_cmd*`` variables of
running containers, and the daemon's ``start`` events, over the Engine API socket.

Request/response calls (the container list, an inspect) go through the bounded client
of ``guests.daemon``. The event stream is held open on a non-blocking socket of its
own and parsed here, incrementally, as bytes arrive: the response head, the chunked
body, one JSON object per event. Whatever listens on the socket is untrusted: the
head, each chunk, each event and the bytes held between reads are bounded, anything
malformed ends the stream (``SourceLost``: the loop reconnects and reconciles
again), and an ID or a name from the daemon is checked before it becomes a
GuestRef. Nothing is cached: a container's declarations are read again at each of
its starts.

The stream is opened with ``since`` a moment in the past: the daemon replays the
events it logged since then, so a start that happens between the loop's full pass
and the daemon registering this subscriber is still delivered (once more at worst;
a reconciliation is idempotent).
"""

from __future__ import annotations

import time

from ..errors import HostStateError, PipeworkError, UsageError
from ..guests.daemon import DaemonClient, Unreachable, message, parse_json
from ..names import GuestRef, check_guest_name
from .declare import ENV_PREFIX, MACROS, from_environment, from_labels, instance_number
from .source import Source, SourceLost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket

    from .declare import BadDeclaration, Declaration

    Found = list[Declaration | BadDeclaration]

#: one request's deadline; a full pass adds a little per container
TIMEOUT_S = 10.0
PER_CONTAINER_S = 0.5
#: the event stream's bounds: its response head, one chunk, one event (a container's
#: labels are among an event's attributes), and the bytes held between two reads
MAX_HEAD = 16 << 10
MAX_CHUNK = 1 << 20
MAX_EVENT = 1 << 20
MAX_BUFFERED = 2 << 20
#: what one read() takes at most; the rest waits for the next (the fd stays readable)
READ_BUDGET = 1 << 20
#: how far back the stream asks the daemon to replay its event log (see the docstring)
REPLAY_S = 2.0
EVENTS_PATH = "/events?filters=" + (
    # {"type":["container"],"event":["start"]}, URL-encoded
    "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%5D%7D"
)
COMPOSE_PROJECT = "com.docker.compose.project"
_HEX = frozenset("0123456789abcdef")
_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")


def is_full_id(value: object) -> bool:
    """A container ID as Docker writes it: 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def container_name(value: object) -> str | None:
    """A container's name from the daemon (``/web`` or ``web``), if a user could have
    typed it; None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        return check_guest_name(value[1:] if value.startswith("/") else value)
    except UsageError:
        return None


# ------------------------------------------------------------------ the event stream


class EventParser:
    """The bytes of one ``GET /events`` answer in, the events out.

    ``feed`` takes whatever arrived (any split: mid-head, mid-size-line, mid-chunk,
    mid-event) and returns the events complete so far; it raises ``SourceLost`` on
    anything that is not a 200 answer carrying a well-formed stream within bounds.
    """

    __slots__ = ("buf", "chunked", "data", "left", "state")

    def __init__(self) -> None:
        self.buf = bytearray()  # bytes not parsed yet (head, size line, chunk data)
        self.data = bytearray()  # the body so far, up to the next end of an event
        self.state = "head"  # head, size, chunk, crlf, identity, done
        self.chunked = False
        self.left = 0  # bytes of the current chunk still to come

    @property
    def head_done(self) -> bool:
        return self.state != "head"

    def feed(self, data: bytes) -> list[dict[str, object]]:
        self.buf += data
        if len(self.buf) + len(self.data) > MAX_BUFFERED:
            raise SourceLost(f"the event stream holds more than {MAX_BUFFERED} unread bytes")
        events: list[dict[str, object]] = []
        while True:
            if self.state == "head":
                if not self._head():
                    break
            elif self.state == "identity":
                self.data += self.buf
                del self.buf[:]
                break
            elif self.state == "size":
                if not self._size():
                    break
            elif self.state == "chunk":
                if not self.buf:
                    break
                piece = self.buf[: self.left]
                del self.buf[: len(piece)]
                self.left -= len(piece)
                self.data += piece
                if self.left == 0:
                    self.state = "crlf"
                self._events(events)
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise SourceLost("the event stream's chunk data is not followed by CRLF")
                del self.buf[:2]
                self.state = "size"
            else:  # done: the daemon ended the stream with its last chunk
                raise SourceLost("the Docker daemon ended the event stream")
        self._events(events)
        return events

    def _head(self) -> bool:
        if len(self.buf) >= 5 and not self.buf.startswith(b"HTTP/"):
            raise SourceLost(f"not an HTTP answer (it begins {bytes(self.buf[:16])!r})")
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD:
            if len(self.buf) > MAX_HEAD:
                raise SourceLost(f"the event stream's head is longer than {MAX_HEAD} bytes")
            return False
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
            raise SourceLost(f"malformed status line {lines[0][:40]!r}")
        if parts[1] != b"200":
            raise SourceLost(f"the daemon answered the event request with {lines[0][9:60]!r}")
        coding = None
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise SourceLost(f"malformed header line {line[:40]!r}")
            if name.lower() == b"transfer-encoding":
                coding = value.strip().lower()
        if coding is not None and coding != b"chunked":
            raise SourceLost(f"unsupported transfer coding {coding[:40]!r}")
        # without chunks the body is the stream until the daemon closes it
        self.chunked = coding == b"chunked"
        self.state = "size" if self.chunked else "identity"
        return True

    def _size(self) -> bool:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > 256:
                raise SourceLost("the event stream's chunk size line is too long")
            return False
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        digits = line.split(b";", 1)[0].rstrip(b" \t")
        if not digits or len(digits) > 8 or not _HEX_BYTES.issuperset(digits):
            raise SourceLost(f"malformed chunk size {line[:40]!r} in the event stream")
        size = int(digits, 16)
        if size == 0:
            self.state = "done"
        elif size > MAX_CHUNK:
            raise SourceLost(f"a chunk of {size} bytes in the event stream (at most {MAX_CHUNK})")
        else:
            self.left = size
            self.state = "chunk"
        return True

    def _events(self, out: list[dict[str, object]]) -> None:
        """Each event is one JSON object ended by a newline (Go's json.Encoder)."""
        from .._lowlevel.jsonlite import loads

        while True:
            end = self.data.find(b"\n")
            if end < 0:
                if len(self.data) > MAX_EVENT:
                    raise SourceLost(f"an event of more than {MAX_EVENT} bytes in the stream")
                return
            if end > MAX_EVENT:
                raise SourceLost(f"an event of more than {MAX_EVENT} bytes in the stream")
            line = bytes(self.data[:end])
            del self.data[: end + 1]
            if not line.strip():
                continue
            try:
                event = loads(line)
            except ValueError as exc:
                raise SourceLost(f"an event that is not JSON ({exc})") from None
            if not isinstance(event, dict):
                raise SourceLost("an event that is not a JSON object")
            out.append(event)


def started(event: dict[str, object]) -> list[GuestRef]:
    """The guests a start event names: its full ID, its short (12-digit) ID, and its
    name when it has a valid one (a declaration file may name the container by any of
    them, as docker's own commands take them). Other events: none."""
    if event.get("Type", "container") != "container":
        return []
    if event.get("Action", event.get("status")) != "start":
        return []
    actor = event.get("Actor")
    actor = actor if isinstance(actor, dict) else {}
    cid = actor.get("ID", event.get("id"))
    if not is_full_id(cid):
        return []
    assert isinstance(cid, str)
    refs = [GuestRef("docker", cid), GuestRef("docker", cid[:12])]
    attributes = actor.get("Attributes")
    name = container_name(attributes.get("name")) if isinstance(attributes, dict) else None
    if name is not None:
        refs.append(GuestRef("docker", name))
    return refs


# ------------------------------------------------------------------ declarations


def declarations_of(info: object) -> Found:
    """The declarations of one container, from its inspect answer (``GET
    /containers/ID/json``): its labels and its ``pipework_cmd*`` variables."""
    if not isinstance(info, dict):
        return []
    cid = info.get("Id")
    if not is_full_id(cid):
        return []
    assert isinstance(cid, str)
    short = cid[:12]
    name = container_name(info.get("Name")) or short
    config = info.get("Config")
    config = config if isinstance(config, dict) else {}
    labels = _string_map(config.get("Labels"))
    env = _environment(config.get("Env"))
    if not env and not any(key.startswith("pipework.attach") for key in labels):
        return []
    full, label = GuestRef("docker", cid), f"docker:{name}"
    found: Found = list(from_labels(labels, full, label))
    if env:
        own = (
            full,
            GuestRef(None, name),
            GuestRef(None, short),
            GuestRef("docker", name),
            GuestRef("docker", short),
        )
        hostname = config.get("Hostname")
        macros = {
            "@CONTAINER_NAME@": name,
            "@CONTAINER_ID@": short,
            "@HOSTNAME@": hostname if isinstance(hostname, str) else "",
            "@INSTANCE@": instance_number(name),
            "@COMPOSE_PROJECT_NAME@": labels.get(COMPOSE_PROJECT, ""),
        }
        found += _environment_declarations(env, own, label, macros)
    return found


def _environment_declarations(
    env: dict[str, str], own: tuple[GuestRef, ...], label: str, macros: dict[str, str]
) -> Found:
    """The variables' declarations; one whose macro stands for a value that is not a
    plain word (a hostname with spaces, say) is refused, not spliced into its line."""
    from .declare import BadDeclaration

    unusable = {m for m in MACROS if macros[m] and not _plain(macros[m])}
    bad: Found = []
    usable: dict[str, str] = {}
    for key, text in env.items():
        hit = next((m for m in MACROS if m in unusable and m in text), None)
        if hit is None:
            usable[key] = text
        else:
            why = f"{hit} stands for {macros[hit][:40]!r}, which is not a name"
            bad.append(BadDeclaration(f"variable {key} of {label}", text, why))
    return from_environment(usable, own, label, macros) + bad


def _plain(value: str) -> bool:
    try:
        check_guest_name(value)
    except UsageError:
        return False
    return True


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _environment(value: object) -> dict[str, str]:
    """The ``pipework_cmd*`` variables of a ``Config.Env`` list (``NAME=VALUE``)."""
    env: dict[str, str] = {}
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, str) and ENV_PREFIX in entry:
            key, eq, text = entry.partition("=")
            if eq and ENV_PREFIX in key:
                env[key] = text
    return env


# ------------------------------------------------------------------ the source


class _Daemon(DaemonClient):
    """One pass's conversation with the daemon: one deadline for all its requests."""

    __slots__ = ()

    def fail(self, why: str) -> HostStateError:
        return HostStateError(f"the Docker daemon at {self.path}: {why}")

    def json(self, url: str, *, missing_ok: bool = False) -> object:
        """The JSON answer to GET ``url``; None for a 404 when ``missing_ok``. Any
        failure is SourceLost: the loop reconnects and reconciles again."""
        try:
            resp = self.get(url)
        except Unreachable as exc:
            raise SourceLost(f"the daemon is not reachable at {self.path} ({exc})") from None
        except HostStateError as exc:
            raise SourceLost(exc.message) from None
        if resp.status == 404 and missing_ok:
            return None
        if resp.status != 200:
            said = message(resp.body, "message")
            raise SourceLost(f"the daemon answered {url} with HTTP {resp.status}: {said}")
        try:
            return parse_json(resp.body)
        except ValueError as exc:
            raise SourceLost(f"the daemon's answer to {url} is not JSON ({exc})") from None


class DockerSource(Source):
    """Docker's running containers and start events (see the module docstring)."""

    name = "docker"

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            from ..guests.docker import DEFAULT_SOCKET, socket_path

            path = socket_path()[0] or DEFAULT_SOCKET
        self.path = path
        self.sock: socket | None = None
        self.parser = EventParser()

    # -- the stream

    def reconnect(self) -> bool:
        """Open the event stream and wait for its head (within TIMEOUT_S): False when
        nothing accepts connections on the socket; SourceLost when the daemon took
        the connection and answered something else than a stream."""
        from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM
        from _socket import socket as new_socket

        self.close()
        sock = new_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)
        parser = EventParser()
        deadline = time.monotonic() + TIMEOUT_S
        try:
            sock.settimeout(TIMEOUT_S)
            try:
                sock.connect(self.path)
            except OSError:
                return False  # no socket, or nothing listening: the daemon is down
            since = f"{time.time() - REPLAY_S:.9f}"
            request = (
                f"GET {EVENTS_PATH}&since={since} HTTP/1.1\r\nHost: docker\r\n"
                "Accept: application/json\r\n\r\n"
            )
            sock.sendall(request.encode())
            while not parser.head_done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceLost(f"no answer to the event request within {TIMEOUT_S:g} s")
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise SourceLost("the daemon closed the event stream before answering")
                # events that came with the head happened before the loop's full
                # pass, which follows: they are covered by it
                parser.feed(data)
            sock.setblocking(False)
        except SourceLost:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise SourceLost(f"the event stream failed ({exc.strerror or exc})") from None
        except BaseException:
            sock.close()
            raise
        self.sock, self.parser = sock, parser
        return True

    def fileno(self) -> int | None:
        return self.sock.fileno() if self.sock is not None else None

    def read(self) -> list[GuestRef] | None:
        if self.sock is None:
            raise SourceLost("the event stream is not open")
        refs: list[GuestRef] = []
        taken = 0
        while taken < READ_BUDGET:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as exc:
                if refs:
                    break  # these first; the next read() meets the failure again
                self.close()
                raise SourceLost(f"the event stream failed ({exc.strerror or exc})") from None
            if not data:
                if refs:
                    break  # these first: the fd stays readable at the end of the stream
                self.close()
                raise SourceLost("the Docker daemon closed the event stream")
            taken += len(data)
            try:
                events = self.parser.feed(data)
            except SourceLost:
                self.close()
                raise
            for event in events:
                refs += started(event)
        unique: list[GuestRef] = []
        for ref in refs:
            if ref not in unique:
                unique.append(ref)
        return unique

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    # -- declarations

    def running(self) -> Found:
        listing = _Daemon(self.path, "docker", TIMEOUT_S).json("/containers/json")
        if not isinstance(listing, list):
            raise SourceLost("the Docker daemon's container list is not a list")
        ids = [entry.get("Id") for entry in listing if isinstance(entry, dict)]
        valid = [cid for cid in ids if is_full_id(cid)]
        client = _Daemon(self.path, "docker", TIMEOUT_S + PER_CONTAINER_S * len(valid))
        found: Found = []
        for cid in valid:
            info = client.json(f"/containers/{cid}/json", missing_ok=True)
            if isinstance(info, dict) and info.get("Id") == cid:
                found += _running_declarations(info)
        return found

    def declarations_for(self, guests: list[GuestRef]) -> Found:
        """The declarations of the Docker containers among ``guests`` (by full ID, or by
        name or ID prefix when that is all a guest says), each container once."""
        ids = [g.value for g in guests if g.kind == "docker" and is_full_id(g.value)]
        others = [
            g.value
            for g in guests
            if g.kind in ("docker", None) and not is_full_id(g.value) and _plain(g.value)
        ]
        wanted = list(dict.fromkeys(ids + others))
        if not wanted:
            return []
        client = _Daemon(self.path, "docker", TIMEOUT_S + PER_CONTAINER_S * len(wanted))
        found: Found = []
        seen: dict[str, str] = {}  # full ID -> name, of the containers inspected
        for key in wanted:
            if key in seen or any(key in (cid[:12], name) for cid, name in seen.items()):
                continue  # a started container's name, next to its ID
            info = client.json(f"/containers/{key}/json", missing_ok=True)
            cid = info.get("Id") if isinstance(info, dict) else None
            if not is_full_id(cid) or cid in seen:
                continue
            assert isinstance(cid, str) and isinstance(info, dict)
            seen[cid] = container_name(info.get("Name")) or ""
            found += _running_declarations(info)
        return found


def _running_declarations(info: dict[str, object]) -> Found:
    state = info.get("State")
    if not isinstance(state, dict) or state.get("Running") is not True:
        return []  # stopped again already: nothing to attach now
    try:
        return declarations_of(info)
    except PipeworkError as exc:  # a declaration's parser refused something on its own
        from .declare import BadDeclaration

        return [BadDeclaration(f"docker:{str(info.get('Id'))[:12]}", "", exc.message)]
