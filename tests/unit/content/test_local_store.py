"""LocalContentStore: verified atomic commit, resumable ingest, crash safety."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.content import LocalContentStore
from wharf.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from wharf.oci.digest import sha256_digest

DATA = os.urandom(3 * 1024 * 1024 + 17)
DIGEST = sha256_digest(DATA)


@pytest.fixture
def store(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(str(tmp_path / "content"))


def test_put_read_list_delete(store: LocalContentStore) -> None:
    d = store.put_bytes(b"hello")
    assert d == sha256_digest(b"hello")
    assert store.exists(d) and store.size(d) == 5 and store.read_bytes(d) == b"hello"
    assert store.put_bytes(b"hello", expected=d) == d
    assert list(store.list()) == [(d, 5)]
    store.delete(d)
    assert not store.exists(d)
    with pytest.raises(NotFound, match="content digest sha256:.*: not found"):
        store.open(d)
    with pytest.raises(NotFound):
        store.size(d)
    with pytest.raises(NotFound):
        store.delete(d)


def test_put_bytes_verifies(store: LocalContentStore) -> None:
    with pytest.raises(FailedPrecondition, match="digest mismatch: expected sha256:0+, got sha256:"):
        store.put_bytes(b"x", expected="sha256:" + "0" * 64)
    assert list(store.list()) == []
    with pytest.raises(InvalidArgument):
        store.exists("sha256:../../etc/passwd")


def test_writer_commit(store: LocalContentStore) -> None:
    w = store.writer("layer-1", DIGEST, len(DATA))
    assert w.offset == 0
    for i in range(0, len(DATA), 65536):
        w.write(DATA[i : i + 65536])
    assert w.commit() == DIGEST
    assert store.read_bytes(DIGEST) == DATA
    assert store.ingests() == []


def test_writer_digest_mismatch_discards(store: LocalContentStore) -> None:
    w = store.writer("bad", DIGEST, None)
    w.write(b"not the data")
    with pytest.raises(FailedPrecondition, match=f"digest mismatch: expected {DIGEST}, got sha256:"):
        w.commit()
    assert not store.exists(DIGEST) and store.ingests() == []


def test_writer_size_mismatch(store: LocalContentStore) -> None:
    w = store.writer("short", DIGEST, len(DATA))
    w.write(DATA[:10])
    with pytest.raises(FailedPrecondition, match="unexpected commit size 10"):
        w.commit()
    assert store.ingests() == []


def test_writer_resume_after_close(store: LocalContentStore) -> None:
    w = store.writer("resume", DIGEST, len(DATA))
    w.write(DATA[:1000])
    w.close()
    assert store.ingests() == ["resume"]
    w = store.writer("resume", DIGEST, len(DATA))
    assert w.offset == 1000
    w.write(DATA[1000:])
    assert w.commit() == DIGEST


def test_writer_restarts_if_expected_changes(store: LocalContentStore) -> None:
    w = store.writer("ref", sha256_digest(b"other"))
    w.write(b"oth")
    w.close()
    w = store.writer("ref", DIGEST)
    assert w.offset == 0
    w.abort()
    assert store.ingests() == []


def test_writer_is_exclusive(store: LocalContentStore) -> None:
    w = store.writer("x", DIGEST)
    with pytest.raises(Unavailable, match="ref x locked"):
        store.writer("x", DIGEST)
    w.abort()


def test_commit_existing_is_noop(store: LocalContentStore) -> None:
    store.put_bytes(b"abc")
    w = store.writer("again", sha256_digest(b"abc"), 3)
    w.write(b"abc")
    assert w.commit() == sha256_digest(b"abc")
    assert store.read_bytes(sha256_digest(b"abc")) == b"abc"


def test_put_file_streams(store: LocalContentStore) -> None:
    assert store.put_file(io.BytesIO(DATA)) == DIGEST
    assert store.put_file(io.BytesIO(DATA), DIGEST, len(DATA)) == DIGEST


_KILLED_WRITER = """
import sys, time
from wharf.content import LocalContentStore
store = LocalContentStore(sys.argv[1])
w = store.writer("killed", sys.argv[2], None)
chunk = b"z" * 65536
while True:
    w.write(chunk)
    w._file.flush()
    print(w.offset, flush=True)
    time.sleep(0.001)
"""


def test_kill_mid_write_leaves_resumable_ingest(store: LocalContentStore) -> None:
    """SIGKILL a writer mid-ingest: no blob appears, the ingest resumes and commits correctly."""
    total = 64 * 65536
    data = b"z" * total
    digest = sha256_digest(data)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, store.root, digest], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        while int(proc.stdout.readline()) < 8 * 65536:
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.01)
    assert list(store.list()) == []
    w = store.writer("killed", digest, total)
    assert w.offset >= 8 * 65536
    w.write(data[w.offset :])
    assert w.commit() == digest
    assert list(store.list()) == [(digest, total)]
