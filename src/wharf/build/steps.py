"""The instructions that change only the image's configuration, applied as dockerd's classic
builder applies them, with the history text it writes (``docker history`` shows it).

Each handler takes the stage's state, expands the instruction's words (``shell.expand``, with
the stage's environment and the build arguments in scope) and changes the image config's
``config`` section. Its history entry is ``<shell> #(nop)  <TEXT>`` with ``empty_layer``, as
the classic builder records a step that adds no layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wharf.base.times import now_rfc3339
from wharf.build import instructions as ins
from wharf.build.shell import expand
from wharf.errors import InvalidArgument, WharfError

DEFAULT_SHELL = ["/bin/sh", "-c"]


class BuildFailed(WharfError):
    """A step failed: the message is the stream's ``errorDetail`` (with ``code``, a RUN's exit
    code, as dockerd gives it)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class StageState:
    """Where a stage is: its image's config (the whole config object), the ARGs in scope and
    the values given to them, and the shell of its RUNs."""

    config: dict[str, Any]
    escape: str = "\\"
    args: dict[str, str | None] = field(default_factory=dict)  # declared in this stage
    build_args: dict[str, str] = field(default_factory=dict)  # --build-arg values
    meta: dict[str, str] = field(default_factory=dict)  # the ARGs before the first FROM, valued
    cmd_set: bool = False  # a CMD of this stage (an ENTRYPOINT resets only an inherited one)

    @property
    def section(self) -> dict[str, Any]:
        section: dict[str, Any] = self.config.setdefault("config", {})
        return section

    def shell(self) -> list[str]:
        return list(self.section.get("Shell") or DEFAULT_SHELL)

    def env(self) -> dict[str, str]:
        """The environment words expand in: the image's Env, then the ARGs in scope (an ENV of
        the same name wins over an ARG, as in BuildKit)."""
        out = self.arg_values()
        for e in self.section.get("Env") or []:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    def arg_values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, default in self.args.items():
            if name in self.build_args:
                out[name] = self.build_args[name]
            elif default is not None:
                out[name] = default
        return out

    def expand(self, word: str) -> str:
        return expand(word, self.env(), self.escape)


def set_env(env: list[str], key: str, value: str) -> list[str]:
    return [*(e for e in env if e.partition("=")[0] != key), f"{key}={value}"]


def _env(st: StageState, c: ins.Env) -> str:
    env = list(st.section.get("Env") or [])
    words = []
    for key, raw in c.pairs:
        value = st.expand(raw)
        env = set_env(env, st.expand(key), value)
        st.section["Env"] = env
        words.append(f"{key}={value}")
    return "ENV " + " ".join(words)


def _label(st: StageState, c: ins.Label) -> str:
    labels = dict(st.section.get("Labels") or {})
    words = []
    for key, raw in c.pairs:
        k, v = st.expand(key), st.expand(raw)
        labels[k] = v
        words.append(f"{k}={v}")
    st.section["Labels"] = labels
    return "LABEL " + " ".join(words)


def _arg(st: StageState, c: ins.Arg) -> str:
    """An ARG of the stage; one without a default takes the value of the ARG of that name
    before the first FROM, if any (a stage sees those only by declaring them again)."""
    words = []
    for key, default in c.pairs:
        st.args[key] = st.expand(default) if default is not None else st.meta.get(key)
        words.append(f"{key}={default}" if default is not None else key)
    return "ARG " + " ".join(words)


def _workdir(st: StageState, c: ins.Workdir) -> str:
    import posixpath

    path = st.expand(c.path)
    if not path.startswith("/"):
        path = posixpath.join(st.section.get("WorkingDir") or "/", path)
    st.section["WorkingDir"] = posixpath.normpath(path)
    return f"WORKDIR {st.section['WorkingDir']}"


def _user(st: StageState, c: ins.User) -> str:
    st.section["User"] = st.expand(c.user)
    return f"USER {st.section['User']}"


