"""A runtime daemon's REST API on its unix socket, as the Docker, LXD and Incus
resolvers ask it: one overall deadline for all the requests of one look-up, and
every answer that is not a well-formed one an error naming the step (each
resolver says how, in its ``fail``). The daemon is untrusted input: the transport
(``_lowlevel.unixhttp``) and the JSON decoder are bounded, and what the answer says
is checked by the resolver before it is used.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._lowlevel.unixhttp import HTTPResponse
    from ..errors import HostStateError


class Unreachable(Exception):
    """Nothing accepts connections on the socket: as if the daemon were not there."""


class DaemonClient:
    """One look-up's conversation with one daemon."""

    __slots__ = ("deadline", "name", "path", "timeout")

    def __init__(self, path: str, name: str, timeout: float) -> None:
        self.path = path
        self.name = name
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def fail(self, why: str) -> HostStateError:
        """The error for a daemon that took the connection, then failed us."""
        raise NotImplementedError

    def get(self, url: str) -> HTTPResponse:
        from .._lowlevel import unixhttp

        try:
            return unixhttp.get(self.path, url, timeout=self.timeout, deadline=self.deadline)
        except unixhttp.ResponseError as exc:  # it took the connection, then failed us
            raise self.fail(str(exc)) from None
        except OSError as exc:  # connect() failed
            raise Unreachable(exc.strerror or str(exc)) from None


def parse_json(body: bytes) -> object:
    from .._lowlevel.jsonlite import loads

    return loads(body)


def brief(value: object) -> str:
    """A value from the daemon, short enough for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def message(body: bytes, key: str) -> str:
    """The daemon's own words for a refusal (its JSON ``key``), else the body's start."""
    try:
        value = parse_json(body)
    except ValueError:
        value = None
    msg = value.get(key) if isinstance(value, dict) else None
    text = str(msg) if msg else body[:200].decode("utf-8", "replace").strip()
    return text[:200]
