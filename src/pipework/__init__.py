"""pipework: software-defined networking for Linux containers.

The public Python API. Names are imported on first use (PEP 562), so that
``import pipework`` stays as cheap as the command line needs it to be::

    import pipework

    spec = pipework.AttachSpec(
        "br1",
        pipework.parse_guest_ref("netns:demo1"),
        pipework.Addressing((pipework.parse_interface("192.0.2.10/24"),)),
    )
    result = pipework.attach(spec)
    print(result.host_ifname, result.mac.hex(":"))
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Addressing",
    "AmbiguousGuest",
    "AttachSpec",
    "Attachment",
    "CommandError",
    "DhcpRequest",
    "Guest",
    "GuestNotFound",
    "GuestRef",
    "HostStateError",
    "IPAddress",
    "IPInterface",
    "NetlinkError",
    "NotSupportedYet",
    "PipeworkError",
    "UsageError",
    "attach",
    "attach_guest",
    "attach_many",
    "detach",
    "inspect",
    "list_attachments",
    "mac_from_string",
    "parse_address",
    "parse_guest_ref",
    "parse_interface",
    "parse_mac",
    "resolve",
]

_WHERE = {
    "Addressing": "model",
    "AttachSpec": "model",
    "Attachment": "model",
    "DhcpRequest": "model",
    "Guest": "model",
    "GuestRef": "names",
    "IPAddress": "inet",
    "IPInterface": "inet",
    "parse_address": "inet",
    "parse_interface": "inet",
    "parse_mac": "mac",
    "mac_from_string": "mac",
    "parse_guest_ref": "names",
    "attach": "engine.attach",
    "attach_guest": "engine.attach",
    "attach_many": "engine.attach",
    "detach": "ops.detach",
    "inspect": "ops.inspect",
    "list_attachments": "ops.ls",
    "resolve": "guests",
    "AmbiguousGuest": "errors",
    "CommandError": "errors",
    "GuestNotFound": "errors",
    "HostStateError": "errors",
    "NetlinkError": "errors",
    "NotSupportedYet": "errors",
    "PipeworkError": "errors",
    "UsageError": "errors",
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .engine.attach import attach, attach_guest, attach_many
    from .errors import (
        AmbiguousGuest,
        CommandError,
        GuestNotFound,
        HostStateError,
        NetlinkError,
        NotSupportedYet,
        PipeworkError,
        UsageError,
    )
    from .guests import resolve
    from .inet import IPAddress, IPInterface, parse_address, parse_interface
    from .mac import mac_from_string, parse_mac
    from .model import Addressing, Attachment, AttachSpec, DhcpRequest, Guest
    from .names import GuestRef, parse_guest_ref
    from .ops.detach import detach
    from .ops.inspect import inspect
    from .ops.ls import list_attachments


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pipework' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"pipework.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
