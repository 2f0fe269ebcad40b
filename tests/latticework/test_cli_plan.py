"""`latticework plan` through click's runner and once as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from latticework.cli import main
from latticework.cli._output import check_output, write_atomically
from latticework.cli.plan import build_plan, find_project_dir
from latticework.errors import ExitCode, UsageError
from latticework.plan import Plan

_REPO = Path(__file__).resolve().parents[2]
_SCHEMA = json.loads((_REPO / "docs" / "plan.schema.json").read_text())


def _plan(*arguments: str) -> Result:
    return CliRunner().invoke(main, ["plan", "--project-dir", str(_REPO), *arguments])


@pytest.fixture(scope="module")
def dev_json() -> str:
    """`latticework plan --env dev --format json` of the repository's project, run once."""
    result = _plan("--env", "dev", "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    return result.stdout


def _catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    catalog = tmp_path / "services.yaml"
    text = (_REPO / "stacks" / "services.yaml").read_text()
    assert old in text
    catalog.write_text(text.replace(old, new, 1))
    return catalog


def test_json_format_follows_the_documented_schema(dev_json: str) -> None:
    """The dev plan in JSON validates against docs/plan.schema.json and names its stack."""
    document = json.loads(dev_json)

    jsonschema.validate(document, _SCHEMA)
    assert (document["environment"], document["region"]) == ("dev", "eu-west-1")
    assert document["summary"]["resources"] > 0


def test_json_format_names_every_catalog_service(dev_json: str) -> None:
    """The plan's call graph lists the sample catalog's three services."""
    document = json.loads(dev_json)

    assert [service["name"] for service in document["services"]] == [
        "inventory",
        "orders",
        "payments",
    ]


def test_table_format_prints_a_tree_with_counts() -> None:
    """The default format prints the component tree and the counts by type."""
    result = _plan("--env", "dev")

    assert result.exit_code == ExitCode.OK, result.output
    assert "latticework:components:Environment" in result.stdout
    assert "Resources by type" in result.stdout


def test_mermaid_format_draws_the_call_graph() -> None:
    """The Mermaid format shows orders calling payments and payments reading its secrets."""
    result = _plan("--env", "staging", "--format", "mermaid")

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith("flowchart LR\n")
    assert "  svc_orders -->|invokes| svc_payments" in result.stdout
    assert "  svc_payments -.->|reads| secret_payments__database" in result.stdout


def test_output_writes_the_report_to_a_file(tmp_path: Path, dev_json: str) -> None:
    """--output writes the same JSON that stdout gets, leaving no temporary file behind."""
    target = tmp_path / "plan.json"

    result = _plan("--env", "dev", "--format", "json", "--output", str(target))

    assert result.exit_code == ExitCode.OK, result.output
    assert target.read_text() == dev_json
    assert result.stdout == ""
    assert [path.name for path in tmp_path.iterdir()] == ["plan.json"]


def test_output_is_untouched_when_the_plan_fails(tmp_path: Path) -> None:
    """A failing plan leaves an existing --output file exactly as it was."""
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")
    catalog = _catalog_with(tmp_path, "port: 8080", "port: 0")

    result = _plan("--env", "dev", "--services", str(catalog), "--output", str(target))

    assert result.exit_code == ExitCode.USAGE
    assert target.read_text() == "previous plan\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan.json", "services.yaml"]


@pytest.mark.parametrize("command", ["plan", "check"])
def test_output_in_a_missing_directory_is_a_usage_error(command: str, tmp_path: Path) -> None:
    """--output into a directory that does not exist exits 2 and names the directory."""
    target = tmp_path / "missing" / "plan.json"

    result = CliRunner().invoke(
        main,
        [command, "--env", "dev", "--project-dir", str(_REPO), "--output", str(target)],
    )

    assert result.exit_code == ExitCode.USAGE
    assert str(tmp_path / "missing") in result.stderr
    assert not target.parent.exists()


@pytest.mark.parametrize("command", ["plan", "check"])
def test_output_where_no_file_can_be_written_is_one_line_and_exit_2(command: str) -> None:
    """--output in a directory that refuses new files exits 2 naming the path and the reason."""
    # No file can be created in /proc, whoever runs the tests (root included).
    target = Path("/proc/plan.json")

    result = CliRunner().invoke(
        main,
        [command, "--env", "dev", "--project-dir", str(_REPO), "--output", str(target)],
    )

    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --output {target}: expected a path where a file can be")
    assert "(No such file or directory)" in line
    assert "Choose a path in a directory you can write to" in line


