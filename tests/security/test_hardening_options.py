"""The hardening options Docker users set, as dockerd applies them (docs/daemon.md): what a
process inside sees in /proc/self/status, what a client is told.

- ``no-new-privileges`` as the daemon's default (daemon.json or ``--no-new-privileges``): every
  container runs with NoNewPrivs unless it says ``no-new-privileges=false``; a setuid-root
  binary of the image then does not raise the euid.
- seccomp: the default profile (Seccomp 2), ``seccomp=unconfined`` (0), a profile's content
  from ``--security-opt seccomp=<file>``, dockerd's words for a profile it cannot take, and the
  daemon's ``seccomp-profile`` (a path, "unconfined" or "builtin"; a file it cannot read stops
  the daemon at start-up).
- ``--cap-add``/``--cap-drop``: names with or without CAP_, any case, ALL; unknown names and
  names the daemon does not hold refused at create in dockerd's words; ``--privileged`` gets the
  daemon's own bounding set (this host lacks CAP_SYS_RESOURCE: the container still starts).
- ``icc: false`` (daemon.json or ``--icc=false``) and networks made with
  ``com.docker.network.bridge.enable_icc=false``: containers on that bridge cannot reach each
  other, but still reach the host and ports published through it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker, seed_busybox

from wharf.base import caps

pytestmark = pytest.mark.root

STATUS_KEYS = ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp", "Uid")
NO_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


@contextmanager
def own_daemon(rootfs: str, extra: dict[str, Any] | None = None, *flags: str) -> Iterator[Daemon]:
    """A seeded wharfd of the test's own, its daemon.json the test suite's plus ``extra``."""
    d = Daemon(new_root())
    try:
        seed_busybox(d, rootfs)
        (d.root / "daemon.json").write_text(json.dumps({**d.config(), **(extra or {})}))
        d.start(*flags)
        yield d
    finally:
        d.cleanup()


def status(
    d: Daemon, *args: str, image: str = IMAGE, program: tuple[str, ...] = ("grep",)
) -> dict[str, str]:
    """Fields of /proc/self/status as the container's process sees them."""
    pattern = "^(" + "|".join(STATUS_KEYS) + "):"
    r = docker(
        d, "run", "--rm", "--network", "none", *args, image, *program, "-E", pattern, "/proc/self/status"
    )
    out = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(":")
        out[key] = " ".join(value.split())
    return out


def mask(names: list[str] | tuple[str, ...]) -> str:
    return f"{sum(1 << caps.NAMES.index(n) for n in names):016x}"


