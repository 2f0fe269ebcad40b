"""The CLI group: expected failures become one line and their own exit code."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from components.errors import SpecError
from latticework.cli import main
from latticework.cli._interrupts import forget_kept_interrupts, raise_if_interrupted
from latticework.errors import ExitCode, StackLockedError


@pytest.fixture
def failing_main() -> Iterator[click.Group]:
    """The real group with two extra commands that fail the expected ways."""

    @main.command("fail-spec", hidden=True)
    def fail_spec() -> None:
        raise SpecError("stacks/services.yaml", "services[0].port", "1-65535", "0", "Set port.")

    @main.command("fail-locked", hidden=True)
    def fail_locked() -> None:
        raise StackLockedError("stack dev is locked by another update")

    yield main
    main.commands.pop("fail-spec")
    main.commands.pop("fail-locked")


def test_spec_error_is_one_line_and_exit_2(failing_main: click.Group) -> None:
    """A bad spec prints the file, key path and fix on one line and exits 2."""
    result = CliRunner().invoke(failing_main, ["fail-spec"])

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().splitlines() == [
        "error: stacks/services.yaml: services[0].port: expected 1-65535, found 0. Set port."
    ]


def test_latticework_error_uses_its_own_exit_code(failing_main: click.Group) -> None:
    """Each LatticeworkError subclass exits with the code it declares, without a traceback."""
    result = CliRunner().invoke(failing_main, ["fail-locked"])

    assert result.exit_code == ExitCode.STACK_LOCKED
    assert "Traceback" not in result.output
    assert "locked by another update" in result.stderr


def _invoke_as_command(body: Callable[[], None], stdin: str | None = None) -> Result:
    """Run `body` as a hidden command of the real group, which is left as it was."""
    name = "temporary-test-command"
    main.command(name, hidden=True)(body)
    try:
        return CliRunner().invoke(main, [name], input=stdin)
    finally:
        main.commands.pop(name)


def test_a_declined_confirmation_has_its_own_exit_code() -> None:
    """Answering no to a prompt exits 8 with one line, never 1, which means a policy failed."""

    def confirm_something() -> None:
        click.confirm("Deploy?", abort=True)

    result = _invoke_as_command(confirm_something, stdin="n\n")

    assert result.exit_code == ExitCode.DECLINED
    assert "declined: nothing was changed" in result.stderr


class FinalizedWith:
    """An object whose finalizer raises `exception`, which Python can only print as ignored."""

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception

    def __del__(self) -> None:
        raise self.exception


def test_ctrl_c_lost_in_a_finalizer_ends_a_finished_command_as_interrupted() -> None:
    """A command that finishes after Ctrl-C was lost in a finalizer still exits 130, one line."""

    def lose_ctrl_c() -> None:
        FinalizedWith(KeyboardInterrupt())
        click.echo("finished")

    result = _invoke_as_command(lose_ctrl_c)

    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.stderr == "error: interrupted\n"


def test_a_failure_after_a_ctrl_c_lost_in_a_finalizer_keeps_its_own_exit_code() -> None:
    """A kept Ctrl-C never masks a failure: the command exits with the failure's code and line."""

    def lose_ctrl_c_then_fail() -> None:
        FinalizedWith(KeyboardInterrupt())
        raise StackLockedError("stack dev is locked by another update")

    result = _invoke_as_command(lose_ctrl_c_then_fail)

    assert result.exit_code == ExitCode.STACK_LOCKED
    assert result.stderr == "error: stack dev is locked by another update\n"


def test_a_kept_ctrl_c_the_command_stopped_on_is_not_raised_again() -> None:
    """Once `raise_if_interrupted` raised a kept Ctrl-C, a command that handles it ends as it
    decides (here with exit 0), as after an ordinary Ctrl-C."""

    def stop_on_ctrl_c() -> None:
        FinalizedWith(KeyboardInterrupt())
        try:
            raise_if_interrupted()
        except KeyboardInterrupt:
            click.echo("stopped")

    result = _invoke_as_command(stop_on_ctrl_c)

    assert result.exit_code == ExitCode.OK
    assert result.stdout == "stopped\n"


def test_forgotten_kept_ctrl_c_does_not_end_the_command_as_interrupted() -> None:
    """A command that handled a stop forgets the Ctrl-C kept meanwhile and ends as it decides."""

    def forget_ctrl_c() -> None:
        FinalizedWith(KeyboardInterrupt())
        forget_kept_interrupts()

    result = _invoke_as_command(forget_ctrl_c)

    assert result.exit_code == ExitCode.OK
    assert result.stderr == ""


