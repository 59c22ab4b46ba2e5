"""Request bodies generated from the API's schemas (``wharf.api.bodies``), sent to a real wharfd:
wrong types at every depth, missing and extra keys, nulls, huge values, fully valid bodies.

Nothing may answer 5xx; an error is Docker's ``{"message": ...}``; a body the schema refuses is
refused with the schema's own words (so no route lets a wrong type through to the engine); the
daemon logs no traceback and still answers at the end; whatever the valid bodies made is removed.
The generator is seeded, with a fixed seed unless ``WHARF_FUZZ_SEED`` names another (or says
``random``); ``WHARF_FUZZ_SEED=<seed>`` replays a run (the seed is in every failure).
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.daemon import Daemon, UnixHTTPConnection
from tests.integration.engine.conftest import IMAGE

from wharf.api import bodies
from wharf.api.schema import (
    MAX_DEPTH,
    Array,
    Bool,
    Int,
    List,
    Map,
    Node,
    Ptr,
    Str,
    StrSlice,
    Struct,
    loads,
)
from wharf.errors import InvalidArgument

pytestmark = pytest.mark.root

# a fixed seed by default, so a run of the suite is repeatable; WHARF_FUZZ_SEED=random explores
_ASKED = os.environ.get("WHARF_FUZZ_SEED") or "20261202"
SEED = random.SystemRandom().randrange(1 << 32) if _ASKED == "random" else int(_ASKED)
NOSUCH_IMAGE = "fuzz-nosuch:latest"
NET = "fuzz-net"
TARGET = "fuzz-target"

Step = tuple[str, str]  # ("f", field) | ("m", "") map value | ("l", "") array item
Path = tuple[Step, ...]


def _deref(node: Node) -> Node:
    return node.target if isinstance(node, Ptr) else node


def positions(node: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Every place in a body of ``node``'s shape, the root first."""
    yield path, node
    n = _deref(node)
    if isinstance(n, Struct):
        for name, sub in n.fields.items():
            yield from positions(sub, (*path, ("f", name)))
    elif isinstance(n, Map):
        yield from positions(n.of, (*path, ("m", "")))
    elif isinstance(n, List | Array):
        yield from positions(n.of, (*path, ("l", "")))


# --- values


STRINGS = ["", "x", "busybox", "/tmp", "/data", "a:b", "a:/b:ro", "10.0.0.1", "10.9.0.0/24", "rw",
           "ü-ñ", "0", "-1", "on-failure", "always", "bridge", "host", "none", "default", "json-file",
           "volume", "bind", "tmpfs", "nofile", "CMD-SHELL", "ALL", "NET_ADMIN", "SIGTERM", "80/tcp",
           "8080", "a\x00b", "../../etc", "ctrl-p,ctrl-q", "container:x", "private", "rprivate"]  # fmt: skip
KEYS = ["a", "80/tcp", "/data", "net.ipv4.ip_forward", "com.docker.network.bridge.name", "type", "o",
        "device", "max-size", "bridge", "x y", ""]  # fmt: skip


def valid(node: Node, rng: random.Random, depth: int = 0) -> Any:
    """A value of the right type for ``node``, from pools of plausible and odd values."""
    n = _deref(node)
    if isinstance(n, Str):
        return rng.choice(STRINGS) if rng.random() < 0.8 else "".join(rng.choices("abc/:=,.-_ 1", k=8))
    if isinstance(n, Bool):
        return rng.random() < 0.5
    if isinstance(n, Int):
        pool = [0, 1, 2, 7, 100, 1024, 6 << 20, 64 << 20, 1 << 30, 10**9, -1, n.lo, n.hi]
        return rng.choice([v for v in pool if n.lo <= v <= n.hi])
    if isinstance(n, StrSlice):
        return (
            rng.choice(STRINGS)
            if rng.random() < 0.3
            else [rng.choice(STRINGS) for _ in range(rng.randint(0, 3))]
        )
    if isinstance(n, Array):
        return [valid(n.of, rng, depth + 1) for _ in range(rng.randint(0, n.n + 1))]
    if isinstance(n, List):
        return [valid(n.of, rng, depth + 1) for _ in range(rng.randint(0, 2 if depth < 4 else 0))]
    if isinstance(n, Map):
        return {rng.choice(KEYS): valid(n.of, rng, depth + 1) for _ in range(rng.randint(0, 2))}
    if isinstance(n, Struct):
        names = [k for k in n.fields if rng.random() < (0.3 if depth < 3 else 0.1)]
        return {k: valid(n.fields[k], rng, depth + 1) for k in names}
    raise AssertionError(f"no generator for {n!r}")