def daemon_caps(d: Daemon) -> tuple[str, ...]:
    """The capabilities wharfd holds: its bounding set (and effective: it runs as root)."""
    assert d.proc is not None
    with open(f"/proc/{d.proc.pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    held = int(fields["CapBnd"], 16) & int(fields["CapEff"], 16)
    return tuple(name for n, name in enumerate(caps.NAMES) if held >> n & 1)


def info(d: Daemon) -> dict[str, Any]:
    return dict(json.loads(docker(d, "info", "--format", "{{json .}}").stdout))


def run_fails(d: Daemon, *args: str) -> str:
    r = docker(d, "run", "--rm", "--network", "none", *args, IMAGE, "true", check=False)
    assert r.returncode == 125, r
    return r.stderr


# --- capabilities


def test_unknown_and_unavailable_capabilities_are_refused_at_create(wharfd: Daemon) -> None:
    assert info(wharfd)["SecurityOptions"] == ["name=seccomp,profile=builtin"]
    assert 'invalid CapAdd: unknown capability: "CAP_FOO"' in run_fails(wharfd, "--cap-add", "foo")
    assert 'invalid CapDrop: unknown capability: "CAP_BAR"' in run_fails(wharfd, "--cap-drop", "CAP_BAR")
    # ALL is a word of its own, not a capability called CAP_ALL
    assert 'invalid CapAdd: unknown capability: "CAP_ALL"' in run_fails(wharfd, "--cap-add", "cap_all")
    # both wrong: CapAdd is named first, as dockerd checks it first
    body = {"Image": IMAGE, "HostConfig": {"CapAdd": ["FOO"], "CapDrop": ["BAR"]}}
    assert wharfd.request("POST", "/containers/create", body) == (
        400,
        {"message": 'invalid CapAdd: unknown capability: "CAP_FOO"'},
    )
    missing = [c for c in caps.NAMES if c not in daemon_caps(wharfd)]
    if missing:  # this host: CAP_SYS_RESOURCE is not in the daemon's bounding set
        name = missing[0]
        want = (
            f'capability not supported by your kernel or not available in the current environment: "{name}"'
        )
        assert f"invalid CapAdd: {want}" in run_fails(wharfd, "--cap-add", name[4:].lower())
        assert f"invalid CapDrop: {want}" in run_fails(wharfd, "--cap-drop", name)
    assert wharfd.request("GET", "/containers/json?all=1")[1] == []


DEFAULT = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], lambda held: DEFAULT),
        (["--cap-add", "Cap_Net_Admin"], lambda held: [*DEFAULT, "CAP_NET_ADMIN"]),
        (["--cap-drop", "chown", "--cap-drop", "CAP_KILL"], lambda held: DEFAULT[1:12] + DEFAULT[13:]),
        (["--cap-drop", "ALL", "--cap-add", "net_admin"], lambda held: ["CAP_NET_ADMIN"]),
        (["--cap-drop", "all"], lambda held: []),
        (["--cap-add", "all", "--cap-drop", "chown"], lambda held: [c for c in held if c != "CAP_CHOWN"]),
        (["--cap-add", "ALL", "--cap-drop", "ALL"], lambda held: list(held)),
    ],
    ids=["default", "add", "drop", "drop-all-add-one", "drop-all", "add-all-drop-one", "add-all-drop-all"],
)
def test_capability_sets_inside(wharfd: Daemon, args: list[str], expected: Any) -> None:
    want = mask(expected(daemon_caps(wharfd)))
    got = status(wharfd, *args)
    assert (got["CapEff"], got["CapBnd"]) == (want, want)


def test_privileged_gets_every_capability_the_daemon_holds(wharfd: Daemon) -> None:
    """Asking for capabilities the runtime does not hold (CAP_SYS_RESOURCE here) made every
    privileged start fail; dockerd gives what its own environment has."""
    held = daemon_caps(wharfd)
    got = status(wharfd, "--privileged")
    assert (got["CapEff"], got["CapBnd"], got["Seccomp"]) == (mask(held), mask(held), "0")
    # exec --privileged into an ordinary container: the same set, for that process only
    docker(wharfd, "run", "-d", "--name", "plain", "--network", "none", IMAGE, "sleep", "60")
    try:
        r = docker(wharfd, "exec", "--privileged", "plain", "grep", "^CapEff:", "/proc/self/status")
        assert r.stdout.split() == ["CapEff:", mask(held)]
    finally:
        docker(wharfd, "rm", "-f", "plain")
    # an explicit profile still applies to a privileged container
    profile = wharfd.root / "no-mkdir.json"
    profile.write_text(json.dumps(NO_MKDIR))
    assert status(wharfd, "--privileged", "--security-opt", f"seccomp={profile}")["Seccomp"] == "2"


# --- no-new-privileges


def setuid_image(d: Daemon) -> str:
    """An image with a setuid-root busybox and a busybox.conf that keeps the euid for grep
    (busybox drops a setuid euid for its applets unless the conf says otherwise)."""
    script = (
        "cp /bin/busybox /bin/busybox-suid && chmod 4755 /bin/busybox-suid && "
        "printf '[SUID]\\ngrep = ssx root.root\\n' > /etc/busybox.conf && chmod 600 /etc/busybox.conf"
    )
    docker(d, "run", "--name", "make-suid", "--network", "none", IMAGE, "sh", "-c", script)
    try:
        docker(d, "commit", "make-suid", "suid:1")
    finally:
        docker(d, "rm", "-f", "make-suid")
    return "suid:1"


