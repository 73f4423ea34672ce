"""IPAM: delegated to the plugin the configuration names, or done in process.

Delegation is the spec's ("Delegated plugins"): the IPAM plugin is found by its
``type`` in ``CNI_PATH`` and run with this plugin's own environment (only
``CNI_COMMAND`` may differ) and the very configuration it was given on stdin.
``"type": "pipework"`` is the built-in allocator (``hostlocal``), which keeps
host-local's files and lock, so the two can share one range, and which saves
starting a second program on every ADD.
"""

from __future__ import annotations

import os

from . import errors as e
from .errors import CniError
from .result import Result, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from .protocol import Environment

BUILTIN = "pipework"
#: how long a delegated IPAM plugin may take (the dhcp plugin waits for a lease)
DELEGATE_TIMEOUT = 120.0


class Ipam:
    """The IPAM of one invocation: the configuration, its environment and stdin."""

    def __init__(
        self, config: Mapping[str, object], env: Environment, stdin: bytes, network: str
    ) -> None:
        ipam = config.get("ipam")
        self.config: dict[str, object] = ipam if isinstance(ipam, dict) else {}
        kind = self.config.get("type")
        self.kind = kind if isinstance(kind, str) and kind else None
        self.env = env
        self.stdin = stdin
        self.network = network
        self.runtime_config = config.get("runtimeConfig")
        self.args = config.get("args")

    def add(self) -> Result | None:
        if self.kind is None:
            return None
        if self.kind == BUILTIN:
            from . import hostlocal

            value: object = hostlocal.add(
                self.config,
                self.network,
                self.env.container_id,
                self.env.ifname,
                self.requested(),
            )
        else:
            value = self._delegate("ADD")
        return normalize(value, f"the result of IPAM {self.kind}")

    def delete(self) -> None:
        if self.kind == BUILTIN:
            from . import hostlocal

            hostlocal.delete(self.config, self.network, self.env.container_id, self.env.ifname)
        elif self.kind is not None:
            self._delegate("DEL")

    def check(self, addresses: Collection[str]) -> None:
        """CHECK: the IPAM still holds ``addresses`` (bare IPs) for this container."""
        if self.kind == BUILTIN:
            from . import hostlocal

            held = set(
                hostlocal.held(self.config, self.network, self.env.container_id, self.env.ifname)
            )
            lost = [a for a in addresses if a not in held]
            if lost:
                raise CniError(
                    e.INVALID_CONFIG,
                    f"IPAM holds no reservation of {', '.join(lost)} for this container",
                )
        elif self.kind is not None:
            self._delegate("CHECK")

    def gc(self, valid: Collection[tuple[str, str]]) -> None:
        if self.kind == BUILTIN:
            from . import hostlocal

            hostlocal.gc(self.config, self.network, valid)
        elif self.kind is not None and self._speaks_1_1():
            self._delegate("GC")

    def status(self) -> None:
        if self.kind is not None and self.kind != BUILTIN and self._speaks_1_1():
            self._delegate("STATUS")

    def _speaks_1_1(self) -> bool:
        """Whether the delegate knows GC and STATUS (spec 1.1.0): an older one would
        fail on a command it has never heard of, so it is not asked (its VERSION says)."""
        from .._lowlevel.programs import exchange

        program = find_plugin(self.kind or "", self.env.path)
        environ = dict(os.environ, CNI_COMMAND="VERSION")
        try:
            _status, stdout, _err = exchange(
                [program], b'{"cniVersion": "1.1.0"}', env=environ, timeout=DELEGATE_TIMEOUT
            )
        except (OSError, TimeoutError, ValueError):
            return False
        from .._lowlevel import jsonlite

        try:
            value = jsonlite.loads(stdout)
        except ValueError:
            return False
        versions = value.get("supportedVersions") if isinstance(value, dict) else None
        return isinstance(versions, list) and "1.1.0" in versions

    def requested(self) -> list[str]:
        """The addresses the runtime asked for: CNI_ARGS IP=, the ``ips`` capability
        (runtimeConfig), ``args.cni.ips``; bare addresses, in that order."""
        texts: list[str] = []
        arg = self.env.arg("IP")
        if arg:
            texts += arg.split(",")
        for holder, where in (
            (self.runtime_config, "runtimeConfig"),
            (_cni_args(self.args), "args.cni"),
        ):
            if not isinstance(holder, dict) or holder.get("ips") is None:
                continue
            ips = holder["ips"]
            if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
                raise CniError(e.INVALID_CONFIG, f"{where}.ips must be a list of strings")
            texts += ips
        return [t.strip().partition("/")[0] for t in texts if t.strip()]

    def _delegate(self, command: str) -> object:
        """Run the IPAM plugin; its result (ADD), or None; its error as ours."""
        from .._lowlevel.programs import exchange

        program = find_plugin(self.kind or "", self.env.path)
        environ = dict(os.environ, CNI_COMMAND=command)
        try:
            status, stdout, stderr = exchange(
                [program], self.stdin, env=environ, timeout=DELEGATE_TIMEOUT
            )
        except TimeoutError:
            raise CniError(
                e.TRY_AGAIN_LATER,
                f"IPAM plugin {self.kind} did not answer {command} in {DELEGATE_TIMEOUT:.0f} s",
            ) from None
        except ValueError as exc:
            raise CniError(e.IO_FAILURE, f"IPAM plugin {self.kind}: {exc}") from None
        except OSError as exc:
            raise CniError(
                e.NOT_AVAILABLE, f"cannot run IPAM plugin {program}: {exc.strerror}"
            ) from None
        if status != 0:
            raise delegate_error(self.kind or "", command, stdout, stderr)
        if command != "ADD":
            return None
        from .protocol import parse_config

        try:
            return parse_config(stdout)
        except CniError as exc:
            raise CniError(exc.code, f"IPAM plugin {self.kind}: {exc.message}") from None


class PluginMissing(CniError):
    """The IPAM plugin a configuration names is in no CNI_PATH directory (code 7 for
    ADD, as libcni says; STATUS reports it as not available, 50)."""


def _cni_args(args: object) -> object:
    return args.get("cni") if isinstance(args, dict) else None


def find_plugin(kind: str, path: tuple[str, ...]) -> str:
    """The executable named ``kind`` in the first CNI_PATH directory that has it."""
    if not kind or "/" in kind or kind in (".", ".."):
        raise CniError(e.INVALID_CONFIG, f"invalid plugin type {kind!r}")
    for directory in path:
        candidate = os.path.join(directory, kind)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise PluginMissing(
        e.INVALID_CONFIG,
        f"failed to find plugin {kind!r} in path {':'.join(path)}",
    )


def delegate_error(kind: str, command: str, stdout: bytes, stderr: bytes) -> CniError:
    """A delegate's failure as ours: its code and message when it wrote the spec's
    error, its stderr's last line otherwise."""
    from .._lowlevel import jsonlite

    try:
        value = jsonlite.loads(stdout)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("code"), int):
        code = value["code"]
        msg = str(value.get("msg", ""))
        details = str(value.get("details", ""))
        return CniError(code, f"IPAM plugin {kind} ({command}): {msg}", details)
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    why = lines[-1] if lines else "no error message"
    return CniError(e.IO_FAILURE, f"IPAM plugin {kind} ({command}) failed: {why}")
