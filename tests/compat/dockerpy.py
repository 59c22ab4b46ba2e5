"""docker-py 7.2.0's own integration suite (../shared/conformance/docker-py-7.2.0/run.sh) against a
wharfd of the test's own, and what came of it.

The images the suite needs are made here from the host's busybox-static: ``busybox:latest`` (the
rootfs alone) and an alpine-like image (busybox plus alpine's ``postgres`` user and /var/opt,
which two exec tests read) tagged ``alpine:3.10``, ``alpine:latest`` and ``alpine``.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from wharf.images.store import ImageStore
from wharf.images.testimage import build_image, rootfs_tar

SUITE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "docker-py-7.2.0"
EXPECTED = Path(__file__).resolve().parent / "expected_failures.txt"
ALPINE_TAGS = ("alpine:3.10", "alpine:latest", "alpine")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _alpine_layer(rootfs: str) -> bytes:
    """What alpine has that the suite reads: the postgres user and group, /var/opt."""
    passwd = Path(rootfs, "etc/passwd").read_text() + "postgres:x:70:70::/var/lib/postgresql:/bin/sh\n"
    group = Path(rootfs, "etc/group").read_text() + "postgres:x:70:\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("etc", "var", "var/opt", "var/lib", "var/lib/postgresql"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in (("etc/passwd", passwd), ("etc/group", group)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seed_images(data_root: str, rootfs: str) -> None:
    os.makedirs(data_root, exist_ok=True)
    store = ImageStore(f"{data_root}/images")
    try:
        base = rootfs_tar(rootfs)
        config = {"Cmd": ["sh"], "Env": [PATH_ENV]}
        build_image(store, "busybox:latest", [], config, raw_layers=[base])
        alpine = build_image(store, ALPINE_TAGS[0], [], config, raw_layers=[base, _alpine_layer(rootfs)])
        for tag in ALPINE_TAGS[1:]:
            store.set_image(tag, alpine.target)
    finally:
        store.close()


@dataclass(frozen=True)
class Outcome:
    passed: set[str]
    failed: dict[str, str]  # test id -> first line of the failure
    skipped: set[str]


def run_suite(docker_host: str, api: str, junit: str, *extra: str, timeout: float = 1500) -> Outcome:
    env = dict(os.environ, DOCKER_HOST=docker_host, JUNIT=junit)
    subprocess.run(
        ["bash", str(SUITE / "run.sh"), api, "-q", *extra],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return parse_junit(junit)


def parse_junit(path: str) -> Outcome:
    passed, skipped, failed = set(), set(), {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tid = f"{case.get('classname', '').removeprefix('tests.integration.')}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            failed[tid] = (bad.get("message") or "").splitlines()[0][:200] if bad.get("message") else ""
        elif case.find("skipped") is not None:
            skipped.add(tid)
        else:
            passed.add(tid)
    return Outcome(passed, failed, skipped)


@dataclass(frozen=True)
class Expected:
    pattern: str
    reason: str
    version: str = ""  # "" for every version
    may_pass: bool = False

    def covers(self, test_id: str, version: str) -> bool:
        if self.version and self.version != version:
            return False
        if self.pattern.endswith((".", "::")):
            return test_id.startswith(self.pattern)
        return test_id == self.pattern


def expected_entries() -> list[Expected]:
    """expected_failures.txt: ``[~][VERSION ]test-or-prefix  # reason`` per line."""
    out = []
    for raw in EXPECTED.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, _, reason = line.partition("#")
        head, reason = head.strip(), reason.strip()
        if not reason:
            raise ValueError(f"expected_failures.txt: no reason given: {raw!r}")
        may_pass = head.startswith("~")
        head = head.lstrip("~").strip()
        version, _, pattern = head.partition(" ") if head[:2] == "1." else ("", "", head)
        out.append(Expected(pattern.strip(), reason, version, may_pass))
    return out


def judge(outcome: Outcome, version: str, entries: list[Expected]) -> tuple[list[str], list[str]]:
    """(failures no entry expects, exact entries whose test passed)."""
    unexpected = [
        f"{t}: {msg}"
        for t, msg in sorted(outcome.failed.items())
        if not any(e.covers(t, version) for e in entries)
    ]
    stale = [
        e.pattern
        for e in entries
        if not e.may_pass and not e.pattern.endswith((".", "::")) and e.covers(e.pattern, version)
        and e.pattern in outcome.passed
    ]  # fmt: skip
    return unexpected, stale
