"""What the network layer needs of a container, as a structural type: the network code never
imports the engine. The engine's ``Container`` record (``wharf.engine.containers``) satisfies
these protocols as it is; mypy checks that where the engine hands one over.

``object_of`` is the one check of a request's shape the network code makes itself.

Every member is read-only here: the network code reads the container's identity, its Config
and HostConfig, its process's pid and whether it is alive, and changes only the *contents* of
``networking`` (Docker's NetworkSettings: ``Networks`` → EndpointSettings, ``Ports``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wharf.errors import InvalidArgument


class AttachableState(Protocol):
    @property
    def pid(self) -> int:
        """The container's process (0 when there is none)."""
        ...

    @property
    def running(self) -> bool:
        """A process exists or is about to (running, paused, restarting)."""
        ...


class Attachable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]:
        """Docker's Config: ``ExposedPorts`` is read."""
        ...

    @property
    def host_config(self) -> Mapping[str, Any]:
        """Docker's HostConfig: ``NetworkMode``, ``PortBindings``, ``PublishAllPorts``, ``Dns``."""
        ...

    @property
    def networking(self) -> dict[str, Any]:
        """Docker's NetworkSettings, changed in place (``Networks``, ``Ports``)."""
        ...

    @property
    def state(self) -> AttachableState: ...


_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def object_of(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object ({} for null and other empty values), else a 400: the
    API's schema refuses wrong JSON types first, this keeps them from becoming a 500 here."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object, not {_KINDS.get(type(value), 'that')}")
    return value
