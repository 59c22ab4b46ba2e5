from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wharf.errors import InvalidArgument
from wharf.fixtures.busybox import base_spec
from wharf.oci import fastjson, runtime_spec


def test_base_spec_is_valid() -> None:
    spec = base_spec(["true"])
    assert runtime_spec.validate(spec) is spec


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s["process"].pop("cwd"), "process.cwd: required field is missing"),
        (lambda s: s["process"].update(args=[]), "process.args: expected a non-empty array"),
        (lambda s: s["process"].update(args="sh"), "process.args: expected an array"),
        (lambda s: s["process"].update(cwd="tmp"), "process.cwd: must be an absolute path"),
        (
            lambda s: s["linux"]["namespaces"].append({"type": "foo"}),
            "linux.namespaces[5].type: unknown namespace type",
        ),
        (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "duplicate namespace"),
        (lambda s: s["process"]["user"].update(uid="0"), "process.user.uid: expected an integer"),
        (lambda s: s["process"]["user"].update(uid=True), "process.user.uid: expected an integer"),
        (lambda s: s.pop("ociVersion"), "ociVersion: required field is missing"),
        (lambda s: s.pop("root"), "root.path: required field is missing"),
        (
            lambda s: s["mounts"][0].update(destination="proc"),
            "mounts[0].destination: must be an absolute path",
        ),
        (lambda s: s["linux"].update(sysctl={"a": 1}), "linux.sysctl.a: expected a string"),
        (lambda s: s["linux"]["resources"].update(memory={"limit": "1g"}), "linux.resources.memory.limit"),
    ],
)
def test_bad_fields_are_named(mutate: Any, message: str) -> None:
    spec = base_spec(["true"])
    mutate(spec)
    with pytest.raises(InvalidArgument) as exc:
        runtime_spec.validate(spec)
    assert message in str(exc.value)
    assert str(exc.value).startswith("config.json: ")


def test_load_reports_bad_json_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such file"):
        runtime_spec.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{ nope")
    with pytest.raises(InvalidArgument, match="config.json"):
        runtime_spec.load(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(base_spec(["true"])))
    assert runtime_spec.load(str(tmp_path))["process"]["args"] == ["true"]


def test_fastjson_round_trips_like_json() -> None:
    doc = {"a": [1, 2.5, None, True, False, 'é"\n'], "b": {"c": {}}, "n": -3}
    text = fastjson.dumps(doc)
    assert json.loads(text) == doc
    assert fastjson.loads(text) == doc
    assert fastjson.loads(json.dumps(doc, indent=2)) == doc
    assert text == json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("bad", ["", "{", "[1] x", "NaN", "[1,]"])
def test_fastjson_rejects_what_json_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        fastjson.loads(bad)