def _expose(st: StageState, c: ins.Expose) -> str:
    ports = dict(st.section.get("ExposedPorts") or {})
    for raw in c.ports:
        port = st.expand(raw)
        ports[port if "/" in port else f"{port}/tcp"] = {}
    st.section["ExposedPorts"] = ports
    return "EXPOSE " + " ".join(sorted(ports))


def _volume(st: StageState, c: ins.Volume) -> str:
    vols = dict(st.section.get("Volumes") or {})
    paths = [st.expand(p) for p in c.paths]
    for p in paths:
        if not p.strip():
            raise InvalidArgument("VOLUME specified can not be an empty string")
        vols[p] = {}
    st.section["Volumes"] = vols
    return f"VOLUME [{' '.join(paths)}]"


def _command(st: StageState, cmd: list[str], shell_form: bool) -> list[str]:
    return [*st.shell(), cmd[0]] if shell_form and cmd else list(cmd)


def _cmd(st: StageState, c: ins.Cmd) -> str:
    st.section["Cmd"] = _command(st, c.cmd, c.shell_form)
    return f"CMD {json.dumps(st.section['Cmd'])}"


def _entrypoint(st: StageState, c: ins.Entrypoint) -> str:
    st.section["Entrypoint"] = _command(st, c.cmd, c.shell_form) if c.cmd else None
    if not st.cmd_set:  # dockerd: ENTRYPOINT resets an inherited CMD
        st.section["Cmd"] = None
    return f"ENTRYPOINT {json.dumps(st.section['Entrypoint'] or [])}"


def _stopsignal(st: StageState, c: ins.StopSignal) -> str:
    st.section["StopSignal"] = st.expand(c.signal)
    return f"STOPSIGNAL {st.section['StopSignal']}"


def _healthcheck(st: StageState, c: ins.Healthcheck) -> str:
    hc: dict[str, Any] = {"Test": list(c.test)}
    for key, value in (("Interval", c.interval), ("Timeout", c.timeout), ("StartPeriod", c.start_period),
                       ("StartInterval", c.start_interval), ("Retries", c.retries)):  # fmt: skip
        if value:
            hc[key] = value
    st.section["Healthcheck"] = hc
    return "HEALTHCHECK " + json.dumps(hc["Test"])


def _shell(st: StageState, c: ins.Shell) -> str:
    st.section["Shell"] = list(c.shell)
    return f"SHELL [{' '.join(c.shell)}]"


def _onbuild(st: StageState, c: ins.Onbuild) -> str:
    st.section["OnBuild"] = [*(st.section.get("OnBuild") or []), c.expression]
    return f"ONBUILD {c.expression}"


def _maintainer(st: StageState, c: ins.Maintainer) -> str:
    st.config["author"] = st.expand(c.maintainer)
    return f"MAINTAINER {st.config['author']}"


HANDLERS: dict[type[ins.Command], Callable[[StageState, Any], str]] = {
    ins.Env: _env,
    ins.Label: _label,
    ins.Arg: _arg,
    ins.Workdir: _workdir,
    ins.User: _user,
    ins.Expose: _expose,
    ins.Volume: _volume,
    ins.Cmd: _cmd,
    ins.Entrypoint: _entrypoint,
    ins.StopSignal: _stopsignal,
    ins.Healthcheck: _healthcheck,
    ins.Shell: _shell,
    ins.Onbuild: _onbuild,
    ins.Maintainer: _maintainer,
}


def apply(st: StageState, c: ins.Command) -> str:
    """Apply a configuration-only instruction; returns its history text."""
    if isinstance(c, ins.Cmd):
        st.cmd_set = True
    return HANDLERS[type(c)](st, c)


def history_entry(st: StageState, text: str) -> dict[str, Any]:
    """The history entry of a configuration-only step, as the classic builder writes it."""
    created_by = " ".join(st.shell()) + " #(nop)  " + text
    return {"created": now_rfc3339(), "created_by": created_by, "empty_layer": True}
