"""Fixtures shared by the image store's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.images.store import ImageStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImageStore]:
    """An empty image store of the test's own (under ``tmp_path/images``), closed after it."""
    s = ImageStore(str(tmp_path / "images"))
    try:
        yield s
    finally:
        s.close()
