"""api/fastping.py's choice of what it answers itself (pure); the daemon's side is
tests/integration/engine/test_fastping.py."""

from __future__ import annotations

from wharf.api.fastping import Answers, targets

ANSWERS = Answers({"Api-Version": "1.47"}, "wharf/0.1.0 (linux)", targets("1.24", "1.47"))
PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\nUser-Agent: Docker-Client/27\r\n\r\n"


def test_whole_pings_are_answered_in_order() -> None:
    head = b"HEAD /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    out = ANSWERS.of(PING + head + PING)
    assert out is not None
    answers = out.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [a.endswith(b"\r\n\r\nOK") for a in answers] == [True, False, True]
    assert all(b"Api-Version: 1.47\r\n" in a and b"\r\nDate: " in a for a in answers)
    assert b"Content-Length: 2\r\n" in answers[0] and b"Content-Length" not in answers[1]


def test_anything_else_is_left_to_aiohttp() -> None:
    others = [
        PING[:-2],  # not whole yet
        PING + b"GET /containers/json HTTP/1.1\r\nHost: x\r\n\r\n",  # a ping, then something else
        b"POST /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /_ping?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET /v1.23/_ping HTTP/1.1\r\n\r\n",  # too old: aiohttp's middleware answers 400
        b"GET /v1.48/_ping HTTP/1.1\r\n\r\n",  # too new
        b"GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /_ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nUpgrade: tcp\r\n\r\n",
    ]
    assert [ANSWERS.of(d) for d in others] == [None] * len(others)


def test_targets_are_the_versions_served() -> None:
    served = targets("1.24", "1.47")
    assert b"/_ping" in served and b"/v1.24/_ping" in served and b"/v1.47/_ping" in served
    assert b"/v1.23/_ping" not in served and b"/v1.48/_ping" not in served and len(served) == 25
