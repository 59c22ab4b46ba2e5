"""Events, as `docker events` shows them: a bounded history plus live subscribers.

Filters follow Docker's: ``type``, ``event`` (the action), ``container`` (id or name), ``image``,
``label`` (key or key=value), ``network``, ``volume``, ``daemon``; values of one key are ORed,
keys are ANDed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

HISTORY = 1000


class Actor(Protocol):
    """What a container event says of its container."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def image_name(self) -> str: ...
    @property
    def config(self) -> Mapping[str, Any]: ...


class EventBus:
    def __init__(self) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def emit(self, type_: str, action: str, actor_id: str, attributes: dict[str, str]) -> dict[str, Any]:
        ns = time.time_ns()
        ev: dict[str, Any] = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes},
            "scope": "local",
            "time": ns // 1_000_000_000,
            "timeNano": ns,
        }
        if type_ == "container":
            # the pre-1.22 fields the CLI still reads
            ev["status"] = action
            ev["id"] = actor_id
            ev["from"] = attributes.get("image", "")
        self.history.append(ev)
        for q in list(self.subscribers):
            q.put_nowait(ev)
        return ev

    def container(self, c: Actor, action: str, **extra: str) -> None:
        """A container event, with the container's labels, image and name as Docker sends them."""
        attrs = dict(c.config.get("Labels") or {})
        attrs.update({"image": c.image_name, "name": c.name})
        attrs.update(extra)
        self.emit("container", action, c.id, attrs)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(q)


def matches(ev: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    attrs: dict[str, str] = ev["Actor"]["Attributes"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "type":
            ok = ev["Type"] in values
        elif key == "event":
            ok = any(ev["Action"] == v or ev["Action"].split(":")[0] == v for v in values)
        elif key in ("container", "network", "volume", "daemon", "plugin", "node", "service"):
            ok = ev["Type"] == key and any(
                v == ev["Actor"]["ID"]
                or (len(v) >= 1 and ev["Actor"]["ID"].startswith(v))
                or v == attrs.get("name")
                for v in values
            )
        elif key == "image":
            ok = any(v in (attrs.get("image"), ev["Actor"]["ID"], attrs.get("name")) for v in values)
        elif key == "label":
            ok = any(
                (attrs.get(v.split("=", 1)[0]) == v.split("=", 1)[1]) if "=" in v else v in attrs
                for v in values
            )
        elif key == "scope":
            ok = ev["scope"] in values
        else:
            ok = False
        if not ok:
            return False
    return True
