"""A wharfd of the test's own: its data root, exec root, socket and cgroup parent; removed with
everything it started (containers, shims, mounts) when the test ends."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO, TEST_CGROUP_PARENT, umount_under

from wharf.base.trees import remove_tree

WHARFD = str(REPO / ".venv" / "bin" / "wharfd")
# every test daemon gets a bridge, subnets and an nftables table of its own
TEST_LINK_PREFIX = "wtb"
TEST_TABLE_PREFIX = "wharf_test_"
_serial = iter(range(1, 10**6))
RUNTIME = str(REPO / ".venv" / "bin" / "wharf-runtime")


# veths still attached to a test daemon's bridges after its containers were stopped and removed;
# the session's leak check (tests/conftest.py) fails on any
LEAKED_PORTS: list[str] = []


def _note_leaked_ports(bridges: set[str], grace: float = 3.0) -> None:
    """Containers' host-side veths that outlive them. A network namespace is freed
    asynchronously after its last process, so give the kernel ``grace`` seconds first."""
    deadline = time.monotonic() + grace
    while True:
        ports = [p for b in bridges for p in _ports(b)]
        if not ports or time.monotonic() > deadline:
            LEAKED_PORTS.extend(ports)
            return
        time.sleep(0.1)


def _ports(bridge: str) -> list[str]:
    try:
        return os.listdir(f"/sys/class/net/{bridge}/brif")
    except OSError:
        return []


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Daemon:
    def __init__(self, root: Path, name: str = "d") -> None:
        self.root = root
        self.data_root = str(root / "data")
        self.exec_root = str(root / "exec")
        self.sock = str(root / "wharf.sock")
        self.log = str(root / "wharfd.log")
        self.cgroup_parent = f"/{TEST_CGROUP_PARENT}/{name}"
        n = next(_serial)
        tag = f"{os.getpid() % 10000}x{n}"
        self.bridge = f"{TEST_LINK_PREFIX}{tag}"[:15]
        self.table = f"{TEST_TABLE_PREFIX}{tag}"
        self.net_octet = 100 + (os.getpid() + n * 7) % 100  # 10.<octet>.0.0/16 for this daemon
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["WHARF_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        return env

    def config(self) -> dict[str, Any]:
        return {
            "cgroup-parent": self.cgroup_parent,
            "bridge": self.bridge,
            "bip": f"10.{self.net_octet}.0.1/24",
            "firewall-table": self.table,
            # name servers on loopback: queries that leave a container (or the embedded DNS
            # server) never go further than this machine
            "dns": ["127.0.0.1"],
            "default-address-pools": [{"base": f"10.{self.net_octet}.0.0/16", "size": 24}],
        }

    def start(self, *extra: str) -> None:
        cfg = self.root / "daemon.json"
        if not cfg.exists():
            cfg.write_text(json.dumps(self.config()))
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [
                    WHARFD,
                    "--config-file",
                    str(cfg),
                    "--data-root",
                    self.data_root,
                    "--exec-root",
                    self.exec_root,
                    "-H",
                    self.host,
                    "--log-level",
                    "debug",
                    *extra,
                ],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"wharfd exited {self.proc.returncode}: {Path(self.log).read_text()}")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("wharfd did not answer /_ping in 20 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.sock, timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def sweep(self) -> list[str]:
        """Every container, user network and volume of this daemon removed through its API; what
        is left of them (for a test that makes many through generated requests)."""
        for c in self.request("GET", "/containers/json?all=1")[1] or []:
            self.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
        for n in self.request("GET", "/networks")[1] or []:
            if n["Name"] not in ("bridge", "host", "none"):
                self.request("DELETE", f"/networks/{n['Id']}")
        for v in (self.request("GET", "/volumes")[1] or {}).get("Volumes") or []:
            self.request("DELETE", f"/volumes/{v['Name']}?force=1")
        left = [f"container {c['Names']}" for c in self.request("GET", "/containers/json?all=1")[1] or []]
        left += [
            f"network {n['Name']}"
            for n in self.request("GET", "/networks")[1] or []
            if n["Name"] not in ("bridge", "host", "none")
        ]
        vols = (self.request("GET", "/volumes")[1] or {}).get("Volumes") or []
        return left + [f"volume {v['Name']}" for v in vols]

    def cleanup(self, remove_root: bool = True) -> None:
        """Stop the daemon, then remove whatever it left: containers, shims, mounts, cgroups (and,
        unless told otherwise, its data root)."""
        self.stop()
        runtime_root = f"{self.exec_root}/runtime"
        if os.path.isdir(runtime_root):
            for cid in os.listdir(runtime_root):
                subprocess.run(
                    [RUNTIME, "--root", runtime_root, "delete", "--force", cid], capture_output=True
                )
        state = Path(self.exec_root) / "containers"
        if state.is_dir():
            for d in state.iterdir():
                pidf = d / "shim.pid"
                if pidf.exists():
                    try:
                        os.kill(int(pidf.read_text()), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
        umount_under(str(self.root))
        # the runtime removes the cgroups it made for a container, not the shared parents
        parts = self.cgroup_parent.strip("/").split("/")
        for hier in os.listdir("/sys/fs/cgroup"):
            for i in range(len(parts), 0, -1):
                try:
                    os.rmdir(f"/sys/fs/cgroup/{hier}/" + "/".join(parts[:i]))
                except OSError:
                    pass  # absent, or still in use by another test's daemon
        self._cleanup_network()
        if remove_root:
            # shutil.rmtree recurses: a tree a test left 1,000 levels deep would stop it
            remove_tree(str(self.root), ignore_errors=True)

    def _cleanup_network(self) -> None:
        """The daemon's bridges (default and user networks) and its nftables table."""
        bridges = {self.bridge}
        db = Path(self.data_root) / "network" / "networks.db"
        if db.exists():
            import sqlite3

            conn = sqlite3.connect(db)
            try:
                bridges |= {b for (b,) in conn.execute("SELECT bridge FROM networks")}
            except sqlite3.Error:
                pass
            finally:
                conn.close()
        _note_leaked_ports(bridges)
        for b in bridges:
            if os.path.exists(f"/sys/class/net/{b}"):
                subprocess.run(["ip", "link", "del", b], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)


def new_root() -> Path:
    """A daemon's root, named after this pytest process so that its leak check can tell its own
    leftovers from a parallel session's."""
    return Path(tempfile.mkdtemp(prefix=f"wharfd-test-{os.getpid()}-"))
