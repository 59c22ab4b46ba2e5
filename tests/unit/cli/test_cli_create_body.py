"""run/create flags → the Engine API's create body (wharf.cli.options + wharf.cli.create_body)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from wharf.cli.create_body import build_create_body
from wharf.cli.main import Exit, UsageError, parser
from wharf.cli.options import add_run_flags


def parse(*argv: str, run: bool = True) -> argparse.Namespace:
    p = parser("wharf run" if run else "wharf create", "usage")
    add_run_flags(p)
    if run:
        p.add_argument("-d", "--detach", action="store_true")
    return p.parse_args(list(argv))


def body(*argv: str, run: bool = True) -> dict[str, Any]:
    return build_create_body(parse(*argv, run=run))[0]


def test_plain_run_attaches_stdout_and_stderr_and_names_the_image() -> None:
    b, name = build_create_body(parse("--name", "web", "alpine", "sh", "-c", "echo hi"))
    assert name == "web"
    assert b["Image"] == "alpine" and b["Cmd"] == ["sh", "-c", "echo hi"]
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert b["OpenStdin"] is False and b["StdinOnce"] is False
    assert b["Entrypoint"] is None and b["Volumes"] is None
    host = b["HostConfig"]
    assert host["NetworkMode"] == "default"
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["Memory"] == 0 and host["MemorySwap"] == 0 and host["MemorySwappiness"] is None
    assert host["Init"] is None and host["Mounts"] is None
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}


def test_interactive_attaches_stdin_once_and_detach_attaches_nothing() -> None:
    b = body("-i", "alpine")
    assert b["AttachStdin"] and b["OpenStdin"] and b["StdinOnce"]
    b = body("-d", "-i", "alpine")
    assert not (b["AttachStdin"] or b["AttachStdout"] or b["AttachStderr"])
    assert b["OpenStdin"] and not b["StdinOnce"]
    b = body("-a", "STDERR", "alpine")
    assert (b["AttachStdout"], b["AttachStderr"]) == (False, True)


def test_a_leading_double_dash_is_not_part_of_the_command() -> None:
    assert body("alpine", "--", "ls", "-l")["Cmd"] == ["ls", "-l"]
    assert body("--entrypoint", "", "alpine")["Entrypoint"] == [""]


def test_ports_published_and_exposed() -> None:
    b = body(*"-p 8080:80 -p 127.0.0.1:9000-9001:90-91/udp -p [::1]:53:53 --expose 7000-7001 alpine".split())
    assert b["ExposedPorts"] == {
        k: {} for k in ("80/tcp", "90/udp", "91/udp", "53/tcp", "7000/tcp", "7001/tcp")
    }
    bindings = b["HostConfig"]["PortBindings"]
    assert bindings["80/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert bindings["91/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "9001"}]
    assert bindings["53/tcp"] == [{"HostIp": "::1", "HostPort": "53"}]
    assert "7000/tcp" not in bindings


def test_resources_in_the_apis_units() -> None:
    argv = (
        "-m 512m --memory-swap -1 --memory-reservation 1g --cpus 1.5 --shm-size 64m --pids-limit 20"
        " --ulimit nofile=10:20 --ulimit core=0 --device /dev/fuse --device /dev/a:/dev/b:r alpine"
    )
    host = body(*argv.split())["HostConfig"]
    assert host["Memory"] == 512 << 20 and host["MemorySwap"] == -1
    assert host["MemoryReservation"] == 1 << 30
    assert host["NanoCpus"] == 1_500_000_000
    assert host["ShmSize"] == 64 << 20 and host["PidsLimit"] == 20
    assert host["Ulimits"] == [
        {"Name": "nofile", "Soft": 10, "Hard": 20},
        {"Name": "core", "Soft": 0, "Hard": 0},
    ]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/a", "PathInContainer": "/dev/b", "CgroupPermissions": "r"},
    ]


def test_volumes_binds_mounts_and_tmpfs() -> None:
    mount = "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777"
    b = body(*"-v /src:/dst:ro -v /anon --tmpfs /run:size=1m".split(), "--mount", mount, "alpine")
    assert b["Volumes"] == {"/anon": {}}
    host = b["HostConfig"]
    assert host["Binds"] == ["/src:/dst:ro"]
    assert host["Tmpfs"] == {"/run": "size=1m"}
    assert host["Mounts"] == [
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}}
    ]


def test_healthcheck_durations_are_nanoseconds() -> None:
    health = ["--health-interval", "1m30s", "--health-timeout", "500ms", "--health-retries", "3"]
    b = body("--health-cmd", "curl -f localhost", *health, "alpine")
    assert b["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f localhost"],
        "Interval": 90 * 10**9,
        "Timeout": 500 * 10**6,
        "Retries": 3,
    }
    assert body("--no-healthcheck", "alpine")["Healthcheck"] == {"Test": ["NONE"]}
    assert "Healthcheck" not in body("alpine")


def test_networking_endpoint_on_the_chosen_network() -> None:
    b = body(*"--network n1 --ip 10.1.0.5 --network-alias db --mac-address 02:42:ac:11:00:02 alpine".split())
    assert b["HostConfig"]["NetworkMode"] == "n1"
    assert b["MacAddress"] == "02:42:ac:11:00:02"
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "n1": {
                "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                "Aliases": ["db"],
                "MacAddress": "02:42:ac:11:00:02",
            }
        }
    }


def test_env_and_labels_from_flags_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=1\n\nFROM_HOST\n")
    label_file = tmp_path / "labels"
    label_file.write_text("tier=db\nbare\n")
    files = ["--env-file", str(env_file), "--label-file", str(label_file)]
    b = body(*files, "-e", "B=2", "-e", "NOT_SET_ANYWHERE", "-l", "x=y", "alpine")
    assert b["Env"] == ["A=1", "FROM_HOST=yes", "B=2"]
    assert b["Labels"] == {"tier": "db", "bare": "", "x": "y"}


def test_restart_policy() -> None:
    assert body("--restart", "on-failure:3", "alpine")["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure",
        "MaximumRetryCount": 3,
    }
    assert body("--rm", "--restart", "no", "alpine")["HostConfig"]["AutoRemove"] is True


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--rm", "--restart", "always"], "conflicting options: cannot specify both --restart and --rm"),
        (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
        (["--health-retries", "-1"], "--health-retries cannot be negative"),
        (["--health-interval=-1s"], "--health-interval cannot be negative"),
        (["--health-timeout", "soon"], 'time: invalid duration "soon"'),
        (["-m", "lots"], "invalid size: 'lots'"),
        (["-m", "1m"], "Minimum memory limit allowed is 6MB"),
        (["--cpus", "x"], 'invalid argument "x" for "--cpus" flag: failed to parse x as a rational number'),
        (["-p", "80/xyz"], "invalid proto: xyz"),
        (["-p", "1:2:3:4"], "invalid port format: 1:2:3:4"),
        (["--sysctl", "bad"], "invalid argument \"bad\" for \"--sysctl\" flag: sysctl 'bad' is not allowed"),
        (["--log-opt", "bad"], "invalid key value pair format in logging opts: bad"),
        (["--restart", "always:3"],
         "invalid restart policy format: maximum retry count can only be used with 'on-failure'"),
        (["--ulimit", "nofile"], "invalid ulimit argument: nofile"),
        (["--mount", "src=/a"], 'invalid argument "src=/a" for "--mount" flag: target is required'),
        (["-e", "=x"], "invalid environment variable: =x"),
    ],
)  # fmt: skip
def test_flags_docker_refuses(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        body(*argv, "alpine")
    assert str(err.value) == message


def test_the_first_refused_flag_is_the_one_reported() -> None:
    with pytest.raises(UsageError, match="invalid size: 'x'"):
        body("-m", "x", "--ulimit", "bad", "--mount", "src=/a", "alpine")
    with pytest.raises(UsageError, match="invalid ulimit"):
        body("--mount", "src=/a", "--ulimit", "bad", "alpine")


def test_attach_with_detach_exits_1_with_dockers_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as err:
        body("-d", "-a", "stdout", "alpine")
    assert err.value.code == 1
    assert capsys.readouterr().err == "conflicting options: cannot specify both --attach and --detach\n"


def test_each_parser_has_its_own_default_lists() -> None:
    first, second = parse("alpine"), parse("alpine")
    assert first.env == [] and first.env is not second.env
    assert parse("-e", "A=1", "alpine").env == ["A=1"] and parse("alpine").env == []


def test_create_takes_the_same_flags_without_detach() -> None:
    b = body("-t", "-i", "alpine", run=False)
    assert b["Tty"] and b["AttachStdin"] and b["StdinOnce"]
