"""How pipework marks what it creates, so it can find it again from the kernel alone.

The host side of every veth carries an interface alias (IFLA_IFALIAS, what
``ip link set … alias`` sets) such as::

    pipework guest=lxc:devenv if=eth1 ns=4026532182

every bridge pipework created carries ``pipework bridge``, and a host shim (a
macvlan through which the host reaches its macvlan guests) ``pipework kind=shim
parent=NIC``, with ``auto=1`` when ``--host-shim`` made it. The kernel is the
only state store: ``ls`` and ``detach`` read these marks back, never a file.
"""

from __future__ import annotations

PREFIX = "pipework"
BRIDGE_MARK = "pipework bridge"
IFALIASZ = 256


def _quote(value: str) -> str:
    return value.replace("%", "%25").replace(" ", "%20").replace("=", "%3D")


def _unquote(value: str) -> str:
    return value.replace("%3D", "=").replace("%20", " ").replace("%25", "%")


def veth_mark(guest_label: str, container_ifname: str, netns_inode: int) -> str:
    tail = f" if={_quote(container_ifname)} ns={netns_inode}"
    head = f"{PREFIX} guest={_quote(guest_label)}"
    return head[: IFALIASZ - 1 - len(tail)] + tail


def parse_mark(alias: str | None) -> dict[str, str] | None:
    """The fields of a pipework mark, or None when the alias is not ours."""
    if not alias or not alias.startswith(PREFIX + " "):
        return None
    fields = {}
    for token in alias.split()[1:]:
        key, eq, value = token.partition("=")
        if eq:
            fields[key] = _unquote(value)
    return fields


def parse_veth_mark(alias: str | None) -> tuple[str, str, int] | None:
    """(guest label, container interface, netns inode) of a veth pipework made."""
    fields = parse_mark(alias)
    if not fields or "guest" not in fields or "if" not in fields or "kind" in fields:
        return None  # (marks with a kind are on interfaces inside guests)
    inode = fields.get("ns", "")
    return fields["guest"], fields["if"], int(inode) if inode.isdigit() else 0


def guest_mark(
    kind: str, guest_label: str, container_ifname: str, netns_inode: int, **extra: str
) -> str:
    """The mark on an interface pipework made or moved inside a guest (macvlan, ipvlan,
    dummy, IPoIB, a moved NIC, a link between guests): ``pipework kind=… guest=… if=…``."""
    fields = {"kind": kind, "guest": guest_label, "if": container_ifname, "ns": str(netns_inode)}
    fields.update(extra)
    text = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
    return f"{PREFIX} {text}"[: IFALIASZ - 1]


def shim_mark(parent: str, auto: bool) -> str:
    """The mark of a host shim on ``parent``; ``auto``: made by an attach's --host-shim,
    so it goes when its last guest route does."""
    return f"{PREFIX} kind=shim parent={_quote(parent)}" + (" auto=1" if auto else "")


def parse_shim_mark(alias: str | None) -> dict[str, str] | None:
    """The fields of a host shim's mark, or None when the alias is not one."""
    fields = parse_mark(alias)
    return fields if fields and fields.get("kind") == "shim" and "parent" in fields else None
