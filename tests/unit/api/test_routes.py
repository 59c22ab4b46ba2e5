"""The Engine API's edge without root or a daemon: ``make_app`` over an in-memory backend
(``fake.py``). The route table, version prefixes, bodies refused before the backend is called,
every error class as its status and Docker's JSON, a bug as a 500 the server survives, and
what the container and exec routes hand the backend and answer."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
from tests.unit.api.fake import CID, Api, FakeBackend, container

from wharf import errors
from wharf.api.app import make_app
from wharf.engine.request import CreateRequest
from wharf.engine.state import Status

# every route of the Engine API as wharfd serves it (each also under /{version})
ROUTES = """
GET /_ping|HEAD /_ping|GET /version|GET /info|GET /events|GET /system/df
POST /containers/create|GET /containers/json|POST /containers/prune|GET /containers/{id}/json
POST /containers/{id}/start|POST /containers/{id}/stop|POST /containers/{id}/restart
POST /containers/{id}/kill|POST /containers/{id}/pause|POST /containers/{id}/unpause
POST /containers/{id}/wait|DELETE /containers/{id}|DELETE /containers/{id}/{alias}
POST /containers/{id}/rename
GET /containers/{id}/logs|POST /containers/{id}/attach|POST /containers/{id}/resize
GET /containers/{id}/top|GET /containers/{id}/stats|POST /containers/{id}/update
GET /containers/{id}/export|GET /containers/{id}/changes|POST /commit
HEAD /containers/{id}/archive|GET /containers/{id}/archive|PUT /containers/{id}/archive
POST /containers/{id}/exec|POST /exec/{id}/start|POST /exec/{id}/resize|GET /exec/{id}/json
GET /networks|POST /networks/create|POST /networks/prune|GET /networks/{id}|DELETE /networks/{id}
POST /networks/{id}/connect|POST /networks/{id}/disconnect
GET /volumes|POST /volumes/create|POST /volumes/prune|GET /volumes/{name}|DELETE /volumes/{name}
POST /auth|GET /images/json|POST /images/create|POST /images/load|GET /images/get|POST /images/prune
GET /images/{name}/json|GET /images/{name}/history|GET /images/{name}/get|POST /images/{name}/tag
POST /images/{name}/push|DELETE /images/{name}|POST /build|POST /build/prune
GET /swarm|POST /swarm/init|POST /swarm/join|POST /swarm/leave|POST /swarm/update|GET /swarm/unlockkey
POST /swarm/unlock|GET /nodes|GET /nodes/{id}|DELETE /nodes/{id}|POST /nodes/{id}/update
GET /services|POST /services/create|GET /services/{id}|DELETE /services/{id}|POST /services/{id}/update
GET /services/{id}/logs|GET /tasks|GET /tasks/{id}|GET /tasks/{id}/logs
GET /secrets|POST /secrets/create|GET /secrets/{id}|DELETE /secrets/{id}|POST /secrets/{id}/update
GET /configs|POST /configs/create|GET /configs/{id}|DELETE /configs/{id}|POST /configs/{id}/update
"""


def _message(r: Any) -> str:
    assert r.content_type == "application/json", r.headers  # exactly: the CLI reads no other
    body = r.json()
    assert list(body) == ["message"]
    message: str = body["message"]
    return message


def test_every_route_is_served_bare_and_under_a_version(backend: FakeBackend) -> None:
    want = {tuple(x.split(" ")) for line in ROUTES.strip().splitlines() for x in line.split("|")}
    app = make_app(backend)
    served = [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None]
    bare = {(m, p) for m, p in served if not p.startswith("/{version}")}
    versioned = {(m, p.removeprefix("/{version}")) for m, p in served if p.startswith("/{version}")}
    assert bare == want
    assert versioned == want
    assert len(served) == 2 * len(want)


# --- versions


def test_versions_within_the_range_are_served(api: Api, backend: FakeBackend) -> None:
    for prefix in ("", "/v1.24", "/v1.41", "/v1.47"):
        r = api.get(f"{prefix}/_ping")
        assert (r.status, r.body, r.headers["Api-Version"]) == (200, b"OK", "1.47")
    r = api.get("/v1.41/containers/json")
    assert r.status == 200
    assert r.json() == [{"Id": CID, "Names": ["/web"]}]
    version = api.get("/v1.47/version").json()
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Os"]) == ("1.47", "1.24", "linux")


def test_a_newer_version_is_refused_with_dockers_words(api: Api, backend: FakeBackend) -> None:
    r = api.get("/v1.99/containers/json")
    assert r.status == 400
    assert _message(r) == "client version 1.99 is too new. Maximum supported API version is 1.47"
    assert backend.calls == []


def test_an_older_version_is_refused_with_dockers_words(api: Api, backend: FakeBackend) -> None:
    r = api.post("/v1.23/containers/web/start")
    assert r.status == 400
    assert _message(r) == (
        "client version 1.23 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )
    assert backend.calls == []


def test_answers_carry_dockers_headers(api: Api) -> None:
    r = api.get("/containers/json")
    assert r.headers["Api-Version"] == "1.47"
    assert r.headers["Ostype"] == "linux"
    assert r.headers["Docker-Experimental"] == "false"
    assert r.headers["Server"].startswith("wharf/")


# --- bodies refused before the backend is called

GO = "json: cannot unmarshal "
BAD_BODIES = [
    ("/containers/create", b"{",
     "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("/containers/create", b"", "invalid JSON: request body is empty"),
    ("/containers/create", b"[1]", f"invalid JSON: {GO}array into Go value of type object"),
    ("/containers/create", b'{"HostConfig": {"Memory": "lots"}}',
     f"{GO}string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("/containers/create", b'{"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}}',
     f"{GO}number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
    ("/containers/web/update", b'{"Memory": "lots"}',
     f"{GO}string into Go struct field UpdateConfig.Memory of type int64"),
    ("/containers/web/exec", b'{"Cmd": ["ls"], "Tty": "yes"}',
     f"{GO}string into Go struct field ExecConfig.Tty of type bool"),
    ("/networks/create", b'{"Name": 5}',
     f"{GO}number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/networks/x/connect", b'{"Container": ["web"]}',
     f"{GO}array into Go struct field NetworkConnect.Container of type string"),
    ("/volumes/create", b'{"Labels": {"a": 1}}',
     f"{GO}number into Go struct field VolumeCreateBody.Labels of type string"),
    ("/commit?container=web", b'{"Env": "A=1"}',
     f"{GO}string into Go struct field ContainerConfigWrapper.Env of type []string"),
]  # fmt: skip


@pytest.mark.parametrize("path,raw,message", BAD_BODIES, ids=[f"{p} {r[:30]!r}" for p, r, _ in BAD_BODIES])
def test_a_bad_body_is_a_400_before_the_backend_is_called(
    api: Api, backend: FakeBackend, path: str, raw: bytes, message: str
) -> None:
    r = api.request("POST", path, data=raw)
    assert r.status == 400
    assert _message(r) == message
    assert backend.calls == []
    assert backend.execs.execs == {}
    assert backend.net.networks == {}
    assert backend.volumes.volumes == {}


def test_a_body_over_the_limit_is_a_413(api: Api, backend: FakeBackend) -> None:
    r = api.request("POST", "/containers/create", data=io.BytesIO(b" " * (33 << 20)))
    assert r.status == 413
    assert _message(r) == "request body too large: the limit for a JSON body is 32 MiB"
    assert backend.calls == []


# --- errors: one class, one status


STATUSES = [
    (errors.NotFound("No such container: x"), 404),
    (errors.AlreadyExists("the name is taken"), 409),
    (errors.Conflict("You cannot remove a running container"), 409),
    (errors.InvalidArgument("invalid signal: SIGFOO"), 400),
    (errors.TooLarge("too large"), 413),
    (errors.Unauthorized("unauthorized: authentication required"), 401),
    (errors.Forbidden("bridge is a pre-defined network and cannot be removed"), 403),
    (errors.Unavailable("the registry cannot be reached"), 503),
    (errors.Unsupported("checkpoints are not supported"), 501),
    (errors.FailedPrecondition("the runtime failed"), 500),
    (errors.StartError('exec: "nope": executable file not found in $PATH', 127), 400),
    (errors.StartError("permission denied", 126), 400),
    (errors.StartError("the runtime failed", 128), 500),
]


@pytest.mark.parametrize("exc,status", STATUSES, ids=[f"{type(e).__name__}-{s}" for e, s in STATUSES])
def test_each_error_class_is_its_status_with_dockers_body(
    api: Api, backend: FakeBackend, exc: errors.WharfError, status: int
) -> None:
    backend.fail = exc
    r = api.post("/containers/web/start")
    assert r.status == status
    assert _message(r) == str(exc)


def test_not_modified_is_a_304_without_a_body(api: Api, backend: FakeBackend) -> None:
    backend.fail = errors.NotModified("container already started")
    r = api.post("/containers/web/start")
    assert (r.status, r.body) == (304, b"")


def test_a_bug_in_the_backend_is_a_500_and_the_server_keeps_answering(
    api: Api, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fail = KeyError("State")
    with caplog.at_level(logging.ERROR, logger="wharf.api"):
        r = api.get("/containers/web/json")
    assert r.status == 500
    assert _message(r) == "internal error: KeyError: 'State'"
    assert any(rec.exc_info for rec in caplog.records)  # the traceback is logged
    assert api.get("/_ping").status == 200
    assert api.get("/containers/web/json").json()["Id"] == CID


# --- containers


def test_create_hands_the_backend_the_decoded_body(api: Api, backend: FakeBackend) -> None:
    body = {
        "Image": "busybox",
        "Cmd": "echo hi",
        "Entrypoint": "/bin/sh",
        "HostConfig": {"Memory": 1 << 20, "Binds": ["/src:/dst:ro"]},
        "NetworkingConfig": {"EndpointsConfig": {"front": {"Aliases": ["db"]}}},
    }
    r = api.post("/containers/create?name=db", body)
    assert r.status == 201
    assert r.json() == {"Id": f"{2:064x}", "Warnings": ["a warning"]}
    [(name, req)] = [c for c in backend.calls if c[0] == "create"]
    assert req == CreateRequest(
        "db",
        {"Image": "busybox", "Cmd": ["echo hi"], "Entrypoint": ["/bin/sh"]},
        {"Memory": 1 << 20, "Binds": ["/src:/dst:ro"]},
        {"EndpointsConfig": {"front": {"Aliases": ["db"]}}},
    )


def test_create_without_a_name_asks_for_none(api: Api, backend: FakeBackend) -> None:
    api.post("/containers/create?name=", {"Image": "busybox"})
    [(_, req)] = backend.calls
    assert req.name is None
    assert req.config == {"Image": "busybox"}
    assert (req.host_config, req.networking) == ({}, {})


def test_list_reads_all_limit_size_and_filters(api: Api, backend: FakeBackend) -> None:
    api.get("/containers/json", params={"all": "1", "limit": "2", "size": "true",
                                        "filters": json.dumps({"status": ["exited"]})})  # fmt: skip
    api.get("/containers/json", params={"filters": json.dumps({"label": {"a=b": True, "c": False}})})
    api.get("/containers/json", params={"limit": "0"})
    assert backend.calls == [
        ("list_json", True, {"status": ["exited"]}, 2, True),
        ("list_json", False, {"label": ["a=b"]}, -1, False),
        ("list_json", False, {}, -1, False),
    ]


@pytest.mark.parametrize(
    "query,message",
    [
        ({"filters": "{"}, "invalid filter: {"),
        ({"filters": '["status"]'}, 'invalid filter: ["status"]'),
        ({"filters": '{"status": 1}'}, 'invalid filter: {"status": 1}'),
        ({"limit": "ten"}, "invalid value for limit: 'ten': not an integer"),
    ],
)
def test_bad_query_parameters_are_a_400(
    api: Api, backend: FakeBackend, query: dict[str, str], message: str
) -> None:
    r = api.get("/containers/json", params=query)
    assert r.status == 400
    assert _message(r) == message
    assert backend.calls == []


def test_prune_hands_the_filters_and_answers_the_report(api: Api, backend: FakeBackend) -> None:
    r = api.post("/containers/prune?filters=" + json.dumps({"until": ["10m"], "label": ["x"]}))
    assert r.json() == {"ContainersDeleted": ["x"], "SpaceReclaimed": 0}
    assert backend.calls == [("prune", {"until": ["10m"], "label": ["x"]})]
    assert api.post("/containers/prune?filters=nope").status == 400


def test_inspect_is_the_backends_view(api: Api, backend: FakeBackend) -> None:
    r = api.get("/containers/c0ffee/json?size=1")
    assert r.json()["Name"] == "/web"
    assert r.json()["State"]["Status"] == "running"
    assert backend.calls[0] == ("inspect", "c0ffee", True)
    assert api.get("/containers/nope/json").status == 404


def test_lifecycle_routes_hand_their_parameters(api: Api, backend: FakeBackend) -> None:
    replies = [
        api.post("/containers/web/start"),
        api.post("/containers/web/stop?t=5&signal=SIGTERM"),
        api.post("/containers/web/stop"),
        api.post("/containers/web/restart?t=0"),
        api.post("/containers/web/kill"),
        api.post("/containers/web/kill?signal=HUP"),
        api.post("/containers/web/pause"),
        api.post("/containers/web/unpause"),
        api.post("/containers/web/rename?name=app"),
        api.delete("/containers/web?force=1&v=1"),
        api.delete("/containers/web"),
    ]
    assert [(r.status, r.body) for r in replies] == [(204, b"")] * len(replies)
    assert backend.calls == [
        ("start", "web"),
        ("stop", "web", 5, "SIGTERM"),
        ("stop", "web", None, None),
        ("restart", "web", 0, None),
        ("kill", "web", "KILL"),
        ("kill", "web", "HUP"),
        ("pause", "web"),
        ("unpause", "web"),
        ("rename", "web", "app"),
        ("remove", "web", True, True),
        ("remove", "web", False, False),
    ]
    r = api.post("/containers/web/stop?t=soon")
    assert (r.status, _message(r)) == (400, "invalid value for t: 'soon': not an integer")


def test_update_hands_the_decoded_host_config(api: Api, backend: FakeBackend) -> None:
    body = {"Memory": 64 << 20, "CpuShares": 512, "RestartPolicy": {"Name": "always"}}
    r = api.post("/containers/web/update", body)
    assert (r.status, r.json()) == (200, {"Warnings": []})
    assert backend.calls[-1] == ("update", CID, body)
    assert api.post("/containers/nope/update", {}).status == 404


def test_top_passes_ps_args(api: Api, backend: FakeBackend) -> None:
    assert api.get("/containers/web/top").json()["Processes"] == [["42", "sh"]]
    api.get("/containers/web/top?ps_args=aux")
    assert [c for c in backend.calls if c[0] == "top"] == [("top", CID, "-ef"), ("top", CID, "aux")]


def test_wait_sends_its_headers_first_then_the_json_line(api: Api, backend: FakeBackend) -> None:
    async def scenario() -> tuple[int, str, bytes]:
        backend.wait_gate = asyncio.Event()
        async with api.client.post("/containers/web/wait?condition=next-exit") as resp:
            # the headers are here while the container still runs: `docker run` starts it now
            assert ("wait", CID, "next-exit") in backend.calls
            backend.wait_result = {"StatusCode": 3, "Error": None}
            backend.wait_gate.set()
            return resp.status, resp.headers["Content-Type"], await resp.read()

    status, ctype, body = api.run(scenario())
    assert (status, ctype) == (200, "application/json")
    assert body == b'{"StatusCode": 3, "Error": null}\n'


def test_wait_refuses_before_any_header(api: Api, backend: FakeBackend) -> None:
    r = api.post("/containers/web/wait?condition=forever")
    assert (r.status, _message(r)) == (400, "invalid condition: forever")
    r = api.post("/containers/nope/wait")
    assert (r.status, _message(r)) == (404, "No such container: nope")
    assert "wait" not in backend.names()


# --- exec


def test_exec_create_start_detached_inspect_resize(api: Api, backend: FakeBackend) -> None:
    r = api.post("/containers/web/exec", {"Cmd": ["ls"], "AttachStdout": True})
    assert r.status == 201
    eid = r.json()["Id"]
    assert backend.calls[0] == ("exec_create", "web", {"Cmd": ["ls"], "AttachStdout": True})
    r = api.post(f"/exec/{eid}/start", {"Detach": True})
    assert (r.status, r.body) == (200, b"")
    assert ("exec_start", eid, True, False, False) in backend.calls
    assert api.get(f"/exec/{eid}/json").json() == {"ID": eid, "Running": False}
    assert api.post(f"/exec/{eid}/resize?h=30&w=100").status == 200
    assert backend.calls[-1] == ("exec_resize", eid, 30, 100)
    r = api.post("/exec/nope/start", {"Detach": True})
    assert (r.status, _message(r)) == (404, "No such exec instance: nope")


def test_exec_create_needs_a_body(api: Api, backend: FakeBackend) -> None:
    r = api.request("POST", "/containers/web/exec")
    assert (r.status, _message(r)) == (400, "invalid JSON: request body is empty")
    assert backend.calls == []


async def _hijacked(api: Api, path: str, body: bytes) -> bytes:
    """The raw bytes of an upgraded (hijacked) connection, head included."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