def test_other_errors_in_a_finalizer_are_still_printed_as_ignored() -> None:
    """Only Ctrl-C is kept from the unraisable-exception hook; other errors reach it as before."""
    seen: list[type[BaseException]] = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)

    def fail_in_finalizer() -> None:
        FinalizedWith(ValueError("not an interrupt"))

    try:
        result = _invoke_as_command(fail_in_finalizer)
    finally:
        sys.unraisablehook = previous_hook

    assert result.exit_code == ExitCode.OK
    assert seen == [ValueError]


def _help_of(command: str) -> str:
    """`latticework COMMAND --help` with its lines joined, as a reader reads the wrapped text."""
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == ExitCode.OK, result.output
    return " ".join(result.stdout.split())


@pytest.mark.parametrize("command", ["plan", "check"])
def test_plan_and_check_help_name_every_exit_code_they_return(command: str) -> None:
    """The help lists the program-failure and Ctrl-C codes besides 0, 1 and 2."""
    help_text = _help_of(command)

    assert "2 on a usage or spec error" in help_text
    assert f"{int(ExitCode.PROGRAM_ERROR)} when the Pulumi program fails" in help_text
    assert f"{int(ExitCode.INTERRUPTED)} on Ctrl-C" in help_text


def test_rollout_help_says_a_changed_stack_file_also_blocks_resume() -> None:
    """The help names everything `--resume` compares: commit, catalog and stack files."""
    help_text = _help_of("rollout")

    assert "the commit, the catalog or the stack file of an environment" in help_text


@pytest.mark.parametrize("subcommand", ["validate", "test", "format"])
def test_authz_outside_any_project_names_the_missing_pulumi_yaml(
    subcommand: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`authz` run where no directory up holds Pulumi.yaml says so, as plan does."""
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["authz", subcommand])

    assert result.exit_code == ExitCode.USAGE
    assert "expected a Pulumi project (Pulumi.yaml)" in result.stderr
    assert "--project-dir" not in result.stderr
    assert "--authz-dir" in result.stderr


_RAISED_WHILE_LOADING = """
    # Ctrl-C arriving as a KeyboardInterrupt while the CLI's commands are being imported.
    def find_spec(self, name, path=None, target=None):
        if name == "latticework.cli.plan":
            raise KeyboardInterrupt
        return None
"""

_SIGINT_INSIDE_A_BARE_EXCEPT = """
    # A real Ctrl-C while the commands are imported, inside a library's bare `except` that
    # would turn a KeyboardInterrupt into an import error (as dill's does).
    def find_spec(self, name, path=None, target=None):
        if name == "latticework.cli.plan":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            except:
                raise ModuleNotFoundError("No module named 'version'")
        return None
"""


def _load_cli_with(finder: str) -> subprocess.CompletedProcess[str]:
    """Run `latticework --help` in a new interpreter whose imports go through `finder` (the
    body of a meta path finder class) first."""
    script = (
        "import os, signal, sys, time\n"
        f"class Interrupt:{finder}\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        'sys.argv = ["latticework", "--help"]\n'
        "from latticework._console import run\n"
        "run()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("finder", [_RAISED_WHILE_LOADING, _SIGINT_INSIDE_A_BARE_EXCEPT])
def test_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130(finder: str) -> None:
    """Ctrl-C before the CLI has loaded its commands ends without a traceback, even where a
    library's bare `except` would turn it into an import error."""
    result = _load_cli_with(finder)

    assert result.returncode == ExitCode.INTERRUPTED
    assert result.stderr == "error: interrupted\n"
    assert result.stdout == ""


def test_ctrl_c_while_the_process_exits_after_a_command_ends_it_by_the_signal() -> None:
    """Ctrl-C once the command is over (its output written) ends the process by the signal,
    status 130 to a shell, instead of a KeyboardInterrupt printed as ignored and exit 0."""
    script = (
        "import atexit, os, signal, time\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(1)))\n"
        'sys.argv = ["latticework", "--version"]\n'
        "from latticework._console import run\n"
        "run()\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", "import sys\n" + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == -signal.SIGINT, result.stderr
    assert result.stderr == ""
    assert "latticework" in result.stdout


def test_python_m_latticework_runs_the_cli() -> None:
    """`python -m latticework --help` lists the commands."""
    result = subprocess.run(
        [sys.executable, "-m", "latticework", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0
    assert "rollout" in result.stdout