@pytest.mark.parametrize(
    "failure",
    [PermissionError(13, "Permission denied"), OSError(28, "No space left on device")],
    ids=["permission", "disk-full"],
)
def test_a_failed_write_is_a_usage_error_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError
) -> None:
    """A directory that refuses the temporary file is reported with the path and the reason."""
    target = tmp_path / "plan.json"

    def refuse(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise failure

    monkeypatch.setattr(tempfile, "mkstemp", refuse)

    with pytest.raises(UsageError, match=rf"--output {target}: .*\({failure.strerror}\)"):
        write_atomically(target, "new plan\n")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["plan", "check"])
def test_empty_output_is_a_usage_error_naming_the_option(command: str) -> None:
    """--output '' exits 2 saying the path is empty, not that writing in `.` fails."""
    result = CliRunner().invoke(
        main, [command, "--env", "dev", "--project-dir", str(_REPO), "--output", ""]
    )

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--output" in result.stderr
    assert "empty" in result.stderr
    assert "busy" not in result.stderr


def _read_in_background(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    """A daemon thread reading `fifo` to its end, and the list its content lands in."""
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as reader:
            received.append(reader.read())

    reader_thread = threading.Thread(target=read, daemon=True)
    reader_thread.start()
    return reader_thread, received


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    """A symlinked --output keeps the link; its target, in another directory, gets the report
    through a temporary file beside the target, and neither directory keeps a temporary."""
    reports = tmp_path / "reports"
    reports.mkdir()
    target = reports / "plan.json"
    target.write_text("previous plan\n")
    link = tmp_path / "latest.json"
    link.symlink_to(target)

    write_atomically(link, "new plan\n")

    assert link.is_symlink()
    assert link.readlink() == target
    assert target.read_text() == "new plan\n"
    assert [path.name for path in reports.iterdir()] == ["plan.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest.json", "reports"]


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    """A symlink to a file not yet written keeps the link and creates the file it names."""
    target = tmp_path / "plan.json"
    link = tmp_path / "latest.json"
    link.symlink_to(target.name)

    write_atomically(link, "new plan\n")

    assert link.is_symlink()
    assert target.read_text() == "new plan\n"


@pytest.mark.parametrize("command", ["plan", "check"])
def test_a_symlinked_output_keeps_the_link(command: str, tmp_path: Path) -> None:
    """`plan` and `check` write through a symlinked --output without replacing the link."""
    target = tmp_path / "report.txt"
    target.write_text("previous report\n")
    link = tmp_path / "latest.txt"
    link.symlink_to(target)

    result = CliRunner().invoke(
        main, [command, "--env", "dev", "--project-dir", str(_REPO), "--output", str(link)]
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert link.is_symlink()
    assert target.read_text() != "previous report\n"


def test_output_to_a_fifo_writes_into_it_and_keeps_it(tmp_path: Path) -> None:
    """A named pipe gets the report written straight into it; it stays a pipe, and no file is
    created beside it."""
    fifo = tmp_path / "plan.pipe"
    os.mkfifo(fifo)
    reader_thread, received = _read_in_background(fifo)

    write_atomically(fifo, "new plan\n")
    reader_thread.join(timeout=10)

    assert received == [b"new plan\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [path.name for path in tmp_path.iterdir()] == ["plan.pipe"]


@pytest.mark.parametrize("command", ["plan", "check"])
def test_a_fifo_output_gets_the_report_of_the_command(command: str, tmp_path: Path) -> None:
    """`plan` and `check` with --output on a named pipe write the report into the pipe."""
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    reader_thread, received = _read_in_background(fifo)

    result = CliRunner().invoke(
        main,
        [command, "--env", "dev", "--project-dir", str(_REPO), "--output", str(fifo)],
    )
    reader_thread.join(timeout=10)

    assert result.exit_code == ExitCode.OK, result.output
    assert received[0].strip()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_checking_a_fifo_output_neither_opens_it_nor_creates_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-check of a pipe (as of /dev/stdout) only asks whether it may be written: no
    temporary file beside it, where a user may not write, and no open a reader would see."""
    fifo = tmp_path / "plan.pipe"
    os.mkfifo(fifo)

    def refuse(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)

    check_output(fifo)

    assert [path.name for path in tmp_path.iterdir()] == ["plan.pipe"]


@pytest.mark.parametrize("report", [write_atomically, lambda path, _text: check_output(path)])
def test_a_directory_at_the_output_path_is_named_as_such(report: object, tmp_path: Path) -> None:
    """A directory (or a symlink to one) where the report belongs is a clear usage error."""
    directory = tmp_path / "reports"
    directory.mkdir()
    link = tmp_path / "latest"
    link.symlink_to(directory)

    for path in (directory, link):
        with pytest.raises(
            UsageError, match=rf"--output {path}: expected a file, found a directory"
        ):
            report(path, "new plan\n")  # type: ignore[operator]

    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest", "reports"]


def test_a_socket_at_the_output_path_is_refused_and_kept(tmp_path: Path) -> None:
    """A socket cannot take a report: it is refused by name and never replaced by a file."""
    path = tmp_path / "s"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))

    try:
        with pytest.raises(UsageError, match=rf"--output {path}: expected a file.*found a socket"):
            write_atomically(path, "new plan\n")
    finally:
        listener.close()

    assert stat.S_ISSOCK(path.lstat().st_mode)


_LATTICEWORK = _REPO / ".venv" / "bin" / "latticework"


@pytest.mark.parametrize("output", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"])
def test_output_to_standard_output_appends_where_the_shell_redirected_it(
    output: str, tmp_path: Path, dev_json: str
) -> None:
    """--output naming standard output (`-` included) writes into the descriptor the shell set
    up (`>>` here): what the file held stays, the report follows it, and no file is made."""
    log = tmp_path / "log.txt"
    log.write_text("old\n")
    inode = log.stat().st_ino

    arguments = ["--env", "dev", "--project-dir", str(_REPO), "--format", "json"]

    with open(log, "a", encoding="utf-8") as redirected:
        completed = subprocess.run(
            [str(_LATTICEWORK), "plan", *arguments, "--output", output],
            cwd=tmp_path,
            stdout=redirected,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )

    assert completed.returncode == ExitCode.OK, completed.stderr
    assert log.read_text() == "old\n" + dev_json
    assert log.stat().st_ino == inode
    assert [path.name for path in tmp_path.iterdir()] == ["log.txt"]


def test_a_dash_in_a_path_still_names_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only `-` itself means standard output: `--output ./-` writes a file named `-`."""
    monkeypatch.chdir(tmp_path)

    result = _plan("--env", "dev", "--format", "json", "--output", "./-")

    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads((tmp_path / "-").read_text())["environment"] == "dev"


def _proc_fd(descriptor: int) -> Path:
    """/proc/self/fd/N for a descriptor of this process, or a skip where /proc is missing."""
    path = Path(f"/proc/self/fd/{descriptor}")
    if not path.exists():
        pytest.skip("needs /proc/self/fd")
    return path


def test_a_held_descriptor_is_written_in_place(tmp_path: Path) -> None:
    """/proc/self/fd/N writes through descriptor N at its offset: no open, no rename, and
    the descriptor stays open for what follows."""
    log = tmp_path / "log.txt"
    log.write_text("header\n")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)

    try:
        path = _proc_fd(descriptor)
        check_output(path)
        write_atomically(path, "new plan\n")
        os.write(descriptor, b"footer\n")
    finally:
        os.close(descriptor)

    assert log.read_text() == "header\nnew plan\nfooter\n"
    assert [path.name for path in tmp_path.iterdir()] == ["log.txt"]


def test_a_symlink_to_a_held_descriptor_is_written_through_it(tmp_path: Path) -> None:
    """A symlink to /proc/self/fd/N is followed only that far: descriptor N gets the report,
    and neither the link nor the file behind the descriptor is replaced."""
    log = tmp_path / "log.txt"
    log.write_text("header\n")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)
    link = tmp_path / "latest.txt"

    try:
        link.symlink_to(_proc_fd(descriptor))
        write_atomically(link, "new plan\n")
    finally:
        os.close(descriptor)

    assert log.read_text() == "header\nnew plan\n"
    assert link.is_symlink()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest.txt", "log.txt"]


@pytest.mark.parametrize("report", [write_atomically, lambda path, _text: check_output(path)])
def test_a_descriptor_not_open_for_writing_is_a_usage_error(report: object, tmp_path: Path) -> None:
    """A descriptor open only for reading is refused by name and its file is left as it was."""
    log = tmp_path / "log.txt"
    log.write_text("previous plan\n")
    descriptor = os.open(log, os.O_RDONLY)

    try:
        path = _proc_fd(descriptor)
        with pytest.raises(UsageError, match=rf"--output {path}: expected a descriptor open for"):
            report(path, "new plan\n")  # type: ignore[operator]
    finally:
        os.close(descriptor)

    assert log.read_text() == "previous plan\n"


def test_a_closed_descriptor_is_a_usage_error() -> None:
    """/proc/self/fd/N for a descriptor this process does not hold is refused, not created."""
    descriptor, name = tempfile.mkstemp()
    os.close(descriptor)
    os.unlink(name)
    path = Path(f"/proc/self/fd/{descriptor}")

    with pytest.raises(UsageError, match=rf"--output {path}: .*not open"):
        check_output(path)


@pytest.mark.parametrize("command", ["plan", "check"])
@pytest.mark.parametrize("suffix", ["/", "/."])
def test_a_directory_path_is_refused_before_any_file_is_made(
    command: str, suffix: str, tmp_path: Path
) -> None:
    """--output newname/ names a directory: exit 2 naming --output, and no file `newname`."""
    target = tmp_path / "newname"

    result = CliRunner().invoke(
        main,
        [command, "--env", "dev", "--project-dir", str(_REPO), "--output", f"{target}{suffix}"],
    )

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--output" in result.stderr
    assert "names a directory" in result.stderr
    assert f"{target}/plan.json" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_rewriting_a_report_keeps_its_permission_bits(tmp_path: Path) -> None:
    """A private (0600) report stays private when a new report replaces it."""
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")
    target.chmod(0o600)

    write_atomically(target, "new plan\n")

    assert target.read_text() == "new plan\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_new_report_gets_the_mode_of_a_plain_open(tmp_path: Path) -> None:
    """A report where no file was gets 0666 less the umask, as `open()` would create it."""
    target = tmp_path / "plan.json"
    previous_umask = os.umask(0o027)

    try:
        write_atomically(target, "new plan\n")
    finally:
        os.umask(previous_umask)

    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_unknown_environment_is_a_usage_error() -> None:
    """--env accepts only dev, staging and prod."""
    result = _plan("--env", "qa")

    assert result.exit_code == ExitCode.USAGE
    assert "'qa' is not one of 'dev', 'staging', 'prod'" in result.stderr


def test_bad_services_file_names_the_file_and_key(tmp_path: Path) -> None:
    """A catalog with an invalid port exits 2 with the file and key path on one line."""
    catalog = _catalog_with(tmp_path, "port: 8080", "port: 0")

    result = _plan("--env", "dev", "--services", str(catalog))

    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {catalog}: services[orders].port: expected")


def test_missing_services_file_is_a_usage_error(tmp_path: Path) -> None:
    """--services naming no file exits 2 and names the path."""
    missing = tmp_path / "nowhere.yaml"

    result = _plan("--env", "dev", "--services", str(missing))

    assert result.exit_code == ExitCode.USAGE
    assert str(missing) in result.stderr


def test_a_failing_program_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """A program that raises prints its own message, no traceback, and exits 3."""
    shutil.copytree(_REPO / "stacks", tmp_path / "stacks")
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('no cluster for this stack')\n")

    result = CliRunner().invoke(main, ["plan", "--env", "dev", "--project-dir", str(tmp_path)])

    assert result.exit_code == ExitCode.PROGRAM_ERROR
    assert "no cluster for this stack" in result.stderr
    assert "Traceback" not in result.output


def test_real_subprocess_gives_the_same_json(dev_json: str) -> None:
    """`python -m latticework plan` in a fresh process (other hash seed) prints the same JSON."""
    environment = {**os.environ, "PYTHONHASHSEED": "1234"}

    completed = subprocess.run(
        [sys.executable, "-m", "latticework", "plan", "--env", "dev", "--format", "json"],
        cwd=_REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == ExitCode.OK, completed.stderr
    assert completed.stdout == dev_json


def test_the_project_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    """Without --project-dir, the nearest directory above holding Pulumi.yaml is the project."""
    (tmp_path / "Pulumi.yaml").write_text("name: sample\n")
    nested = tmp_path / "stacks" / "deeper"
    nested.mkdir(parents=True)

    found = find_project_dir(nested)

    assert found == tmp_path.resolve()


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the final rename fails, the old report stays, the temporary file is removed and
    the error names the path and the reason."""
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")

    def refuse(_source: object, _destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)

    with pytest.raises(UsageError, match=rf"--output {target}: .*No space left on device"):
        write_atomically(target, "new plan\n")

    assert [path.name for path in tmp_path.iterdir()] == ["plan.json"]
    assert target.read_text() == "previous plan\n"


@pytest.mark.parametrize("command", ["plan", "check"])
def test_outside_any_project_names_the_missing_pulumi_yaml(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run where no directory up holds Pulumi.yaml, the error says so and names --project-dir."""
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, [command, "--env", "dev"])

    assert result.exit_code == ExitCode.USAGE
    [line] = result.stderr.strip().splitlines()
    assert f"error: {tmp_path.resolve()}: expected a Pulumi project (Pulumi.yaml)" in line
    assert "--project-dir" in line


def test_a_piped_table_cuts_no_resource_type() -> None:
    """Piped or redirected (not a terminal), the table is as wide as --output's: no type is cut."""
    long_type = "aws:vpclattice/serviceNetworkServiceAssociation:ServiceNetworkServiceAssociation"

    result = _plan("--env", "dev")

    assert result.exit_code == ExitCode.OK, result.output
    assert long_type in result.stdout
    assert "…" not in result.stdout


def _project_with_policies(tmp_path: Path, policies_block: str) -> Path:
    """A copy of the repository's project whose dev stack ends with `policies_block`."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(_REPO / name, project / name)
    for name in ("stacks", "authz"):
        shutil.copytree(_REPO / name, project / name)
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + policies_block)
    return project


_INVALID_POLICIES = "  latticework:policies:\n    rotationMaxDay: 90\n    dbPassword: hunter2\n"


@pytest.mark.parametrize("report_format", ["table", "json", "mermaid"])
def test_an_invalid_policies_block_stops_before_any_report(
    tmp_path: Path, report_format: str
) -> None:
    """A bad latticework:policies block exits 2 with one line and prints no report."""
    project = _project_with_policies(tmp_path, _INVALID_POLICIES)

    result = CliRunner().invoke(
        main, ["plan", "--env", "dev", "--format", report_format, "--project-dir", str(project)]
    )

    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "config.latticework:policies.rotationMaxDay: expected" in line
    assert "hunter2" not in result.output


def test_an_invalid_policies_block_leaves_output_untouched(tmp_path: Path) -> None:
    """With --output, a bad latticework:policies block neither writes nor announces a file."""
    project = _project_with_policies(tmp_path, _INVALID_POLICIES)
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")

    result = CliRunner().invoke(
        main,
        [
            *("plan", "--env", "dev", "--format", "json"),
            *("--output", str(target), "--project-dir", str(project)),
        ],
    )

    assert result.exit_code == ExitCode.USAGE
    assert "wrote" not in result.stderr
    assert target.read_text() == "previous plan\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan.json", "project"]


def test_a_valid_policies_block_is_reported_as_configured(tmp_path: Path) -> None:
    """A valid latticework:policies block appears in the plan's config exactly as validated."""
    project = _project_with_policies(
        tmp_path,
        '  latticework:policies:\n    rotationMaxDays: 30\n    secretNamePatterns: ["^LICENSE_"]\n',
    )

    result = CliRunner().invoke(
        main, ["plan", "--env", "dev", "--format", "json", "--project-dir", str(project)]
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)["config"]["latticework:policies"] == {
        "rotationMaxDays": 30,
        "secretNamePatterns": ["^LICENSE_"],
    }


_PROGRAM_CONSTRUCTING = "latticework-test: the program is constructing its resources"
_PROGRAM_REGISTERED = "latticework-test: the program registered its resources"
_INTERRUPT_SERVICES = 60
"""Services in the catalog of the Ctrl-C tests: enough that each phase of the program lasts
about a second, so the interrupt lands inside it even on a slow machine."""

# Runs the sample program, saying on stderr when its 100th resource is being constructed and
# when its synchronous part (every resource constructed, none resolved yet) has ended.
_MARKING_PROGRAM = f"""\
import runpy

import pulumi

constructed = 0
construct = pulumi.Resource.__init__


def count_and_construct(resource, *args, **kwargs):
    global constructed
    constructed += 1
    if constructed == 100:
        print({_PROGRAM_CONSTRUCTING!r}, flush=True)
    construct(resource, *args, **kwargs)


pulumi.Resource.__init__ = count_and_construct
runpy.run_path("sample_program.py", run_name="__main__")
print({_PROGRAM_REGISTERED!r}, flush=True)
"""


def _project_with_markers(tmp_path: Path) -> Path:
    """A copy of the project whose program marks its phases on stderr, with a big catalog."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(_REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copy2(_REPO / "__main__.py", project / "sample_program.py")
    for name in ("stacks", "authz"):
        shutil.copytree(_REPO / name, project / name)
    (project / "__main__.py").write_text(_MARKING_PROGRAM)
    lines = ["services:"]
    for index in range(_INTERRUPT_SERVICES):
        lines += [f"  - name: s{index}", "    image: public.ecr.aws/x/a:1.0"]
        lines += ["    port: 8080", "    cpu: 256", "    memory: 512"]
    (project / "big-catalog.yaml").write_text("\n".join(lines) + "\n")
    return project


def _restore_default_sigint() -> None:
    # A child of a shell's background job inherits an ignored SIGINT; Python then installs
    # no KeyboardInterrupt handler at all. Start from the default, as a terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "marker",
    [_PROGRAM_CONSTRUCTING, _PROGRAM_REGISTERED],
    ids=["while-resources-are-constructed", "while-resources-resolve"],
)
def test_ctrl_c_during_the_program_exits_130_and_writes_nothing(
    tmp_path: Path, marker: str
) -> None:
    """Ctrl-C in either phase of the program exits 130 with one line; --output is untouched."""
    project = _project_with_markers(tmp_path)
    target = tmp_path / "plan.json"
    target.write_text("previous plan\n")
    command = [sys.executable, "-m", "latticework", "plan", "--env", "dev"]
    command += ["--services", "big-catalog.yaml", "--format", "json", "--output", str(target)]
    child = subprocess.Popen(
        command,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_restore_default_sigint,
    )
    assert child.stderr is not None
    seen: list[str] = []
    for line in child.stderr:
        seen.append(line)
        if line.strip() == marker:
            break

    child.send_signal(signal.SIGINT)
    try:
        _, rest = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("the plan neither finished nor stopped within 120 s of Ctrl-C")

    assert marker in "".join(seen), "".join(seen)
    assert child.returncode == ExitCode.INTERRUPTED, rest
    assert rest.strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in rest
    assert target.read_text() == "previous plan\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan.json", "project"]


class _ReceivesCtrlCWhenFinalized:
    """An object whose finalizer is where Ctrl-C lands: Python prints a `KeyboardInterrupt`
    raised there as "Exception ignored" and carries on."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("command", ["plan", "check"])
@pytest.mark.parametrize("report_format", ["table", "json"])
def test_ctrl_c_inside_a_finalizer_after_the_plan_exits_130_and_prints_no_report(
    command: str, report_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C that Python can only report as ignored still ends the command as interrupted,
    with one line and before any report."""
    real_build_plan = build_plan

    def build_plan_then_ctrl_c(*args: Any, **kwargs: Any) -> Plan:
        plan = real_build_plan(*args, **kwargs)
        _ReceivesCtrlCWhenFinalized()
        return plan

    monkeypatch.setattr(f"latticework.cli.{command}.build_plan", build_plan_then_ctrl_c)

    result = CliRunner().invoke(
        main, [command, "--env", "dev", "--format", report_format, "--project-dir", str(_REPO)]
    )

    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert result.stdout == ""
    assert result.stderr == "error: interrupted\n"
