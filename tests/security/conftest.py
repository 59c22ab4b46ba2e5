"""The hardening suite: each test reproduces an attack or a fault (an escape class, a hostile
input, a full disk, a kill -9 of wharfd, load) against a real wharfd and asserts what a user
sees afterwards. The daemon fixtures are the engine suite's."""

from __future__ import annotations

from tests.integration.engine.conftest import docker, seeded_daemon, wharfd
from tests.integration.runtime.conftest import rt

__all__ = ["docker", "rt", "seeded_daemon", "wharfd"]
