"""userns-remap's pure parts: id maps both ways, /etc/subuid ranges, a free range for dockremap,
the spec's refusals in dockerd's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.base.idmap import IDENTITY, IdMap
from wharf.engine import userns
from wharf.errors import InvalidArgument

MAP = IdMap(((0, 100000, 1000), (1000, 300000, 64536)), ((0, 100000, 65536),))


def test_ids_both_ways() -> None:
    assert MAP.root == (100000, 100000)
    assert MAP.host_ids(999, 1) == (100999, 100001)
    assert MAP.host_ids(1000, 70000) == (300000, 65534)  # the second range; outside: overflow
    assert MAP.container_ids(300001, 100002) == (1001, 2)
    assert MAP.container_ids(0, 0) == (65534, 65534)  # host root is nobody inside
    assert MAP.in_tar(0, 100003) == (0, 3)  # a host file's ids stay as they are in a tar
    assert IDENTITY.host_ids(12345, 0) == (12345, 0)


def test_oci_mappings() -> None:
    uids, gids = MAP.oci()
    assert uids == [
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 300000, "size": 64536},
    ]
    assert gids == [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_ranges_by_name_or_uid_one_after_the_other(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    f.write_text("alice:100000:1000\n# bob:1:2\nbad line\n1001:300000:5000\nbob:200000:65536\n")
    assert userns.read_ranges(str(f), "alice", 1001) == ((0, 100000, 1000), (1000, 300000, 5000))
    assert userns.read_ranges(str(f), "carol", 1002) == ()
    assert userns.read_ranges(str(tmp_path / "missing"), "alice", 1001) == ()


@pytest.mark.parametrize(
    ("content", "start"),
    [
        ("", 100000),
        ("a:100000:65536\n", 165536),
        ("a:100000:65536\nb:165536:65536\n", 231072),
        ("a:300000:65536\n", 100000),
        ("a:150000:65536\n", 215536),  # 100000..165535 would overlap it
        ("a:1000:10\n", 100000),
    ],
)
def test_a_free_range_for_dockremap(tmp_path: Path, content: str, start: int) -> None:
    f = tmp_path / "subuid"
    f.write_text(content)
    assert userns.next_free_range(str(f)) == start


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("a:b:c", 'Invalid user/group specification in --userns-remap: "a:b:c"'),
        ("no-such-user-x", 'Error during uid lookup for "no-such-user-x"'),
        ("root:no-such-group-x", 'Error during groupname lookup for "no-such-group-x"'),
        ("2000000000", "Uid 2000000000 has no entry in /etc/passwd"),
        ("99999999999999999999", 'Error during uid lookup for "99999999999999999999"'),  # not an int32
    ],
)
def test_specs_dockerd_refuses(spec: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words.replace("(", r"\(")):
        userns.parse(spec)


def test_root_remaps_nothing() -> None:
    assert userns.parse("root") == ("root", "root")
    assert userns.parse("0:0") == ("root", "root")
    assert userns.setup("root") is None
    assert userns.setup("") is None