def euid_of_setuid(d: Daemon, image: str, *args: str) -> tuple[str, str]:
    """(euid, NoNewPrivs) of the setuid binary run by an unprivileged user."""
    got = status(d, "--user", "65534", *args, image=image, program=("/bin/busybox-suid", "grep"))
    return got["Uid"].split()[1], got["NoNewPrivs"]


def test_without_the_daemon_default_setuid_raises_the_euid(wharfd: Daemon) -> None:
    image = setuid_image(wharfd)
    try:
        assert euid_of_setuid(wharfd, image) == ("0", "0")
        assert euid_of_setuid(wharfd, image, "--security-opt", "no-new-privileges") == ("65534", "1")
        assert status(wharfd, "--security-opt", "no-new-privileges=T")["NoNewPrivs"] == "1"
    finally:
        docker(wharfd, "rmi", image, check=False)


@pytest.mark.parametrize("how", ["daemon.json", "flag"])
def test_no_new_privileges_as_the_daemon_default(rootfs_template: str, how: str) -> None:
    extra, flags = (
        ({"no-new-privileges": True}, ()) if how == "daemon.json" else ({}, ("--no-new-privileges",))
    )
    with own_daemon(rootfs_template, extra, *flags) as d:
        assert "name=no-new-privileges" in info(d)["SecurityOptions"]
        image = setuid_image(d)
        assert euid_of_setuid(d, image) == ("65534", "1")
        assert euid_of_setuid(d, image, "--security-opt", "no-new-privileges=false") == ("0", "0")
        # decided at create: a container made while the default held keeps it in exec too
        docker(d, "create", "--name", "kept", "--user", "65534", image, "sleep", "60")
        docker(d, "start", "kept")
        r = docker(
            d, "exec", "kept", "/bin/busybox-suid", "grep", "-E", "^(Uid|NoNewPrivs):", "/proc/self/status"
        )
        assert "NoNewPrivs:\t1" in r.stdout and "Uid:\t65534\t65534" in r.stdout


# --- seccomp


def test_seccomp_default_unconfined_builtin_and_a_profile_file(wharfd: Daemon, tmp_path: Path) -> None:
    assert status(wharfd)["Seccomp"] == "2"
    assert status(wharfd, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    assert status(wharfd, "--security-opt", "seccomp=builtin")["Seccomp"] == "2"
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps(NO_MKDIR))
    r = docker(wharfd, "run", "--rm", "--network", "none", "--security-opt", f"seccomp={profile}", IMAGE,
               "mkdir", "/made", check=False)  # fmt: skip
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    # a profile with neither a default action nor rules is no filter, as dockerd takes it
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert status(wharfd, "--security-opt", f"seccomp={empty}")["Seccomp"] == "0"
    # a syscall name the kernel does not have is skipped, as runc skips it
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"}]}))  # fmt: skip
    assert status(wharfd, "--security-opt", f"seccomp={unknown}")["Seccomp"] == "2"


