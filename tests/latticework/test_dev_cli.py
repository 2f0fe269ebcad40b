"""`latticework dev`: a port in use is a clear usage error; Ctrl-C stops everything."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from components.spec import load_spec
from latticework.cli import main
from latticework.dev import DevPaths, LocalTopology, build_topology, check_ports_free
from latticework.errors import ExitCode, UsageError

PROJECT_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The repository's stacks, authz and examples behind a project directory of its own, so
    the run's state (caller keys, lock) never touches a `latticework dev` the user runs."""
    for name in ("stacks", "authz", "examples"):
        (tmp_path / name).symlink_to(PROJECT_DIR / name, target_is_directory=True)
    return tmp_path


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    for line in process.stdout or ():
        lines.put(line)


def _is_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_port_in_use_names_the_port_its_purpose_and_the_option(busy_port: int) -> None:
    """The first taken port is named with what would listen there and how to move."""
    spec = load_spec("dev", stacks_dir=PROJECT_DIR / "stacks")
    topology = build_topology(spec, base_port=busy_port)

    with pytest.raises(UsageError) as raised:
        check_ports_free(topology)

    message = str(raised.value)
    assert f"port {busy_port} on 127.0.0.1" in message
    assert "Secrets Manager" in message
    assert "--base-port" in message


def test_cli_reports_a_port_in_use_as_a_usage_error(busy_port: int, project_copy: Path) -> None:
    """`latticework dev` exits 2 with one line when its base port is taken."""
    arguments = ["dev", "--base-port", str(busy_port), "--project-dir", str(project_copy)]

    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == ExitCode.USAGE
    assert f"port {busy_port}" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "assignment", ["AWS_SECRET_ACCESS_KEY=x", "LATTICEWORK_PEP_MODE=off", "lower=1", "no-equals"]
)
def test_service_env_refuses_reserved_or_malformed_names(assignment: str) -> None:
    """--service-env cannot override what the infrastructure sets, and never echoes a value."""
    arguments = ["dev", "--service-env", assignment, "--project-dir", str(PROJECT_DIR)]

    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == ExitCode.USAGE
    assert "--service-env" in result.stderr
    assert "=x" not in result.stderr
    assert "off" not in result.stderr