@pytest.mark.parametrize(
    "version,multiplexed,ctype",
    [("v1.41", True, "raw-stream"), ("v1.47", True, "multiplexed-stream")],
)
def test_exec_start_takes_the_connection_over(
    api: Api, backend: FakeBackend, version: str, multiplexed: bool, ctype: str
) -> None:
    eid = api.post("/containers/web/exec", {"Cmd": ["ls"]}).json()["Id"]
    out = api.run(_hijacked(api, f"/{version}/exec/{eid}/start", b"{}"))
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 101 UPGRADED"
    assert f"Content-Type: application/vnd.docker.{ctype}".encode() in head
    assert b"Api-Version: 1.47" in head
    assert rest == b"hello from exec\n"
    assert backend.calls[-1] == ("exec_start", eid, False, True, multiplexed)


def test_a_container_with_a_terminal_streams_raw_bytes(api: Api, backend: FakeBackend) -> None:
    backend.add(container("7" * 64, "term", tty=True))
    eid = api.post("/containers/term/exec", {"Cmd": ["sh"], "Tty": True}).json()["Id"]
    out = api.run(_hijacked(api, f"/v1.47/exec/{eid}/start", b'{"Tty": true}'))
    assert b"Content-Type: application/vnd.docker.raw-stream" in out
    assert backend.calls[-1][-1] is False


