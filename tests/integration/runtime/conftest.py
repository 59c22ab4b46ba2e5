from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.runtime.helpers import Runtime, runtime_path


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    r = Runtime(runtime_path(), tmp_path / "state")
    try:
        yield r
    finally:
        r.cleanup()
