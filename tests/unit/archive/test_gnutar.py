"""The GNU tar fast path holds the hostile-layer table too: each archive is refused (TarFailed,
then the Python applier decides) or contained; nothing is ever written outside the target."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.unit.archive.test_apply import HOSTILE, make_tar

from wharf.archive import gnutar

pytestmark = [pytest.mark.root, pytest.mark.skipif(not gnutar.available(), reason="no GNU tar")]


@pytest.mark.parametrize("name,entries,error", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_layers_fast_path(
    tmp_path: Path, name: str, entries: list[dict[str, Any]], error: str | None
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"victim")
    entries = [
        {k: (v.replace("{outside}", str(outside)) if isinstance(v, str) else v) for k, v in e.items()}
        for e in entries
    ]
    root = tmp_path / "root"
    root.mkdir()
    try:
        gnutar.extract(io.BytesIO(make_tar(entries)), str(root))
    except gnutar.TarFailed:
        pass
    assert sorted(os.listdir(outside)) == ["victim"]
    assert (outside / "victim").read_bytes() == b"victim"
    assert not (tmp_path / "evil").exists()
    assert not os.path.exists("/evil")
    if name == "overlay xattr" and (root / "d").exists():
        assert "trusted.overlay.redirect" not in os.listxattr(root / "d")


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    tar = make_tar([{"name": "a/.wh..wh..opq"}, {"name": ".wh.b"}, {"name": "a/3", "data": b"3"}])
    gnutar.extract(io.BytesIO(tar), str(tmp_path))
    st = os.lstat(tmp_path / "b")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "a", "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "a" / "3").read_bytes() == b"3"
    assert sorted(os.listdir(tmp_path / "a")) == ["3"]