def test_commit_pauses_a_running_container_meanwhile(api: Api, backend: FakeBackend) -> None:
    """commit pauses a running container for the snapshot (unless pause=0) and unpauses it."""
    query = "container=web&repo=me/app&tag=v1&comment=hi&author=me&changes=ENV%20A%3D1"
    r = api.post(f"/commit?{query}", {"Cmd": ["sh"]})
    assert (r.status, r.json()) == (201, {"Id": "sha256:" + "2" * 64})
    names = [c[0] for c in backend.calls if c[0] != "get"]
    assert names == ["pause", "commit", "unpause"]
    [(_, cid, req)] = [c for c in backend.calls if c[0] == "commit"]
    assert (cid, req.repo, req.tag, req.comment, req.author) == (CID, "me/app", "v1", "hi", "me")
    assert (req.config, req.changes) == ({"Cmd": ["sh"]}, ("ENV A=1",))
    backend.calls.clear()
    api.post("/commit?container=web&pause=0")
    assert [c[0] for c in backend.calls if c[0] != "get"] == ["commit"]
    backend.calls.clear()
    backend.add(container("8" * 64, "done", Status.EXITED))
    api.post("/commit?container=done")
    assert [c[0] for c in backend.calls if c[0] != "get"] == ["commit"]


NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this'
    " node to swarm and try again."
)


