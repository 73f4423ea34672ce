"""Running the modern verbs: what each one prints, as text or as JSON."""

from __future__ import annotations

import sys

from ..errors import UsageError
from .modern import ModernCommand, VerbHelp, parse_modern

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Attachment


def _print(text: str) -> None:
    # What the verbs print as text names things a daemon or a guest chose (container
    # and interface names, states): their control characters are shown, not obeyed.
    from .._lowlevel.terminal import printable

    sys.stdout.write(printable(text, lines=True) + "\n")


def _warn(what: str, text: str) -> None:
    """One line on stderr (``pipework: warning: ...``), shown and not obeyed as _print."""
    from .._lowlevel.terminal import printable

    sys.stderr.write(f"pipework: {what}: {printable(' '.join(text.split()))}\n")


def _print_json(value: object) -> None:
    from .._lowlevel.jsonlite import dumps

    sys.stdout.write(dumps(value) + "\n")


def attachment_dict(result: Attachment) -> dict[str, object]:
    return {
        "guest": result.guest,
        "runtime": result.runtime,
        "pid": result.pid,
        "netns_inode": result.netns_inode,
        "ifname": result.container_ifname,
        "host_ifname": result.host_ifname,
        "bridge": result.bridge,
        "addresses": [str(a) for a in result.addresses],
        "gateways": [str(g) for g in result.gateways],
        "mac": result.mac.hex(":"),
        "mtu": result.mtu,
        "created_bridge": result.created_bridge,
        "changed": result.changed,
        "warnings": list(result.warnings),
    }


def run_verb(argv: list[str]) -> int:
    command = parse_modern(argv)
    if isinstance(command, VerbHelp):
        sys.stdout.write(command.text)
        return 0
    runners = {
        "attach": _attach,
        "detach": _detach,
        "ls": _ls,
        "inspect": _inspect,
        "link": _link,
        "gc": _gc,
        "apply": _apply,
        "watch": _watch,
        "graph": _graph,
        "up": _up,
        "down": _down,
    }
    return runners[command.verb](command)


def _attach(command: ModernCommand) -> int:
    from ..engine.attach import attach

    assert command.spec is not None
    result = attach(command.spec, verbose=command.flag("verbose"))
    for warning in result.warnings:
        _warn("warning", warning)
    if command.flag("json"):
        _print_json(attachment_dict(result))
        return 0
    addresses = ", ".join(str(a) for a in result.addresses) or "no address"
    what = f"{result.guest} {result.container_ifname}"
    if result.changed:
        _print(
            f"attached {what} to {result.bridge} via {result.host_ifname}: {addresses}, "
            f"MAC {result.mac.hex(':')}"
        )
    else:
        _print(f"{what} is already attached to {result.bridge} as asked; nothing changed")
    return 0


def _detach(command: ModernCommand) -> int:
    from ..ops.detach import detach

    if command.values.get("shim"):
        return _detach_shim(command, str(command.values["shim"]))
    assert command.guest is not None
    ifname = str(command.values.get("ifname") or "eth1")
    removed = detach(
        command.guest,
        ifname=ifname,
        everything=command.flag("all"),
        verbose=command.flag("verbose"),
    )
    if command.flag("json"):
        _print_json({"guest": str(command.guest), "removed": removed})
    elif removed:
        _print(f"detached {command.guest}: removed {', '.join(removed)}")
    else:
        which = "nothing" if command.flag("all") else f"no {ifname}"
        _print(f"{command.guest} has {which} attached by pipework; nothing to do")
    return 0


def _detach_shim(command: ModernCommand, nic: str) -> int:
    from ..ops.shim import remove_shim, say_command

    removed = remove_shim(nic, say_command if command.flag("verbose") else (lambda _t: None))
    names = [removed] if removed else []
    if command.flag("json"):
        _print_json({"guest": f"shim:{nic}", "removed": names})
    elif removed:
        _print(f"detached shim:{nic}: removed {names[0]}")
    else:
        _print(f"no shim of pipework's on {nic}; nothing to do")
    return 0


def _ls(command: ModernCommand) -> int:
    from ..ops.ls import list_attachments, render_table

    rows = list_attachments()
    if command.flag("json"):
        _print_json([row.as_dict() for row in rows])
    else:
        _print(render_table(rows))
    return 0


def _inspect(command: ModernCommand) -> int:
    from ..ops.inspect import inspect, render

    assert command.guest is not None
    report = inspect(command.guest)
    if command.flag("json"):
        _print_json(report)
    else:
        _print(render(report))
    return 1 if "error" in report else 0