def test_base_port_too_high_is_a_usage_error() -> None:
    """A base port whose service ports would pass 65535 is refused before anything starts."""
    spec = load_spec("dev", stacks_dir=PROJECT_DIR / "stacks")

    with pytest.raises(UsageError, match="--base-port 65400"):
        build_topology(spec, base_port=65400)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_stops_every_server(stop_signal: signal.Signals, project_copy: Path) -> None:
    """Ctrl-C or SIGTERM ends `latticework dev` cleanly and frees every port it used."""
    command = [
        str(Path(sys.executable).with_name("latticework")),
        "dev",
        "--base-port",
        "0",
        "--project-dir",
        str(project_copy),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=project_copy
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        while not any("Ctrl-C stops everything" in line for line in output):
            output.append(lines.get(timeout=STARTUP_TIMEOUT_SECONDS))
        text = "".join(output)
        ports = [int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", text)]
        pids = [int(pid) for pid in re.findall(r"process (\d+); calls", text)]
        socket_dirs = re.findall(r"unix sockets in (\S+) ", text)

        secret_keys = [
            line.split("=", 1)[1].strip()
            for env_file in (project_copy / ".latticework" / "dev" / "callers").glob("*.env")
            for line in env_file.read_text().splitlines()
            if line.startswith("export AWS_SECRET_ACCESS_KEY=")
        ]

        process.send_signal(stop_signal)
        exit_code = process.wait(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
    reader.join(timeout=STOP_TIMEOUT_SECONDS)
    while not lines.empty():
        output.append(lines.get_nowait())

    assert exit_code == 0, "".join(output)
    assert output[-1].strip() == "stopped."
    assert not [line for line in output if line.startswith("INFO httpx")]
    assert len(ports) == 4
    assert not any(_is_listening(port) for port in ports)
    assert len(pids) == 3
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert len(socket_dirs) == 1
    assert not Path(socket_dirs[0]).exists()
    assert len(secret_keys) == 5
    assert not any(key in "".join(output) for key in secret_keys)


def test_dev_finds_the_project_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every other command, `dev` run in a subdirectory uses the project above it."""
    (tmp_path / "Pulumi.yaml").write_text("name: sample\n")
    nested = tmp_path / "docs"
    nested.mkdir()
    monkeypatch.chdir(nested)

    result = CliRunner().invoke(main, ["dev", "--base-port", "0"])

    # The project has no stacks/: the error must name the project's, not the subdirectory's.
    assert result.exit_code == ExitCode.USAGE
    assert f"{tmp_path.resolve() / 'stacks' / 'Pulumi.dev.yaml'}:" in result.stderr
    assert str(nested / "stacks") not in result.stderr


def test_dev_outside_any_project_names_the_missing_pulumi_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a project above the working directory, `dev` says so and names --project-dir."""
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["dev", "--base-port", "0"])

    assert result.exit_code == ExitCode.USAGE
    assert "expected a Pulumi project (Pulumi.yaml)" in result.stderr
    assert "--project-dir" in result.stderr


def test_dev_refuses_an_unknown_environment_like_every_command() -> None:
    """`dev --env` accepts the same environments as `plan --env`, and lists them."""
    result = CliRunner().invoke(main, ["dev", "--env", "production", "--project-dir", "."])

    assert result.exit_code == ExitCode.USAGE
    assert "'production' is not one of 'dev', 'staging', 'prod'" in result.stderr


class _ReceivesSignalWhenFinalized:
    """An object whose finalizer is where a stop signal lands: Python prints the
    `KeyboardInterrupt` raised there as "Exception ignored" and carries on."""

    def __init__(self, stop_signal: signal.Signals) -> None:
        self.stop_signal = stop_signal

    def __del__(self) -> None:
        signal.raise_signal(self.stop_signal)


class _StartingEnvironment:
    """A `DevEnvironment` stand-in whose start receives a stop signal in a finalizer, and then
    a real Ctrl-C as well when `also_interrupted`; `stops` records each stop."""

    def __init__(
        self, stop_signal: signal.Signals, *, also_interrupted: bool, stops: list[str]
    ) -> None:
        self.stop_signal = stop_signal
        self.also_interrupted = also_interrupted
        self.stops = stops

    def __call__(
        self, topology: LocalTopology, paths: DevPaths, **options: object
    ) -> _StartingEnvironment:
        """Stand in for the `DevEnvironment` constructor."""
        return self

    def start(self) -> None:
        _ReceivesSignalWhenFinalized(self.stop_signal)
        if self.also_interrupted:
            raise KeyboardInterrupt

    def dead_services(self) -> list[str]:
        return []

    def stop(self) -> None:
        self.stops.append("stopped")


class _SignalledWhileStopping(_StartingEnvironment):
    """A stand-in whose stop receives the stop signal again halfway, as a supervisor that
    repeats SIGTERM (or an impatient second Ctrl-C) would send it."""

    def start(self) -> None:
        raise KeyboardInterrupt

    def stop(self) -> None:
        signal.raise_signal(self.stop_signal)
        self.stops.append("stopped")


@pytest.mark.parametrize(
    ("stand_in", "also_interrupted"),
    [
        (_StartingEnvironment, False),
        (_StartingEnvironment, True),
        (_SignalledWhileStopping, False),
    ],
    ids=["lost", "lost-then-real", "again-while-stopping"],
)
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_lost_in_a_finalizer_or_repeated_still_stops_dev_with_exit_0(
    stop_signal: signal.Signals,
    stand_in: type[_StartingEnvironment],
    also_interrupted: bool,
    project_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C or SIGTERM that Python could only print as ignored stops `dev` as one that lands
    elsewhere does; one repeated while `dev` stops its services is ignored (cutting the stop
    short would leave processes behind); the clean stop exits 0, not 130."""
    stops: list[str] = []
    environment = stand_in(stop_signal, also_interrupted=also_interrupted, stops=stops)
    monkeypatch.setattr("latticework.cli.dev.DevEnvironment", environment)

    result = CliRunner().invoke(
        main, ["dev", "--base-port", "0", "--project-dir", str(project_copy)]
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert stops == ["stopped"]
    assert result.stdout.endswith("stopping ...\nstopped.\n")
    assert "Ctrl-C stops everything" not in result.stdout
    assert result.stderr == ""
