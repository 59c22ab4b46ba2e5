"""The engine's typed values (engine/request.py) and the API edge's schemas (api/bodies.py)
declare the same fields with the same types: what the edge lets through is what the engine's
types say it reads."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from wharf.api import bodies
from wharf.api import schema as s
from wharf.engine import request


def _python_type(node: s.Node) -> Any:
    if isinstance(node, s.Str):
        return str
    if isinstance(node, s.Bool):
        return bool
    if isinstance(node, s.Int):
        return int
    if isinstance(node, s.StrSlice):
        return list[str]
    if isinstance(node, s.Ptr):
        return _python_type(node.target)
    if isinstance(node, s.List | s.Array):
        return list[_python_type(node.of)]  # type: ignore[misc]
    if isinstance(node, s.Map):
        return dict[str, _python_type(node.of)]  # type: ignore[misc]
    if isinstance(node, s.Struct):
        return getattr(request, node.name) if node.fields else dict[str, Any]
    raise AssertionError(f"no Python type for {node!r}")


def _pairs() -> list[tuple[str, s.Struct, type]]:
    create = s.compile_schema(bodies.CONTAINER_CREATE)
    assert isinstance(create, s.Struct)
    config = s.Struct("container.Config", bodies.CONFIG_FIELDS)
    out: list[tuple[str, s.Struct, type]] = [("ContainerConfig", config, request.ContainerConfig)]
    seen = set()

    def walk(node: s.Node) -> None:
        while isinstance(node, s.Ptr | s.List | s.Array | s.Map):
            node = node.target if isinstance(node, s.Ptr) else node.of
        if isinstance(node, s.Struct) and node.fields and node.name not in seen:
            seen.add(node.name)
            out.append((node.name, node, getattr(request, node.name)))
            for child in node.fields.values():
                walk(child)

    for field in config.fields.values():
        walk(field)
    walk(create.fields["HostConfig"])
    walk(create.fields["NetworkingConfig"])
    return out


PAIRS = _pairs()


@pytest.mark.parametrize("name,struct,typed", PAIRS, ids=[p[0] for p in PAIRS])
def test_typed_dict_matches_schema(name: str, struct: s.Struct, typed: type) -> None:
    hints = typing.get_type_hints(typed)
    assert set(hints) == set(struct.fields), f"{name}: fields differ"
    for field, node in struct.fields.items():
        assert hints[field] == _python_type(node) | None, f"{name}.{field}"


def test_every_create_struct_is_typed() -> None:
    names = {p[0] for p in PAIRS}
    assert {
        "ContainerConfig",
        "HostConfig",
        "NetworkingConfig",
        "EndpointSettings",
        "RestartPolicy",
    } <= names


def test_create_request_splits_the_body() -> None:
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 1 << 30}, "NetworkingConfig": None}
    req = request.CreateRequest.from_body("", body)
    assert req.name is None
    assert req.config == {"Image": "busybox", "Cmd": ["true"]}
    assert req.host_config == {"Memory": 1 << 30}
    assert req.networking == {}