def wrong(node: Node, rng: random.Random) -> Any:
    """A value Go refuses at ``node``'s place."""
    n = _deref(node)
    if isinstance(n, Str):
        return rng.choice([5, -1.5, True, False, [], ["x"], {}, {"a": "b"}])
    if isinstance(n, Bool):
        return rng.choice(["true", "", 1, 0, [], [True], {}])
    if isinstance(n, Int):
        return rng.choice(
            ["5", "", "1g", True, False, [], [1], {}, 1.5, 2.0, -0.5, n.hi + 1, n.lo - 1, 1 << 80]
        )
    if isinstance(n, StrSlice):
        return rng.choice([5, True, {}, {"a": "b"}, [1], ["a", 2], [["a"]], [{}]])
    if isinstance(n, List | Array):
        return rng.choice(["x", 5, True, {}, {"a": []}])
    return rng.choice(["x", 5, 0, True, [], [{}], ["a"]])  # a Map or a Struct


def junk(rng: random.Random, depth: int) -> Any:
    """Any JSON, nested up to ``depth``."""
    r = rng.random()
    if depth <= 0 or r < 0.3:
        return rng.choice([None, True, 0, -7, 1.25, 1 << 70, "", "junk", "\u2603", [], {}])
    if r < 0.65:
        return [junk(rng, depth - 1) for _ in range(rng.randint(1, 3))]
    return {
        rng.choice(KEYS) + str(rng.randint(0, 9)): junk(rng, depth - 1) for _ in range(rng.randint(1, 3))
    }


def nested(depth: int) -> Any:
    v: Any = "bottom"
    for i in range(depth):
        v = [v] if i % 2 else {"n": v}
    return v


def with_raw_field(body: dict[str, Any], name: str, raw: str) -> bytes:
    """``body`` as JSON with one more field written as is (nesting json.dumps cannot write)."""
    head = json.dumps(body)[:-1]
    return f'{head}{", " if body else ""}"{name}": {raw}}}'.encode()


