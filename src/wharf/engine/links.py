"""Legacy links (``--link name:alias``, ``HostConfig.Links``), as dockerd keeps them.

On the default bridge a link makes the child container known to its parent by an alias: at
the parent's start, ``/etc/hosts`` gets ``<child IP>  alias hostname name`` and the environment
gets ``ALIAS_NAME=/parent/alias``, ``ALIAS_PORT[_<port>_<proto>][_ADDR|_PORT|_PROTO]`` for the
child's exposed ports and ``ALIAS_ENV_<VAR>`` for its environment (HOME and PATH aside); the
child must be running. The link's name ``/parent/alias`` is one of the child's names in
``/containers/json`` until ``DELETE /containers/parent/alias?link=1`` removes it, or either
container goes. On a user-defined network, links are the endpoint's (``EndpointSettings.Links``):
the embedded DNS server answers the alias for the parent alone.

A parent's record keeps ``links``: alias → the child's ID (a rename of the child keeps them).
"""

from __future__ import annotations

from wharf.engine.containers import Container, ContainerStore
from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound


def parse(entry: str) -> tuple[str, str]:
    """``name:alias`` (or ``name``, its own alias) → (name, alias), leading slashes dropped."""
    name, _, alias = entry.partition(":")
    name = name.strip("/")
    alias = (alias or name).strip("/").rsplit("/", 1)[-1]
    if not name or not alias:
        raise InvalidArgument(f"invalid link: {entry!r}")
    return name, alias


def at_create(store: ContainerStore, entries: list[str]) -> dict[str, str]:
    """The links (HostConfig.Links) a new container on the default bridge asks for: alias →
    child ID."""
    out: dict[str, str] = {}
    for entry in entries:
        name, alias = parse(str(entry))
        try:
            child = store.get(name)
        except NotFound:
            raise InvalidArgument(f"could not get container for {name}") from None
        if (child.host_config.get("NetworkMode") or "") == "host":
            raise InvalidArgument(
                "conflicting options: host type networking can't be used with links. This would result in"
                " undefined behavior"
            )
        out[alias] = child.id
    return out


def children(store: ContainerStore, c: Container) -> list[tuple[str, Container]]:
    """(alias, child) of ``c``'s links that still exist; a child that is not running fails the
    start, as dockerd refuses it."""
    out = []
    for alias, cid in sorted(c.links.items()):
        child = store.by_id.get(cid)
        if child is None:
            continue
        if not child.state.status.has_process:
            raise FailedPrecondition(
                f"Cannot link to a non running container: /{child.name} AS /{c.name}/{alias}"
            )
        out.append((alias, child))
    return out


def _bridge_ip(child: Container) -> str:
    ep = (child.networking.get("Networks") or {}).get("bridge") or {}
    return str(ep.get("IPAddress") or "")


def at_start(store: ContainerStore, c: Container) -> tuple[list[str], list[str]]:
    """What the parent's start needs of its links: its /etc/hosts lines and its environment."""
    kids = children(store, c)
    return hosts_lines(kids), environment(c, kids)


def hosts_lines(kids: list[tuple[str, Container]]) -> list[str]:
    """``/etc/hosts`` lines of the parent for its children: IP, alias, hostname, name."""
    lines = []
    for alias, child in kids:
        ip = _bridge_ip(child)
        if not ip:
            continue
        names = [alias, child.config.get("Hostname") or child.id[:12]]
        if alias != child.name:
            names.append(child.name)
        lines.append(f"{ip}\t{' '.join(dict.fromkeys(names))}")
    return lines


def environment(c: Container, kids: list[tuple[str, Container]]) -> list[str]:
    """The variables dockerd sets in the parent for each link (libnetwork's Link.ToEnv)."""
    env: list[str] = []
    for alias, child in kids:
        prefix = alias.upper().replace("-", "_")
        ip = _bridge_ip(child)
        ports = sorted(_ports(child), key=lambda p: (int(p[0]), p[1]))
        if ports and ip:
            port, proto = ports[0]
            env.append(f"{prefix}_PORT={proto}://{ip}:{port}")
        for port, proto in ports if ip else []:
            key = f"{prefix}_PORT_{port}_{proto.upper()}"
            env += [
                f"{key}={proto}://{ip}:{port}",
                f"{key}_ADDR={ip}",
                f"{key}_PORT={port}",
                f"{key}_PROTO={proto}",
            ]
        env.append(f"{prefix}_NAME=/{c.name}/{alias}")
        for var in child.config.get("Env") or []:
            name, eq, value = var.partition("=")
            if eq and name not in ("HOME", "PATH"):
                env.append(f"{prefix}_ENV_{name}={value}")
    return env


def holes(store: ContainerStore, c: Container) -> list[tuple[str, list[tuple[str, int]]]]:
    """(child IP, [(proto, port)]) for each running child: what a bridge without icc lets the
    parent reach."""
    out = []
    for _, child in children(store, c):
        ip = _bridge_ip(child)
        ports = [(proto, int(port)) for port, proto in _ports(child) if proto in ("tcp", "udp", "sctp")]
        if ip and ports:
            out.append((ip, ports))
    return out


def _ports(child: Container) -> list[tuple[str, str]]:
    out = []
    for key in child.config.get("ExposedPorts") or {}:
        port, _, proto = str(key).partition("/")
        if port.isdigit():
            out.append((port, proto or "tcp"))
    return out


def inspect_view(store: ContainerStore, c: Container) -> list[str] | None:
    """HostConfig.Links as dockerd shows it: ``/child:/parent/alias``."""
    out = [
        f"/{child.name}:/{c.name}/{alias}"
        for alias, cid in sorted(c.links.items())
        if (child := store.by_id.get(cid)) is not None
    ]
    return out or None


def link_names(store: ContainerStore) -> dict[str, list[str]]:
    """Child ID → the ``/parent/alias`` names its links give it (the Names of /containers/json)."""
    out: dict[str, list[str]] = {}
    for parent in store.all():
        for alias, cid in parent.links.items():
            out.setdefault(cid, []).append(f"/{parent.name}/{alias}")
    return out


def remove_link(store: ContainerStore, name: str) -> Container:
    """``DELETE /containers/parent/alias?link=1``: the link goes, both containers stay."""
    full = name if name.startswith("/") else f"/{name}"
    parent_name, _, alias = full.rpartition("/")
    if not parent_name:
        raise Conflict("Conflict, cannot remove the default link name of the container")
    try:
        parent = store.get(parent_name.strip("/"))
    except NotFound:
        raise NotFound(f"Cannot get parent {parent_name} for link name {full}") from None
    if alias not in parent.links:
        raise NotFound(f"No such container: {name.strip('/')}")
    del parent.links[alias]
    store.save(parent)
    return parent


def forget(store: ContainerStore, cid: str) -> None:
    """A container goes: the links that point at it go with it."""
    for parent in store.all():
        gone = [alias for alias, child in parent.links.items() if child == cid]
        for alias in gone:
            del parent.links[alias]
        if gone:
            store.save(parent)