def _link(command: ModernCommand) -> int:
    from ..ops.link import LinkEnd, link, parse_end
    from .modern import parse_ip_arg

    ends = []
    for text, key in zip(command.values["ends"], ("ip_a", "ip_b")):  # type: ignore[call-overload]
        guest, ifname = parse_end(str(text))
        addresses = tuple(parse_ip_arg(str(t)) for t in command.values.get(key, []))  # type: ignore[attr-defined]
        ends.append(LinkEnd(guest, ifname, addresses))
    first, second = link(ends[0], ends[1], verbose=command.flag("verbose"))
    _print(f"linked {first} <-> {second}")
    return 0


def _gc(command: ModernCommand) -> int:
    from ..ops.gc import collect

    collected = collect()
    removed, bridges = collected["removed"], collected["bridges"]
    leases, failed = collected["dhcp_state"], collected["failed"]
    records, clients = collected["records"], collected["dhcp_clients"]
    if command.flag("json"):
        _print_json(collected)
    elif removed or bridges or leases or records or clients:
        if removed:
            _print(f"removed stale OVS ports: {', '.join(removed)}")
        if bridges:
            _print(f"removed unused bridges pipework created: {', '.join(bridges)}")
        if leases:
            _print(f"removed the state of dead DHCP renewal processes: {', '.join(leases)}")
        if records:
            _print(f"forgot the NICs moved into guests that are gone: {', '.join(records)}")
        for client in clients:
            _print(f"stopped the DHCP client {client}")
    elif not failed:
        sys.stdout.write("nothing to collect\n")
    # everything else was collected all the same; each thing that could not be is
    # named on its own line, and the exit status says something is left
    for failure in failed:
        _warn("gc", failure)
    return 1 if failed else 0


def _declarations_dir(command: ModernCommand) -> str:
    from ..watch.loop import DEFAULT_DIR

    value = command.values.get("dir")
    return str(value) if value else DEFAULT_DIR


def _apply(command: ModernCommand) -> int:
    from ..names import parse_guest_ref
    from ..watch.loop import apply

    guest = command.values.get("guest")
    ref = parse_guest_ref(str(guest)) if guest else None
    policy = command.values.get("policy")
    return apply(
        _declarations_dir(command),
        json=command.flag("json"),
        guest=ref,
        policy=str(policy) if policy else None,
    )


def _watch(command: ModernCommand) -> int:
    hook = command.values.get("lxc_hook")
    if hook:
        from ..names import check_guest_name
        from ..watch.lxc import lxc_hook_line

        directory = command.values.get("dir")
        name = check_guest_name(str(hook), "LXC container name")
        _print(lxc_hook_line(name, directory=str(directory) if directory else None))
        return 0
    from ..watch.loop import watch

    policy = command.values.get("policy")
    return watch(
        _declarations_dir(command),
        json=command.flag("json"),
        once=command.flag("once"),
        policy=str(policy) if policy else None,
    )


def _graph(command: ModernCommand) -> int:
    from ..graph.output import picture, produce

    fmt = str(command.values["format"])
    output = command.values.get("output")
    if output is None and fmt == "png" and sys.stdout.isatty():
        raise UsageError("pipework graph: a PNG is not for a terminal; give -o FILE")
    path = command.values.get("file")
    data = produce(picture(str(path) if path is not None else None), fmt)
    if output is None or output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        return 0
    with open(str(output), "wb") as f:
        f.write(data)
    return 0


def _up(command: ModernCommand) -> int:
    from ..topology.up import up

    dry_run = command.flag("dry_run")
    result = up(
        str(command.values["file"]),
        dry_run=dry_run,
        verbose=command.flag("verbose"),
        progress=None if dry_run else sys.stderr,
    )
    if dry_run:
        for line in result.commands:
            _print(line)
        return 0
    if not result.changed:
        _print(f"{result.lab} is up as declared; nothing changed")
        return 0
    names = {"address": ("address", "addresses"), "exec": ("command run", "commands run")}
    made = ", ".join(
        f"{n} {names.get(what, (what, what + 's'))[n != 1] if what != 'netns' else 'netns'}"
        for what, n in result.counts.items()
    )
    _print(f"{result.lab} is up: made {made}")
    return 0


def _down(command: ModernCommand) -> int:
    from ..topology.up import down

    removed = down(str(command.values["file"]), verbose=command.flag("verbose"))
    if removed:
        _print(f"removed {len(removed)}: {', '.join(removed)}")
    else:
        _print("nothing of this lab is left; nothing to do")
    return 0