def place(body: dict[str, Any], path: Path, value: Any, rng: random.Random) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (made where it is missing or of another shape)."""
    out = copy.deepcopy(body)
    if not path:
        return out
    cur: Any = out
    for i, (kind, name) in enumerate(path):
        last = i == len(path) - 1
        if kind == "f" or kind == "m":
            if kind == "m":
                name = rng.choice(list(cur)) if cur and rng.random() < 0.5 else rng.choice(KEYS)
            if last:
                cur[name] = value
                return out
            nxt_kind = path[i + 1][0]
            want: type = list if nxt_kind == "l" else dict
            if not isinstance(cur.get(name), want):
                cur[name] = want()
            cur = cur[name]
        else:
            if last:
                if cur and rng.random() < 0.5:
                    cur[rng.randrange(len(cur))] = value
                else:
                    cur.append(value)
                return out
            want = list if path[i + 1][0] == "l" else dict
            cur.append(want())
            cur = cur[-1]
    return out


def drop_keys(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(body)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k in list(v):
                if rng.random() < 0.3:
                    del v[k]
                else:
                    walk(v[k])
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(out)
    return out


# --- the routes


@dataclass
class Route:
    name: str
    method_path: str
    schema: Node
    skeleton: Callable[[random.Random, int], dict[str, Any]]  # a valid, realistic body
    url: Callable[[int], str]
    random: int  # how many generated bodies beyond the one-per-place pass
    wrong_share: float = 0.7  # of the random ones: a wrong type (the rest reach the engine)
    valid_ok: bool = True  # may a body that passes the schema be sent (exec start: it would run)
    places: list[tuple[Path, Node]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.places = [(p, n) for p, n in positions(self.schema) if p]


@dataclass
class Sent:
    route: str
    kind: str
    raw: bytes
    status: int
    answer: Any
    expected: str | None  # the schema's message, if it refuses the body


@dataclass
class Fuzz:
    d: Daemon
    target: str
    exec_id: str
    rng: random.Random
    sent: list[Sent] = field(default_factory=list)
    conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, raw: bytes | None = None) -> tuple[int, str, bytes]:
        """One request on a kept-alive connection (a new one if the daemon closed it)."""
        for attempt in (0, 1):
            conn = self.conn or UnixHTTPConnection(self.d.sock, timeout=60)
            self.conn = None
            try:
                headers = {"Content-Type": "application/json"} if raw is not None else {}
                conn.request(method, path, body=raw, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt:
                    raise
                continue
            if resp.will_close:
                conn.close()
            else:
                self.conn = conn
            return resp.status, resp.getheader("Content-Type") or "", data
        raise AssertionError("unreachable")


def _create_skeleton(rng: random.Random, n: int) -> dict[str, Any]:
    body: dict[str, Any] = {"Image": IMAGE if rng.random() < 0.35 else NOSUCH_IMAGE, "Cmd": ["true"]}
    if rng.random() < 0.5:
        body.update({"Env": ["A=1"], "Labels": {"fuzz": str(n)}, "ExposedPorts": {"80/tcp": {}}})
    if rng.random() < 0.5:
        body["HostConfig"] = {
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]},
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            "NetworkMode": "none",
        }
    if rng.random() < 0.3:
        body["Healthcheck"] = {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9, "Retries": 3}
    return body


def routes(fz: Fuzz) -> list[Route]:
    t = fz.target
    return [
        Route("create", "POST /containers/create", bodies.CONTAINER_CREATE, _create_skeleton,
              lambda n: "/v1.47/containers/create", 900),
        Route("volume", "POST /volumes/create", bodies.VOLUME_CREATE,
              lambda rng, n: {"Name": f"fuzz-vol-{n}", "Driver": "local", "Labels": {"a": "b"}},
              lambda n: "/v1.47/volumes/create", 200),
        Route("network", "POST /networks/create", bodies.NETWORK_CREATE,
              lambda rng, n: {"Name": f"fuzz-n{n}", "Driver": "bridge", "Labels": {"a": "b"},
                              "IPAM": {"Driver": "default", "Config": []}},
              lambda n: "/v1.47/networks/create", 250, wrong_share=0.85),
        Route("connect", "POST /networks/{id}/connect", bodies.NETWORK_CONNECT,
              lambda rng, n: {"Container": t, "EndpointConfig": {"Aliases": [f"a{n}"]}},
              lambda n: f"/v1.47/networks/{NET}/connect", 130, wrong_share=0.85),
        Route("disconnect", "POST /networks/{id}/disconnect", bodies.NETWORK_DISCONNECT,
              lambda rng, n: {"Container": t, "Force": False},
              lambda n: f"/v1.47/networks/{NET}/disconnect", 100, wrong_share=0.8),
        Route("exec", "POST /containers/{id}/exec", bodies.EXEC_CREATE,
              lambda rng, n: {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True},
              lambda n: f"/v1.47/containers/{t}/exec", 300),
        Route("exec-start", "POST /exec/{id}/start", bodies.EXEC_START,
              lambda rng, n: {"Detach": True, "Tty": False},
              lambda n: f"/v1.47/exec/{fz.exec_id}/start", 60, wrong_share=1.0, valid_ok=False),
        Route("commit", "POST /commit", bodies.COMMIT,
              lambda rng, n: {"Cmd": ["sh"], "Labels": {"fuzz": str(n)}},
              lambda n: f"/v1.47/commit?container={t}&repo=fuzz-commit&tag=t{n}&pause=0", 120,
              wrong_share=0.95),
        Route("update", "POST /containers/{id}/update", bodies.CONTAINER_UPDATE,
              lambda rng, n: {"CpuShares": 512, "Memory": 256 << 20, "MemorySwap": -1},
              lambda n: f"/v1.47/containers/{t}/update", 350),
    ]  # fmt: skip


def by_depth(places: list[tuple[Path, Node]], rng: random.Random) -> tuple[Path, Node]:
    """A place, its depth drawn first, so the deep ones are as likely as the shallow ones."""
    depth = rng.choice(sorted({len(p) for p, _ in places}))
    return rng.choice([x for x in places if len(x[0]) == depth])


def generate(route: Route, rng: random.Random) -> Iterator[tuple[str, dict[str, Any] | bytes]]:
    """(kind, body) for the route: one wrong value at each place, then random bodies."""
    n = 0
    for path, node in route.places:
        n += 1
        yield "wrong", place(route.skeleton(rng, n), path, wrong(node, rng), rng)
    for _ in range(route.random):
        n += 1
        base = route.skeleton(rng, n)
        if rng.random() < route.wrong_share:
            path, node = by_depth(route.places, rng)
            r = rng.random()
            if r < 0.1 and isinstance(_deref(node), Int):
                yield (
                    "huge-int",
                    place(base, path, rng.choice([1 << 63, 1 << 64, -(1 << 63) - 1, 10**30]), rng),
                )
            elif r < 0.15:
                depth = MAX_DEPTH + rng.choice([1, 2, 10, 1000, 100_000])
                yield "too-deep", with_raw_field(base, "Junk", "[" * depth + "]" * depth)
            else:
                yield "wrong", place(drop_keys(base, rng) if r < 0.3 else base, path, wrong(node, rng), rng)
            continue
        if not route.valid_ok:
            continue
        r = rng.random()
        if r < 0.15:
            yield "valid", base
        elif r < 0.3:
            body = base
            for _ in range(rng.randint(1, 4)):
                path, node = by_depth(route.places, rng)
                body = place(body, path, None, rng)
            yield "null", body
        elif r < 0.4:
            yield "missing", drop_keys(base, rng)
        elif r < 0.55:
            body = base
            for _ in range(rng.randint(1, 3)):
                structs = [((), route.schema)] + [
                    x for x in route.places if isinstance(_deref(x[1]), Struct)
                ]
                path, node = by_depth(structs, rng)
                body = place(body, (*path, ("f", f"X-Unknown{rng.randint(0, 99)}")), junk(rng, 6), rng)
            yield "extra", body
        elif r < 0.6:
            body = place(base, (("f", "Junk"),), nested(rng.randint(20, MAX_DEPTH - 5)), rng)
            yield "deep", body
        elif r < 0.66:
            strings = [x for x in route.places if isinstance(_deref(x[1]), Str)]
            path, node = by_depth(strings, rng)
            yield "huge-string", place(base, path, rng.choice("ab/:") * (1 << 20), rng)
        elif r < 0.72:
            many = [x for x in route.places if isinstance(_deref(x[1]), List | Map)]
            path, node = by_depth(many, rng) if many else ((("f", "Junk"),), List(int))
            of = _deref(node)
            assert isinstance(of, List | Map)
            if isinstance(of, List):
                value: Any = [valid(of.of, rng, 5) for _ in range(10_000)]
            else:
                value = {f"k{i}": valid(of.of, rng, 5) for i in range(10_000)}
            yield "huge-list", place(base, path, value, rng)
        else:
            body = base
            for _ in range(rng.randint(1, 5)):
                path, node = by_depth(route.places, rng)
                body = place(body, path, valid(node, rng), rng)
            yield "random", body


def expected_refusal(schema: Node, raw: bytes) -> str | None:
    try:
        body = loads(raw)
        if isinstance(body, dict):
            schema.validate(body)
    except InvalidArgument as exc:
        return str(exc)
    return None


def undo(fz: Fuzz, route: Route, n: int, status: int, data: bytes) -> None:
    """Remove at once what a body made, so the daemon stays small (the teardown sweeps as well)."""
    if status >= 300:
        return
    answer = json.loads(data) if data else {}
    if route.name == "create":
        fz.call("DELETE", f"/containers/{answer['Id']}?force=1&v=1")
    elif route.name == "volume":
        fz.call("DELETE", f"/volumes/{answer['Name']}?force=1")
    elif route.name == "network":
        fz.call("DELETE", f"/networks/{answer['Id']}")
    elif route.name == "connect":
        fz.call("POST", f"/networks/{NET}/disconnect", json.dumps({"Container": fz.target}).encode())
    elif route.name == "commit":
        fz.call("DELETE", f"/images/{answer['Id']}?force=1")


def _problem(s: Sent) -> str | None:
    if s.status >= 500:
        return "a server error"
    if s.status < 400:
        return "refused by the schema, accepted by the daemon" if s.expected else None
    if not isinstance(s.answer, dict) or not isinstance(s.answer.get("message"), str):
        return 'an error that is not Docker\'s {"message": ...}'
    if s.expected is not None and (s.status, s.answer["message"]) != (400, s.expected):
        return f"not the schema's refusal (400 {s.expected!r})"
    return None


def _show(s: Sent, why: str) -> str:
    raw = s.raw.decode(errors="replace")
    raw = raw if len(raw) < 600 else raw[:500] + f"... ({len(raw)} bytes)"
    return f"[{s.route}/{s.kind}] {why}: {s.status} {str(s.answer)[:600]}\n    body: {raw}"


def _logged(line: str) -> str:
    """A log line of wharfd (one event, a traceback's lines joined by " | ") made readable."""
    text = line.replace(" | ", "\n      ")
    return "  daemon log: " + (text if len(text) < 4000 else text[:800] + " [...] " + text[-3000:])


def _sweep(d: Daemon) -> list[str]:
    """Remove every container, user network, volume and fuzz image of the daemon; what is left."""
    left = d.sweep()
    for img in d.request("GET", "/images/json")[1] or []:
        if any(t.startswith("fuzz-commit:") for t in img.get("RepoTags") or []) or not img.get("RepoTags"):
            d.request("DELETE", f"/images/{img['Id']}?force=1")
    return left


@pytest.fixture
def fuzz(wharfd: Daemon) -> Iterator[Fuzz]:
    d = wharfd
    try:
        status, body = d.request(
            "POST", f"/containers/create?name={TARGET}", {"Image": IMAGE, "Cmd": ["sleep", "3600"]}
        )
        assert status == 201, body
        target = body["Id"]
        assert d.request("POST", f"/containers/{target}/start")[0] == 204
        status, body = d.request("POST", "/networks/create", {"Name": NET, "Driver": "bridge"})
        assert status == 201, body
        status, body = d.request("POST", f"/containers/{target}/exec", {"Cmd": ["true"]})
        assert status == 201, body
        fz = Fuzz(d, target, body["Id"], random.Random(SEED))
        yield fz
        if fz.conn is not None:
            fz.conn.close()
    finally:
        left = _sweep(d)
        assert not left, f"the fuzz left {left} (seed {SEED})"


def test_generated_bodies(fuzz: Fuzz) -> None:
    fz, d = fuzz, fuzz.d
    log_start = os.path.getsize(d.log)
    started = time.monotonic()
    timing: dict[str, float] = {}
    for route in routes(fz):
        t0 = time.monotonic()
        for n, (kind, body) in enumerate(generate(route, fz.rng)):
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            expected = expected_refusal(route.schema, raw)
            if expected is None and not route.valid_ok:
                continue  # a wrong value Go ignores (past the end of a Go array): it would run
            status, ctype, data = fz.call("POST", route.url(n), raw)
            try:
                answer: Any = json.loads(data) if data else None
            except ValueError:
                answer = data[:300]
            if status >= 400 and not ctype.startswith("application/json"):
                answer = f"(Content-Type {ctype!r}) {answer!r}"
            fz.sent.append(Sent(route.name, kind, raw, status, answer, expected))
            undo(fz, route, n, status, data)
        timing[route.name] = round(time.monotonic() - t0, 1)
    elapsed = time.monotonic() - started

    problems = [(s, why) for s in fz.sent if (why := _problem(s)) is not None]
    with open(d.log, errors="replace") as f:
        f.seek(log_start)
        log = f.read()
    statuses = Counter(f"{s.route} {s.status}" for s in fz.sent)
    summary = (
        f"seed {SEED} (replay: WHARF_FUZZ_SEED={SEED}): {len(fz.sent)} bodies in {elapsed:.1f} s "
        f"{dict(timing)}; {dict(sorted(statuses.items()))}"
    )
    print(summary)
    logged = [line for line in log.splitlines() if "Traceback" in line or "internal error" in line]
    alive = d.request("GET", "/_ping")[0] == 200
    report = [f"{len(problems)} bad answers, {len(logged)} tracebacks logged, ping {alive}; {summary}"]
    report += [_show(s, why) for s, why in problems[:25]]
    report += [_logged(line) for line in logged[:10]]
    assert not problems and not logged and alive, "\n".join(report)
    assert len(fz.sent) >= 2500, summary
