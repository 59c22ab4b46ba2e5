"""docker-py 7.2.0's own integration suite against wharfd, at API 1.41 (Debian's docker CLI and
docker-py speak it) and 1.47 (wharfd's newest): every test passes but those on the project's
list of expected failures (expected_failures.txt, one reason each); an exact entry whose test
passes is reported, so the list stays true."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.compat.dockerpy import SUITE, expected_entries, judge, run_suite, seed_images
from tests.daemon import Daemon, new_root

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def suite_daemon(rootfs_template: str) -> Iterator[Daemon]:
    if not (SUITE / "run.sh").exists():
        pytest.skip(f"docker-py's suite is not at {SUITE}")
    d = Daemon(new_root(), name="dockerpy")
    try:
        seed_images(d.data_root, rootfs_template)
        d.start()
        yield d
    finally:
        d.cleanup()  # what the suite leaves on purpose (containers, images, networks, volumes) goes


@pytest.mark.parametrize("version", ["1.41", "1.47"])
def test_docker_py_suite(suite_daemon: Daemon, version: str, tmp_path: Path) -> None:
    outcome = run_suite(suite_daemon.host, version, str(tmp_path / "junit.xml"))
    assert len(outcome.passed) > 200, f"the suite hardly ran: {len(outcome.passed)} passed"
    unexpected, stale = judge(outcome, version, expected_entries())
    log = Path(suite_daemon.log).read_text(errors="replace")
    assert "Traceback" not in log, "wharfd logged a traceback while the suite ran"
    assert not unexpected, f"API {version}: {len(unexpected)} unexpected failures:\n" + "\n".join(unexpected)
    assert not stale, f"API {version}: expected failures that passed (update expected_failures.txt): {stale}"
    shutil.rmtree(tmp_path, ignore_errors=True)