BAD_PROFILES = [
    ("{", "Decoding seccomp profile failed: unexpected end of JSON input"),
    ("[]", "Decoding seccomp profile failed: json: cannot unmarshal array into Go value of type "
     "seccomp.Seccomp"),
    ('{"defaultAction": 5}', "Decoding seccomp profile failed: json: cannot unmarshal number into Go struct "
     "field Seccomp.defaultAction of type specs.LinuxSeccompAction"),
    ('{"defaultAction": "SCMP_ACT_ALLOW"} x', "Decoding seccomp profile failed: invalid character 'x' after "
     "top-level value"),
    ('{"defaultAction": "SCMP_ACT_FOO"}', "string SCMP_ACT_FOO is not a valid action for seccomp"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_FOO"]}',
     "string SCMP_ARCH_FOO is not a valid arch for seccomp"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", '
     '"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}',
     "string SCMP_CMP_FOO is not a valid operator for seccomp"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": []}', None),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["read"], '
     '"action": "SCMP_ACT_ERRNO"}]}',
     "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "words"), BAD_PROFILES, ids=range(len(BAD_PROFILES)))
def test_a_profile_dockerd_cannot_take_fails_the_start_in_its_words(
    wharfd: Daemon, profile: str, words: str | None
) -> None:
    """dockerd takes the profile at create and reads it when the container starts; wharf answers
    that start 400 (dockerd: 500), with dockerd's (and runc's) words."""
    body = {"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none",
            "SecurityOpt": [f"seccomp={profile}"]}}  # fmt: skip
    status_code, created = wharfd.request("POST", "/containers/create", body)
    assert status_code == 201, created
    try:
        started = wharfd.request("POST", f"/containers/{created['Id']}/start")
        if words is None:  # an empty archMap is no archMap: the architectures hold
            assert started[0] == 204, started
        else:
            assert started == (400, {"message": words})
    finally:
        wharfd.request("DELETE", f"/containers/{created['Id']}?force=1")


def test_the_cli_sends_the_file_and_tells_its_own_errors(wharfd: Daemon, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_FOO"}')
    assert "string SCMP_ACT_FOO is not a valid action for seccomp" in run_fails(
        wharfd, "--security-opt", f"seccomp={bad}"
    )
    # an empty or malformed file never reaches the daemon: the CLI compacts the JSON it sends
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert "compacting json for seccomp profile" in run_fails(wharfd, "--security-opt", f"seccomp={empty}")
    # through the API an empty value is no profile of its own: the daemon's (here the default)
    body = {"Image": IMAGE, "Cmd": ["grep", "^Seccomp:", "/proc/self/status"], "HostConfig": {
            "NetworkMode": "none", "SecurityOpt": ["seccomp="]}}  # fmt: skip
    code, made = wharfd.request("POST", "/containers/create?name=empty-seccomp", body)
    assert code == 201, made
    try:
        docker(wharfd, "start", "-a", "empty-seccomp")
        assert docker(wharfd, "logs", "empty-seccomp").stdout.split() == ["Seccomp:", "2"]
    finally:
        docker(wharfd, "rm", "-f", "empty-seccomp")


@pytest.mark.parametrize("how", ["path", "unconfined", "builtin"])
def test_the_daemons_seccomp_profile(rootfs_template: str, tmp_path: Path, how: str) -> None:
    profile = tmp_path / "daemon-profile.json"
    profile.write_text(json.dumps(NO_MKDIR))
    value = str(profile) if how == "path" else how
    flags = ("--seccomp-profile", value) if how == "builtin" else ()
    extra = {} if flags else {"seccomp-profile": value}
    with own_daemon(rootfs_template, extra, *flags) as d:
        shown = info(d)
        assert f"name=seccomp,profile={value}" in shown["SecurityOptions"]
        assert ("WARNING: daemon is not using the default seccomp profile" in shown["Warnings"]) is (
            how != "builtin"
        )
        mkdir = docker(d, "run", "--rm", "--network", "none", IMAGE, "mkdir", "/made", check=False)
        if how == "path":
            assert mkdir.returncode == 1 and "Operation not permitted" in mkdir.stderr
            assert status(d)["Seccomp"] == "2"
            assert status(d, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
            assert status(d, "--security-opt", "seccomp=builtin")["Seccomp"] == "2"
            ok = docker(d, "run", "--rm", "--network", "none", "--security-opt", "seccomp=builtin", IMAGE,
                        "mkdir", "/made")  # fmt: skip
            assert ok.returncode == 0
        elif how == "unconfined":
            assert mkdir.returncode == 0
            assert status(d)["Seccomp"] == "0"
            assert status(d, "--security-opt", "seccomp=builtin")["Seccomp"] == "2"
        else:
            assert mkdir.returncode == 0 and status(d)["Seccomp"] == "2"


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_daemon_profile_it_cannot_read_stops_the_start(
    rootfs_template: str, tmp_path: Path, kind: str
) -> None:
    path = str(tmp_path / "nosuch.json") if kind == "missing" else str(tmp_path)
    d = Daemon(new_root())
    try:
        (d.root / "daemon.json").write_text(json.dumps({**d.config(), "seccomp-profile": path}))
        with pytest.raises(AssertionError, match="wharfd exited 1") as failed:
            d.start()
        why = "open {0}: no such file or directory" if kind == "missing" else "read {0}: is a directory"
        assert f"failed to start daemon: opening seccomp profile ({path}) failed: {why.format(path)}" in str(
            failed.value
        )
    finally:
        d.cleanup()


# --- inter-container communication


def _reach(d: Daemon, address: str, port: int, *args: str) -> bool:
    """Whether a container on the default bridge (or ``--network ...`` in args) gets an answer
    from ``address:port`` within 3 s."""
    script = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port}"
    r = docker(d, "run", "--rm", *args, IMAGE, "sh", "-c", script, check=False)
    return "hello" in r.stdout


def _server(d: Daemon, name: str, *args: str) -> str:
    """An HTTP server container answering "hello"; its address on its (first) network."""
    docker(d, "run", "-d", "--name", name, *args, IMAGE, "sh", "-c",
           "mkdir /w && echo hello > /w/index.html && exec httpd -f -p 80 -h /w")  # fmt: skip
    nets = json.loads(docker(d, "inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout)
    return str(next(iter(nets.values()))["IPAddress"])


@contextmanager
def host_listener(address: str) -> Iterator[int]:
    """A one-answer-per-connection server on the host at ``address`` (the bridge's gateway)."""
    srv = socket.socket()
    srv.bind((address, 0))
    srv.listen(4)
    srv.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        done.set()
        t.join()
        srv.close()


def _icc_checks(d: Daemon, network: str, icc: bool) -> None:
    args = ("--network", network)
    try:
        info = json.loads(docker(d, "network", "inspect", network).stdout)[0]
        gateway = info["IPAM"]["Config"][0]["Gateway"]
        peer = _server(d, "icc-server", *args, "-p", f"{gateway}::80")  # published on the bridge's side
        published = int(docker(d, "port", "icc-server", "80/tcp").stdout.split(":")[-1])
        assert info["Options"]["com.docker.network.bridge.enable_icc"] == ("true" if icc else "false")
        assert _reach(d, peer, 80, *args) is icc
        ping = docker(d, "run", "--rm", *args, IMAGE, "ping", "-c", "1", "-W", "2", peer, check=False)
        assert (ping.returncode == 0) is icc
        # the host, and a port published through it, stay reachable either way
        assert _reach(d, gateway, published, *args)
        with host_listener(gateway) as port:
            assert _reach(d, gateway, port, *args)
    finally:
        docker(d, "rm", "-f", "icc-server", check=False)


def test_containers_on_a_bridge_reach_each_other_by_default(wharfd: Daemon) -> None:
    _icc_checks(wharfd, "bridge", icc=True)


@pytest.mark.parametrize("how", ["daemon.json", "flag"])
def test_icc_false_keeps_containers_of_the_default_bridge_apart(rootfs_template: str, how: str) -> None:
    extra, flags = ({"icc": False}, ()) if how == "daemon.json" else ({}, ("--icc=false",))
    with own_daemon(rootfs_template, extra, *flags) as d:
        _icc_checks(d, "bridge", icc=False)
        # only the default bridge: a user network keeps inter-container communication
        docker(d, "network", "create", "open-net")
        try:
            peer = _server(d, "open-server", "--network", "open-net")
            assert _reach(d, peer, 80, "--network", "open-net")
        finally:
            docker(d, "rm", "-f", "open-server", check=False)
            docker(d, "network", "rm", "open-net", check=False)


def _reach_from(d: Daemon, container: str, address: str, port: int) -> bool:
    script = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port}"
    return "hello" in docker(d, "exec", container, "sh", "-c", script, check=False).stdout


def test_a_legacy_link_opens_the_childs_exposed_ports_without_icc(rootfs_template: str) -> None:
    """As dockerd: with icc false, --link still lets the parent reach the ports the child
    exposes (those only), and the daemon's restart (its table made anew) keeps that."""
    with own_daemon(rootfs_template, {"icc": False}) as d:
        serve = "mkdir /w && echo hello > /w/index.html && httpd -p 81 -h /w && exec httpd -f -p 80 -h /w"
        docker(d, "run", "-d", "--name", "child", "--expose", "80", IMAGE, "sh", "-c", serve)
        docker(d, "run", "-d", "--name", "parent", "--link", "child:web", IMAGE, "sleep", "120")
        docker(d, "run", "-d", "--name", "stranger", IMAGE, "sleep", "120")
        for restarted in (False, True):
            if restarted:
                d.stop()
                d.start()
            assert _reach_from(d, "parent", "web", 80), restarted
            assert not _reach_from(d, "parent", "web", 81), restarted  # not exposed
            child_ip = docker(d, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "child").stdout.strip()
            assert not _reach_from(d, "stranger", child_ip, 80), restarted  # not linked
        docker(d, "rm", "-f", "parent")
        assert not _reach_from(d, "stranger", child_ip, 80)
        nft = subprocess.run(
            ["nft", "list", "set", "inet", d.table, "icc_links"], capture_output=True, text=True
        )
        assert "elements" not in nft.stdout  # the parent's hole went with it


def test_a_network_made_without_icc(wharfd: Daemon) -> None:
    r = docker(wharfd, "network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", "bad-icc",
               check=False)  # fmt: skip
    assert r.returncode == 1
    assert (
        "failed to parse com.docker.network.bridge.enable_icc value: maybe "
        '(strconv.ParseBool: parsing "maybe": invalid syntax)'
    ) in r.stderr
    docker(wharfd, "network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "no-icc")
    try:
        _icc_checks(wharfd, "no-icc", icc=False)
    finally:
        docker(wharfd, "network", "rm", "no-icc", check=False)
    assert not os.path.exists("/sys/class/net/no-icc")


def _sh(netns: str, command: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", command], check=True)


@pytest.fixture
def netns_trio() -> Iterator[tuple[str, str, str]]:
    """Three network namespaces of the test's own: a "host" with its br_netfilter sysctls off,
    and two "containers" plugged into a bridge there (removed with everything in them)."""
    tag = f"hopt{os.getpid() % 10000}"
    names = (f"{tag}h", f"{tag}a", f"{tag}b")
    host, *peers = names
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
        _sh(host, "for f in /proc/sys/net/bridge/bridge-nf-call-ip*tables; do echo 0 > $f; done")
        _sh(host, "ip link add tbr type bridge && ip link set tbr up")
        for i, peer in enumerate(peers):
            _sh(host, f"ip link add tv{i} type veth peer name eth0 netns {peer}")
            _sh(host, f"ip link set tv{i} master tbr up")
            _sh(peer, f"ip addr add 10.99.0.{i + 2}/24 dev eth0 && ip link set eth0 up")
        yield host, peers[0], peers[1]
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


@pytest.mark.parametrize("icc", [True, False])
def test_a_bridge_without_icc_drops_even_where_br_netfilter_is_off(
    netns_trio: tuple[str, str, str], icc: bool
) -> None:
    """wharf's own switch, not the host's: the bridge hands its frames to the forward hook
    (nf_call_iptables of that bridge), so the drop holds with the global sysctls at 0."""
    host, a, _ = netns_trio
    script = (
        "from wharf.network import netlink; from wharf.network.nft import Firewall\n"
        "fw = Firewall('hopts'); fw.setup()\n"
        f"fw.add_network('tbr', '10.99.0.0/24', False, icc={icc})\n"
        f"if not {icc}: netlink.filter_bridged('tbr')\n"
    )
    subprocess.run(["ip", "netns", "exec", host, sys.executable, "-c", script], check=True)
    ping = subprocess.run(
        ["ip", "netns", "exec", a, "busybox", "ping", "-c", "1", "-W", "1", "10.99.0.3"],
        capture_output=True,
        text=True,
    )
    assert (ping.returncode == 0) is icc, ping.stdout
