"""RUN's argv as BuildKit's dispatchRun makes it from heredocs (a lone heredoc's body as the
shell's command, ``<<-`` stripped by the builder, a ``#!`` body as a script file, anything else
given to the shell with its bodies), the network mode, and the parts of the step's cache key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from wharf.build import instructions as ins
from wharf.build import running
from wharf.build.parser import parse
from wharf.build.steps import BuildFailed, StageState


def _run(text: str) -> ins.Run:
    cmd = ins.parse_file(parse(f"FROM busybox\n{text}")).stages[0].commands[0]
    assert isinstance(cmd, ins.Run)
    return cmd


def _argv(text: str, shell: list[str] | None = None) -> running.Command:
    st = StageState(config={"config": {"Shell": shell} if shell else {}})
    return running.plan_command(st, _run(text))


def test_plain_runs_are_unchanged() -> None:
    assert _argv("RUN echo  hi\n").argv == ["/bin/sh", "-c", "echo  hi"]
    assert _argv('RUN ["echo", "hi"]\n').argv == ["echo", "hi"]
    assert _argv("RUN echo hi\n", ["/bin/bash", "-xc"]).argv == ["/bin/bash", "-xc", "echo hi"]


def test_a_lone_heredoc_is_the_shells_command() -> None:
    assert _argv("RUN <<EOF\necho $A\necho b\nEOF\n").argv == ["/bin/sh", "-c", "echo $A\necho b\n"]
    # quoting the name does not stop the shell expanding the command it is given (BuildKit's)
    assert _argv('RUN <<"EOF"\necho $A\nEOF\n').argv == ["/bin/sh", "-c", "echo $A\n"]
    assert _argv("RUN <<-EOF\n\t\techo x\n\tEOF\n").argv == ["/bin/sh", "-c", "echo x\n"]
    assert _argv("RUN 3<<EOF\necho x\nEOF\n").argv == ["/bin/sh", "-c", "echo x\n"]


def test_a_shebang_heredoc_is_a_script() -> None:
    c = _argv("RUN <<SCRIPT\n#!/usr/bin/env python3\nprint(1)\nSCRIPT\n")
    assert c.argv == ["/bin/sh", "-c", "/dev/pipes/SCRIPT"]
    assert c.script == ("SCRIPT", "#!/usr/bin/env python3\nprint(1)\n")
    c = _argv("RUN <<-EOF\n\t#!/bin/sh\n\techo x\nEOF\n")
    assert c.script == ("EOF", "#!/bin/sh\necho x\n")


def test_other_heredocs_are_the_shells_own() -> None:
    assert _argv("RUN python3 <<EOF\nprint(1)\nEOF\n").argv == [
        "/bin/sh",
        "-c",
        "python3 <<EOF\nprint(1)\nEOF",
    ]
    assert _argv('RUN <<-"EOF" bash\n\techo $HOME\n\tEOF\n').argv == [
        "/bin/sh", "-c", '<<-"EOF" bash\n\techo $HOME\nEOF',
    ]  # fmt: skip
    assert _argv("RUN cat <<A > /a && cat <<B > /b\na\nA\nb\nB\n").argv == [
        "/bin/sh", "-c", "cat <<A > /a && cat <<B > /b\na\nA\nb\nB",
    ]  # fmt: skip


def test_a_heredoc_in_an_exec_form_is_refused() -> None:
    cmd = _run("RUN <<EOF\nx\nEOF\n")
    cmd.shell_form = False
    with pytest.raises(BuildFailed, match=r"parsing produced an invalid run command: \[<<EOF\]"):
        running.plan_command(StageState(config={}), cmd)


def _builder(network_mode: str = "") -> Any:
    return SimpleNamespace(opts=SimpleNamespace(network_mode=network_mode))


def test_the_network_mode() -> None:
    assert running.network_of(_builder("mynet"), _run("RUN --network=none true\n")) == "none"
    assert running.network_of(_builder(), _run("RUN --network=host true\n")) == "host"
    assert running.network_of(_builder("mynet"), _run("RUN --network=default true\n")) == "mynet"
    assert running.network_of(_builder(), _run("RUN true\n")) == ""
    cmd = _run("RUN true\n")
    cmd.network = "bridge"
    with pytest.raises(BuildFailed, match='unsupported network mode "bridge"'):
        running.network_of(_builder(), cmd)


def test_the_cache_key_parts() -> None:
    st = StageState(config={"config": {"WorkingDir": "/w", "Env": ["T=/c"]}})
    parts = running.cache_key_parts(st, _run("RUN --network=none --mount=type=cache,target=$T make\n"))
    assert parts == [
        "/bin/sh", "-c", "make", "mount:type=cache,target=/c,id=/c,sharing=shared,from=,source=,ro=false",
        "network=none", "security=sandbox",
    ]  # fmt: skip
    script = running.cache_key_parts(st, _run("RUN <<EOF\n#!/bin/sh\necho 1\nEOF\n"))
    assert script[-3] == "script:EOF\n#!/bin/sh\necho 1\n"
    other = running.cache_key_parts(st, _run("RUN <<EOF\n#!/bin/sh\necho 2\nEOF\n"))
    assert other != script
