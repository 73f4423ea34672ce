"""Running a CNI plugin as a runtime does: the CNI_* environment, the configuration on
stdin, a conflist split into its plugins with prevResult chained (libcni's way)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import PIPEWORK

CNI_DIR = "/usr/lib/cni"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cni.md"


def invoke(
    config: dict[str, object],
    command: str,
    *,
    netns: str | None,
    container_id: str,
    ifname: str = "eth0",
    program: str = PIPEWORK,
    args: str | None = None,
) -> tuple[int, dict[str, object] | None]:
    """Run ``program`` for one CNI command; its exit code and its JSON output."""
    env = dict(
        os.environ,
        CNI_COMMAND=command,
        CNI_CONTAINERID=container_id,
        CNI_NETNS=f"/run/netns/{netns}" if netns and not netns.startswith("/") else (netns or ""),
        CNI_IFNAME=ifname,
        CNI_PATH=CNI_DIR,
    )
    if args is not None:
        env["CNI_ARGS"] = args
    stdin = json.dumps(config).encode()
    proc = subprocess.run(
        [program], input=stdin, capture_output=True, env=env, timeout=120, check=False
    )
    text = proc.stdout.decode().strip()
    return proc.returncode, (json.loads(text) if text else None)


def plugin_configs(conflist: dict[str, object]) -> list[dict[str, object]]:
    """Each plugin's configuration, with the list's name and version, as libcni gives it."""
    plugins = conflist["plugins"]
    assert isinstance(plugins, list)
    return [dict(p, name=conflist["name"], cniVersion=conflist["cniVersion"]) for p in plugins]


def conflist_add(conflist: dict[str, object], **kw: object) -> dict[str, object]:
    """ADD through every plugin of the list in order; the last result."""
    result: dict[str, object] | None = None
    for config in plugin_configs(conflist):
        if result is not None:
            config["prevResult"] = result
        code, result = invoke(config, "ADD", **kw)  # type: ignore[arg-type]
        assert code == 0, f"ADD failed: {result}"
    assert result is not None
    return result


def conflist_run(
    conflist: dict[str, object], command: str, result: dict[str, object] | None, **kw: object
) -> tuple[int, dict[str, object] | None]:
    """CHECK or DEL through the plugins (DEL in reverse), each given ``result``."""
    configs = plugin_configs(conflist)
    if command == "DEL":
        configs.reverse()
    outcome: tuple[int, dict[str, object] | None] = (0, None)
    for config in configs:
        if result is not None:
            config["prevResult"] = result
        outcome = invoke(config, command, **kw)  # type: ignore[arg-type]
        if outcome[0] != 0:
            return outcome
    return outcome


def docs_conflists() -> dict[str, dict[str, object]]:
    """The conflists of docs/cni.md (its ``json`` blocks) by network name, and the one
    inside the Multus example (its ``yaml`` block's config string)."""
    found: dict[str, dict[str, object]] = {}
    lang, body = None, []
    for line in DOCS.read_text().splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip(), []
                continue
            text = "\n".join(body)
            if lang == "json":
                value = json.loads(text)
                found[value["name"]] = value
            elif lang == "yaml" and "config: '" in text:
                inner = text.split("config: '", 1)[1].rsplit("'", 1)[0]
                value = json.loads(inner)
                found[value["name"]] = value
            lang = None
        elif lang is not None:
            body.append(line)
    return found


def with_nic(
    conflist: dict[str, object], names: dict[str, str], data_dir: str
) -> dict[str, object]:
    """The docs' conflist with its NIC names replaced (``names``: docs name -> the test's
    stand-in) and the IPAM's state in ``data_dir``: the only changes a test makes."""
    text = json.dumps(conflist)
    value = json.loads(text)
    for plugin in value["plugins"]:
        for key in ("master", "device"):
            if plugin.get(key) in names:
                plugin[key] = names[plugin[key]]
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") in ("pipework", "host-local"):
            ipam["dataDir"] = data_dir
    return value
