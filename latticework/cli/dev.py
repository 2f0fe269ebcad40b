"""`latticework dev`: run the environment's request path on loopback until Ctrl-C.

Ctrl-C (or SIGTERM) is how it stops, so it exits 0 after a clean stop; one that lands in a
finalizer, where Python could only print it as ignored, is raised after the start or at the
next turn of the wait and stops the environment the same way.
"""

from __future__ import annotations

import logging
import re
import signal
import time
from pathlib import Path
from types import FrameType

import click

from components.spec import load_spec
from latticework.cli._interrupts import forget_kept_interrupts, raise_if_interrupted
from latticework.cli._options import ENVIRONMENTS
from latticework.cli.plan import nearest_project_dir
from latticework.dev import DEFAULT_BASE_PORT, DevEnvironment, DevPaths, build_topology
from latticework.errors import ProgramError, UsageError

_WATCH_INTERVAL_SECONDS = 0.5
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_RESERVED = ("LATTICEWORK_", "AWS_")


@click.command("dev")
@click.option(
    "--env",
    "env",
    type=click.Choice(ENVIRONMENTS),
    default="dev",
    show_default=True,
    help="The environment (stack) whose settings run locally.",
)
@click.option(
    "--base-port",
    type=click.IntRange(min=0, max=65000),
    default=DEFAULT_BASE_PORT,
    show_default=True,
    help="Secrets Manager listens here, the services' gateways on the next ports; "
    "0 picks free ports.",
)
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The latticework project (stacks/, authz/, examples/); default: the nearest "
    "directory with Pulumi.yaml.",
)
@click.option(
    "--service-env",
    "service_env",
    multiple=True,
    metavar="NAME=VALUE",
    help="A plain variable for every service process, e.g. SECRETS_TTL_SECONDS=5; repeatable.",
)
def command(
    env: str, base_port: int, project_dir: Path | None, service_env: tuple[str, ...]
) -> None:
    """Run the sample services behind a local Lattice gateway, with local Cedar and secrets."""
    project_dir = project_dir or nearest_project_dir()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs each health poll and forwarded request; the services' audit lines say more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    spec = load_spec(env, stacks_dir=project_dir / "stacks")
    topology = build_topology(spec, base_port=base_port)
    paths = DevPaths.for_project(project_dir.resolve())

    environment = DevEnvironment(
        topology,
        paths,
        log_sink=_echo_service_line,
        extra_service_env=_parse_service_env(service_env),
    )
    click.echo(f"starting the {env} request path on 127.0.0.1 ...")
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        environment.start()
        raise_if_interrupted()
        _print_summary(environment)
        _watch(environment)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        # A second Ctrl-C or SIGTERM while stopping would leave service processes behind.
        previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            environment.stop()
        finally:
            signal.signal(signal.SIGINT, previous_sigint)
            signal.signal(signal.SIGTERM, previous_sigterm)
    # Stopped on Ctrl-C: one lost in a finalizer before it asked for the same stop.
    forget_kept_interrupts()
    click.echo("stopped.")


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_service_env(assignments: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator or not _ENV_NAME.fullmatch(name) or name.startswith(_RESERVED):
            # The value is never echoed: it may be something the user meant to keep private.
            shown = repr(name) if separator else "(an argument without '=')"
            message = (
                f"--service-env {shown}: expected NAME=VALUE with NAME in "
                "[A-Z_][A-Z0-9_]* and not starting with LATTICEWORK_ or AWS_ (those are set "
                "as the infrastructure sets them)"
            )
            raise UsageError(message)
        parsed[name] = value
    return parsed


def _watch(environment: DevEnvironment) -> None:
    """Return never: raise when a service process dies, until Ctrl-C interrupts."""
    while True:
        raise_if_interrupted()
        dead = environment.dead_services()
        if dead:
            raise ProgramError("; ".join(dead))
        time.sleep(_WATCH_INTERVAL_SECONDS)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the environment the same way Ctrl-C does."""
    raise KeyboardInterrupt


def _echo_service_line(service: str, line: str) -> None:
    click.echo(f"[{service}] {line}")


def _print_summary(environment: DevEnvironment) -> None:
    topology = environment.topology
    click.echo("")
    click.echo(f"region {topology.region}; Secrets Manager (moto) at {topology.secrets_endpoint}")
    pids = environment.service_pids()
    for service in topology.services:
        peers = ", ".join(service.peers) or "none"
        click.echo(
            f"  {service.name:<10} {service.gateway_url}  (through the gateway; "
            f"process {pids[service.name]}; calls: {peers})"
        )
    click.echo(
        f"services listen only on unix sockets in {environment.socket_dir} (yours alone); "
        "the gateway ports are the way in"
    )
    click.echo("caller credentials (local, new every run; `source` one to sign with curl):")
    for name, path in environment.caller_files():
        click.echo(f"  {name:<16} {_shown(path)}")
    click.echo("")
    click.echo("sign a request as one of them (walkthrough: docs/local-dev.md):")
    click.echo(f"  source {_shown(environment.paths.state_dir / 'callers')}/<caller>.env")
    click.echo(
        f'  curl --aws-sigv4 "aws:amz:{topology.region}:vpc-lattice-svcs" '
        '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" <gateway URL><path>'
    )
    click.echo("Ctrl-C stops everything.")
