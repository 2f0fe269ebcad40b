"""Start and stop the whole local request path: Secrets Manager, services, gateway.

`DevEnvironment` is a context manager. On entry it checks every port, starts moto's server
in-process and seeds one generated value per catalog secret, starts each example service as
its own process with the container environment the infrastructure would give it (PEP in
local Cedar mode on `authz/`, loopback peer URLs that point at the gateway), starts the
gateway, and waits until every service answers its health route. On exit it stops all of
them, whatever happened in between.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import boto3
import httpx

from components.naming import secret_env_var, service_url_env_var
from latticework.dev._gateway import GatewayConfig, LatticeGateway, ServiceRoute, open_listener
from latticework.dev._topology import LOOPBACK, LocalService, LocalTopology, check_ports_free
from latticework.errors import ProgramError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
_POLL_INTERVAL_SECONDS = 0.1
_LOG_TAIL_LINES = 40
_MOTO_ACCOUNT_VARIABLE = "MOTO_ACCOUNT_ID"
_LOCK_FILE = "lock"

LogSink = Callable[[str, str], None]
"""Receives each output line of a service process: (service name, line)."""


@dataclass(frozen=True, slots=True)
class DevPaths:
    """Where the launcher finds the example services and the Cedar files."""

    project_dir: Path
    examples_dir: Path
    authz_dir: Path
    state_dir: Path

    @classmethod
    def for_project(cls, project_dir: Path) -> DevPaths:
        """The standard layout of a latticework project."""
        return cls(
            project_dir=project_dir,
            examples_dir=project_dir / "examples",
            authz_dir=project_dir / "authz",
            state_dir=project_dir / ".latticework" / "dev",
        )


@dataclass
class _ServiceProcess:
    service: LocalService
    process: subprocess.Popen[str]
    output: deque[str] = field(default_factory=lambda: deque(maxlen=_LOG_TAIL_LINES))
    reader: threading.Thread | None = None


class DevEnvironment:
    """The local request path of one environment, running until closed."""

    def __init__(
        self,
        topology: LocalTopology,
        paths: DevPaths,
        *,
        log_sink: LogSink | None = None,
        extra_service_env: Mapping[str, str] | None = None,
    ) -> None:
        self.topology = topology
        self.paths = paths
        self._log_sink = log_sink
        self._extra_service_env = dict(extra_service_env or {})
        self._stack = ExitStack()
        self._processes: list[_ServiceProcess] = []
        self.secret_arns: dict[str, dict[str, str]] = {}
        self.socket_dir: Path | None = None
        """The private directory of the services' unix sockets, while the environment runs."""

    def __enter__(self) -> DevEnvironment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything and wait until every service is healthy."""
        self._hold_state_dir()
        self._check_layout()
        check_ports_free(self.topology)
        self._start_secrets_manager()
        self._seed_secrets()
        self._make_socket_dir()
        for service in self.topology.services:
            self._start_service(service)
        self._start_gateway()
        self._wait_until_healthy()
        self._write_caller_files()

    def stop(self) -> None:
        """Stop every process and server this environment started."""
        for running in self._processes:
            _terminate(running.process)
        for running in self._processes:
            if running.reader is not None:
                running.reader.join(timeout=STOP_TIMEOUT_SECONDS)
        self._processes.clear()
        self._stack.close()

    def secrets_client(self) -> SecretsManagerClient:
        """A boto3 Secrets Manager client for the local moto server (for seeding, rotation)."""
        return boto3.client(
            "secretsmanager",
            region_name=self.topology.region,
            endpoint_url=self.topology.secrets_endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )

    def service_env(self, service: LocalService) -> dict[str, str]:
        """The container environment of `service`, as `MeshService` sets it, for loopback."""
        topology = self.topology
        environment = {
            "LATTICEWORK_SERVICE_NAME": service.name,
            "LATTICEWORK_ENVIRONMENT": topology.env,
            "LATTICEWORK_POLICY_STORE_ID": "local",
            "LATTICEWORK_PEP_MODE": "local",
            "LATTICEWORK_BEHIND_LATTICE": "true",
            "LATTICEWORK_CALLER_ROLES": json.dumps(topology.caller_roles(service), sort_keys=True),
            "LATTICEWORK_PEP_CONFIG": str(self.paths.examples_dir / service.name / "pep.yaml"),
            "AWS_REGION": topology.region,
            "AWS_DEFAULT_REGION": topology.region,
            # The service's task role, as the ECS container credentials would provide it.
            "AWS_ACCESS_KEY_ID": service.credential.access_key_id,
            "AWS_SECRET_ACCESS_KEY": service.credential.secret_access_key,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": topology.secrets_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
        environment.update(dict(service.spec.environment))
        for secret_name, secret_arn in self.secret_arns.get(service.name, {}).items():
            environment[secret_env_var(secret_name)] = secret_arn
        for peer in service.peers:
            environment[service_url_env_var(peer)] = topology.service(peer).gateway_url
        environment.update(self._extra_service_env)
        return environment

    def _hold_state_dir(self) -> None:
        """Lock the state directory for this run: a second run would replace the caller keys.

        The lock is an advisory `flock` on `<state dir>/lock`, released when the environment
        stops or, if it is killed, by the kernel when its process ends.
        """
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.paths.state_dir / _LOCK_FILE
        lock_file = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            message = (
                f"another `latticework dev` (process {holder}) is running for "
                f"{self.paths.project_dir} and holds {lock_path}; stop it with Ctrl-C first "
                "(its caller keys in callers/ are the ones its gateway accepts)"
            )
            raise UsageError(message) from None

        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._stack.callback(lock_file.close)

    def _check_layout(self) -> None:
        if not (self.paths.authz_dir / "schema.json").is_file():
            message = (
                f"{self.paths.authz_dir}: expected the Cedar files (schema.json), found none; "
                "run `latticework dev` from the project directory or pass --project-dir"
            )
            raise UsageError(message)

        for service in self.topology.services:
            app_file = self.paths.examples_dir / service.name / "app.py"
            if not app_file.is_file():
                message = (
                    f"{app_file}: expected the example app of catalog service "
                    f"{service.name!r}, found nothing; add examples/{service.name}/app.py "
                    "or remove the service from the catalog"
                )
                raise UsageError(message)

    def _start_secrets_manager(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request moto serves; the services' own logs say enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # NOTE: moto's server takes the account of the ARNs it makes from this variable, read
        # per request; it is process-wide, so it is put back when the environment stops.
        previous_account = os.environ.get(_MOTO_ACCOUNT_VARIABLE)
        os.environ[_MOTO_ACCOUNT_VARIABLE] = self.topology.account_id
        self._stack.callback(_restore_variable, _MOTO_ACCOUNT_VARIABLE, previous_account)
        server = ThreadedMotoServer(
            ip_address=LOOPBACK, port=self.topology.secrets_port, verbose=False
        )
        server.start()
        self._stack.callback(server.stop)

    def _seed_secrets(self) -> None:
        client = self.secrets_client()
        for service in self.topology.services:
            arns: dict[str, str] = {}
            for secret_name, full_name in service.secret_names.items():
                created = client.create_secret(
                    Name=full_name, SecretString=generate_secret_value(service.name, secret_name)
                )
                arns[secret_name] = created["ARN"]
            self.secret_arns[service.name] = arns

    def _make_socket_dir(self) -> None:
        """A directory only this user can enter, for the services' unix sockets.

        The services trust `x-amzn-lattice-*` headers as they do behind Lattice, so nothing
        but the gateway may reach them: in AWS their security group sees to that, here they
        listen on no TCP port at all. It lives under the temporary directory because a unix
        socket path must stay under about 100 bytes, which a project path may exceed.
        """
        socket_dir = Path(tempfile.mkdtemp(prefix="latticework-dev-"))
        self._stack.callback(shutil.rmtree, socket_dir, ignore_errors=True)
        self.socket_dir = socket_dir

    def service_socket(self, service: LocalService) -> Path:
        """The unix socket `service` listens on."""
        if self.socket_dir is None:
            raise ProgramError("the environment is not running: no service sockets")

        return self.socket_dir / f"{service.name}.sock"

    def _start_service(self, service: LocalService) -> None:
        app_dir = self.paths.examples_dir / service.name
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            str(app_dir),
            "--uds",
            str(self.service_socket(service)),
            "--log-level",
            "warning",
        ]
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=app_dir,
            env={**_base_process_env(), **self.service_env(service)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = _ServiceProcess(service, process)
        running.reader = threading.Thread(
            target=_pump_output,
            args=(process.stdout, running.output, service.name, self._log_sink),
            name=f"dev-output-{service.name}",
            daemon=True,
        )
        running.reader.start()
        self._processes.append(running)

    def _start_gateway(self) -> None:
        import uvicorn

        topology = self.topology
        config = GatewayConfig(
            region=topology.region,
            service_network_arn=topology.service_network_arn,
            source_vpc_arn=topology.source_vpc_arn,
            routes=tuple(
                ServiceRoute(
                    service_name=service.name,
                    gateway_port=service.gateway_port,
                    upstream_url=f"http://{service.name}",
                    upstream_socket=str(self.service_socket(service)),
                    service_arn=service.service_arn,
                    target_group_arn=service.target_group_arn,
                    auth_policy=service.auth_policy,
                )
                for service in topology.services
            ),
            network_auth_policy=topology.network_auth_policy,
            credentials={
                credential.access_key_id: credential for credential in topology.callers.values()
            },
            account_id=topology.account_id,
            org_id=topology.org_id,
        )
        sockets = [
            open_listener(service.gateway_port, f"gateway for {service.name}")
            for service in topology.services
        ]
        server = uvicorn.Server(
            uvicorn.Config(LatticeGateway(config), log_level="warning", lifespan="on")
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": sockets}, name="dev-gateway", daemon=True
        )
        thread.start()

        def stop_gateway() -> None:
            server.should_exit = True
            thread.join(timeout=STOP_TIMEOUT_SECONDS)
            for listening in sockets:
                listening.close()

        self._stack.callback(stop_gateway)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ProgramError("the local gateway did not start; see the log above")
            time.sleep(_POLL_INTERVAL_SECONDS)

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        pending = list(self._processes)
        with ExitStack() as open_clients:
            clients = {
                running.service.name: open_clients.enter_context(
                    _socket_client(self.service_socket(running.service))
                )
                for running in pending
            }
            while pending:
                running = pending[0]
                if running.process.poll() is not None:
                    raise ProgramError(_exit_message(running))

                if time.monotonic() > deadline:
                    message = (
                        f"service {running.service.name} did not answer "
                        f"{running.service.health_path} within {STARTUP_TIMEOUT_SECONDS:.0f} s; "
                        f"its last output:\n{_tail(running)}"
                    )
                    raise ProgramError(message)

                try:
                    response = clients[running.service.name].get(
                        f"http://{running.service.name}{running.service.health_path}"
                    )
                except httpx.TransportError:
                    time.sleep(_POLL_INTERVAL_SECONDS)
                    continue

                if response.status_code == 200:
                    pending.pop(0)
                else:
                    time.sleep(_POLL_INTERVAL_SECONDS)

    def _write_caller_files(self) -> None:
        """One `<name>.env` per caller identity, readable by the user only, for curl."""
        callers_dir = self.paths.state_dir / "callers"
        callers_dir.mkdir(parents=True, exist_ok=True)
        for name, credential in self.topology.callers.items():
            path = callers_dir / f"{name}.env"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            # An older file keeps its mode through O_TRUNC; make sure it is private now.
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as env_file:
                env_file.write(f"# {credential.role_arn} (local only; new every run)\n")
                env_file.write(f"export AWS_ACCESS_KEY_ID={credential.access_key_id}\n")
                env_file.write(f"export AWS_SECRET_ACCESS_KEY={credential.secret_access_key}\n")
                env_file.write(f"export AWS_REGION={self.topology.region}\n")

    def caller_files(self) -> Iterator[tuple[str, Path]]:
        """The caller env files written at start, by caller name."""
        for name in self.topology.callers:
            yield name, self.paths.state_dir / "callers" / f"{name}.env"

    def service_pids(self) -> dict[str, int]:
        """The process id of each running service, by service name."""
        return {running.service.name: running.process.pid for running in self._processes}

    def dead_services(self) -> list[str]:
        """Descriptions of service processes that exited on their own."""
        return [
            _exit_message(running)
            for running in self._processes
            if running.process.poll() is not None
        ]


def generate_secret_value(service: str, secret: str) -> str:
    """A fresh random value for a catalog secret; database secrets get the usual JSON shape."""
    password = secrets.token_urlsafe(24)
    if "database" in secret:
        return json.dumps(
            {
                "engine": "postgres",
                "host": LOOPBACK,
                "port": 5432,
                "username": f"{service}_app",
                "password": password,
            }
        )
    return password


def _socket_client(socket_path: Path) -> httpx.Client:
    """An HTTP client that talks to the service listening on `socket_path`."""
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=1.0)


def _restore_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _base_process_env() -> dict[str, str]:
    """The parent's environment without anything that would point boto3 at a real account."""
    dropped_prefixes = ("AWS_", "LATTICEWORK_")
    return {key: value for key, value in os.environ.items() if not key.startswith(dropped_prefixes)}


def _pump_output(stream: IO[str] | None, tail: deque[str], name: str, sink: LogSink | None) -> None:
    if stream is None:
        return

    for line in stream:
        text = line.rstrip("\n")
        tail.append(text)
        if sink is not None:
            sink(name, text)
    stream.close()


def _terminate(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return

    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _tail(running: _ServiceProcess) -> str:
    return "\n".join(running.output) or "(no output)"


def _exit_message(running: _ServiceProcess) -> str:
    return (
        f"service {running.service.name} exited with code {running.process.returncode}; "
        f"its last output:\n{_tail(running)}"
    )


__all__ = ["DevEnvironment", "DevPaths", "LogSink", "generate_secret_value"]