@pytest.mark.parametrize(
    "method,path,words",
    [
        ("GET", "/v1.41/swarm", NOT_A_MANAGER),
        ("GET", "/v1.47/nodes", NOT_A_MANAGER),
        ("POST", "/services/create", NOT_A_MANAGER),
        ("GET", "/tasks/x/logs", NOT_A_MANAGER),
        ("DELETE", "/secrets/x", NOT_A_MANAGER),
        ("GET", "/configs", NOT_A_MANAGER),
        ("POST", "/v1.41/swarm/leave?force=1", "This node is not part of a swarm"),
        ("POST", "/swarm/init", "wharf does not run in swarm mode: this node cannot initialize a swarm"),
        ("POST", "/swarm/join", "wharf does not run in swarm mode: this node cannot join a swarm"),
    ],
)
def test_swarm_mode_answers_as_a_node_outside_a_swarm(
    api: Api, backend: FakeBackend, method: str, path: str, words: str
) -> None:
    r = api.request(method, path)
    assert (r.status, _message(r)) == (503, words)


def test_a_link_is_removed_by_its_name(api: Api, backend: FakeBackend) -> None:
    r = api.delete("/v1.41/containers/web/mylink?link=1")
    assert r.status == 204
    assert backend.calls[-1] == ("remove_link", "web/mylink")
    r = api.delete("/containers/web/mylink")
    assert (r.status, _message(r)) == (404, "No such container: web/mylink")
