"""The route tests' fixtures: a fake backend (``fake.py``) and the API served over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.api.fake import Api, FakeBackend, container, serve


@pytest.fixture
def backend(tmp_path: Path) -> FakeBackend:
    b = FakeBackend(tmp_path)
    b.add(container())
    return b


@pytest.fixture
def api(backend: FakeBackend) -> Iterator[Api]:
    yield from serve(backend)
