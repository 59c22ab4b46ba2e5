"""The CLI's one mapping of errors to Docker's words and exit codes (wharf.cli.main)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.cli import main as cli
from wharf.cli.main import Exit, RunFailed, UsageError, error_text, exit_code_for, report
from wharf.client import APIError, DaemonUnreachable


@pytest.mark.parametrize(
    "exc,creates,code",
    [
        (Exit(3), False, 3),
        (UsageError("bad"), False, 125),
        (APIError(404, "No such container: x"), False, 1),
        (APIError(500, "boom"), True, 125),
        (DaemonUnreachable("Cannot connect"), False, 1),
        (DaemonUnreachable("Cannot connect"), True, 125),
        (RunFailed("No such image: x"), True, 125),
        (RunFailed('exec: "nope": executable file not found in $PATH', starting=True), True, 127),
        (RunFailed("open /x: no such file or directory", starting=True), True, 127),
        (RunFailed("exec /etc: permission denied", starting=True), True, 126),
        (RunFailed("read /bin: is a directory", starting=True), True, 126),
        (RunFailed("cgroup setup failed", starting=True), True, 125),
        (KeyboardInterrupt(), False, 130),
        (BrokenPipeError(), False, 0),
    ],
)
def test_exit_codes_are_dockers(exc: BaseException, creates: bool, code: int) -> None:
    assert exit_code_for(exc, creates) == code


def test_words_for_each_error() -> None:
    assert error_text(UsageError("bad flag"), "wharf ps") == "wharf: bad flag\nSee 'wharf ps --help'.\n"
    assert error_text(UsageError("unknown command: wharf x\nSee 'wharf --help'")) == (
        "wharf: unknown command: wharf x\nSee 'wharf --help'.\n"
    )
    assert error_text(APIError(409, "in use")) == "Error response from daemon: in use\n"
    assert error_text(RunFailed("in use")) == "wharf: Error response from daemon: in use\n"
    assert error_text(DaemonUnreachable("Cannot connect to the wharf daemon")) == (
        "Cannot connect to the wharf daemon\n"
    )
    assert error_text(Exit(2)) == error_text(KeyboardInterrupt()) == ""


def test_report_says_it_on_stderr_and_returns_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(APIError(404, "No such container: x")) == 1
    assert report(RunFailed("exec: not found; no such file or directory", starting=True)) == 127
    assert report(BrokenPipeError()) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Error response from daemon: No such container: x\n"
        "wharf: Error response from daemon: exec: not found; no such file or directory\n"
    )


def test_parser_errors_are_125_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    p = cli.parser("wharf container ls", "usage")
    p.add_argument("-a", action="store_true")
    with pytest.raises(Exit) as err:
        p.parse_args(["-a", "--nope", "extra"])
    assert err.value.code == 125
    assert capsys.readouterr().err == "wharf: unknown flag: --nope\nSee 'wharf container ls --help'.\n"


def test_main_unknown_commands_and_global_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nosuch"]) == 125
    assert capsys.readouterr().err == "wharf: unknown command: wharf nosuch\nSee 'wharf --help'.\n"
    assert cli.main(["volume", "nosuch"]) == 125
    assert capsys.readouterr().err == (
        "wharf: unknown command: wharf volume nosuch\nSee 'wharf volume --help'.\n"
    )
    assert cli.main(["--nope", "ps"]) == 125
    assert capsys.readouterr().err == "unknown flag: --nope\nSee 'wharf --help'.\n"


def test_main_daemon_unreachable_is_1_but_125_for_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"unix://{tmp_path}/none.sock"
    assert cli.main(["-H", host, "ps"]) == 1
    assert "Cannot connect to the wharf daemon" in capsys.readouterr().err
    assert cli.main(["-H", host, "run", "--rm", "alpine", "true"]) == 125
    assert "Cannot connect to the wharf daemon" in capsys.readouterr().err
    assert cli.main(["-H", host, "container", "create", "alpine"]) == 125


def test_main_usage_errors_name_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = f"unix://{tmp_path}/none.sock"
    assert cli.main(["-H", host, "container", "rename", "a", " "]) == 125
    assert capsys.readouterr().err == (
        "wharf: Neither old nor new names may be empty\nSee 'wharf container rename --help'.\n"
    )
    assert cli.main(["-H", host, "update", "c1"]) == 125
    assert "you must provide one or more flags" in capsys.readouterr().err


def test_every_command_resolves_to_a_function() -> None:
    import importlib

    targets = [(m, f) for m, f, _ in cli.COMMANDS.values()] + list(cli.HIDDEN.values())
    for mod, fn in targets:
        assert callable(getattr(importlib.import_module(f"wharf.cli.{mod}"), fn)), (mod, fn)
    for group, subs in cli.GROUPS.items():
        for sub, target in subs.items():
            assert target in cli.COMMANDS or target in cli.HIDDEN, (group, sub)
