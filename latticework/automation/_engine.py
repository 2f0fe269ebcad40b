"""The Automation API engine: the real pulumi CLI driving this project, one stack per env.

Each operation opens a `LocalWorkspace` on the project directory (the `Pulumi.yaml` next to
`__main__.py`; stack files live in `stacks/` through `stackConfigDir`) and selects the stack
named after the environment (`preview` and `up` create it when missing; the others refuse).
`preview` and `up` run with the local policy pack attached
(`policy_packs/latticework_guardrails`, configured from the stack's `latticework:policies`).

State lives in a file backend under the project (`.latticework/state`, ignored by git)
unless a backend URL is given (`s3://...`, `https://api.pulumi.com`, ...). Self-managed
backends (file, S3, GCS, Azure Blob) use the passphrase secrets provider, whose passphrase
comes from `PULUMI_CONFIG_PASSPHRASE` or `PULUMI_CONFIG_PASSPHRASE_FILE`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pulumi import automation as auto

from components.spec import load_spec
from latticework.automation._errors import (
    INSTALL_HINT,
    CliOutput,
    classify_failure,
    require_pulumi_cli,
)
from latticework.automation._events import EventCollector
from latticework.engine import (
    EngineResult,
    Operation,
    ProgressListener,
    StackOutput,
    ignore_progress,
)
from latticework.errors import (
    MissingCredentialsError,
    MissingPulumiCliError,
    ProgramError,
    UsageError,
)
from policy_packs.latticework_guardrails import policy_names
from policy_packs.latticework_guardrails.config import pack_config_for, write_pulumi_config

logger = logging.getLogger(__name__)

PROJECT_FILE = "Pulumi.yaml"
STATE_DIR = Path(".latticework") / "state"
POLICY_PACK_DIR = Path("policy_packs") / "latticework_guardrails"
_SELF_MANAGED_SCHEMES = ("file://", "s3://", "gs://", "azblob://", "postgres://")
_BACKEND_SCHEMES = (*_SELF_MANAGED_SCHEMES, "https://", "http://")
#: Plain http reaches a Pulumi service on this machine only: the access token travels along.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_NO_SUMMARY = "summary event never found"
_PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")

_ResultT = TypeVar("_ResultT")


def default_backend_url(project_dir: Path) -> str:
    """The file backend under the project: `file://<project>/.latticework/state`."""
    return (project_dir.resolve() / STATE_DIR).as_uri()


def require_project(project_dir: Path) -> Path:
    """`project_dir` when it holds this Pulumi project's `Pulumi.yaml`, else a `UsageError`."""
    if (project_dir / PROJECT_FILE).is_file():
        return project_dir

    message = (
        f"{project_dir}: expected a Pulumi project ({PROJECT_FILE}) here or in a parent "
        "directory, found none. Run from the latticework project or pass --project-dir"
    )
    raise UsageError(message)


def check_backend_url(backend_url: str) -> str:
    """`backend_url` when it names a backend the pulumi CLI knows, else a `UsageError`.

    An empty value is refused rather than read as "the default": in CI it is usually an
    unset variable, and the default keeps state on a runner that is thrown away.
    """
    if _is_known_backend(backend_url):
        return backend_url

    schemes = ", ".join(_SELF_MANAGED_SCHEMES)
    shown = _refused_backend_url(backend_url)
    message = (
        f"--backend-url: expected a URL starting with {schemes} or https:// (Pulumi Cloud; "
        f"http:// only to localhost), found {shown}. Fix the URL, or leave the option out for "
        f"the file backend in {STATE_DIR}"
    )
    raise UsageError(message)


def _is_known_backend(backend_url: str) -> bool:
    """A scheme the pulumi CLI knows, then a place: a host (a path alone for `file://`)."""
    if not backend_url.startswith(_BACKEND_SCHEMES) or any(c.isspace() for c in backend_url):
        return False
    try:
        parts = urlsplit(backend_url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        return False
    if parts.scheme == "file":
        return bool(parts.netloc or parts.path)
    if parts.scheme == "http":
        return host in _LOOPBACK_HOSTS
    return bool(host)


def _refused_backend_url(backend_url: str) -> str:
    """What a refused backend value was, shown without anything that may be a credential:
    only its scheme and host (a DSN or a token can sit anywhere else), or its length."""
    if not backend_url:
        return "an empty value"
    try:
        parts = urlsplit(backend_url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        scheme, host = "", None
    if scheme and host and not any(c.isspace() for c in backend_url):
        written = backend_url.partition(":")[0]  # urlsplit lower-cases the scheme
        if written != scheme:
            return f"a URL to {host} with the scheme {written}:// in capitals"
        if f"{scheme}://" not in _BACKEND_SCHEMES:
            return f"a URL to {host} with the scheme {scheme}://, which no pulumi backend uses"
        return f"a URL {scheme}:// to {host}, which is not this machine"
    return f"a value of {len(backend_url)} characters that is no backend URL"


def shown_backend_url(backend_url: str) -> str:
    """`backend_url` fit for a message: the password of a `user:password@` part is `***`.

    A postgres backend URL carries its database password; a message may end up in CI logs.
    """
    # A libpq-style query can carry the password too (`?password=...`): it is left out.
    backend_url, question, _query = backend_url.partition("?")
    if question:
        backend_url += "?..."
    before_host, at, host = backend_url.rpartition("@")
    if not at:
        return backend_url
    scheme, separator, userinfo = before_host.rpartition("://")
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return backend_url
    return f"{scheme}{separator}{user}:***@{host}"


def is_self_managed(backend_url: str) -> bool:
    """Whether the backend keeps state in a file or bucket (not Pulumi Cloud)."""
    return backend_url.startswith(_SELF_MANAGED_SCHEMES)


@dataclass(frozen=True, slots=True)
class AutomationSettings:
    """Where the engine runs: the project, the state backend and the process environment.

    `environ` is where the engine looks for the pulumi CLI (`PATH`) and the passphrase; the
    CLI itself runs with the process environment plus the backend URL and passphrase.
    """

    project_dir: Path
    backend_url: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def resolved_backend_url(self) -> str:
        """The backend URL to use: the given one, or the file backend under the project."""
        return self.backend_url or default_backend_url(self.project_dir)


class AutomationEngine:
    """The `Engine` over Pulumi's Automation API and a local pulumi CLI."""

    def __init__(
        self,
        settings: AutomationSettings,
        *,
        on_progress: ProgressListener = ignore_progress,
    ) -> None:
        self._settings = settings
        self._on_progress = on_progress

    def preview(self, environment: str) -> EngineResult:
        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> None:
            with self._policy_pack_args(environment) as pack_args:
                stack.preview(
                    **hooks.streams(collector),
                    policy_packs=pack_args.packs,
                    policy_pack_configs=pack_args.configs,
                )

        collector = self._run(environment, Operation.PREVIEW, run, create=True)
        return collector.result()

    def up(self, environment: str) -> EngineResult:
        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> Any:
            with self._policy_pack_args(environment) as pack_args:
                return stack.up(
                    **hooks.streams(collector),
                    policy_packs=pack_args.packs,
                    policy_pack_configs=pack_args.configs,
                )

        collector, up_result = self._run_returning(environment, Operation.UP, run, create=True)
        return collector.result(_stack_outputs(up_result.outputs))

    def destroy(self, environment: str) -> EngineResult:
        """Delete every resource of the environment's stack; the stack and history remain."""

        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> None:
            stack.destroy(**hooks.streams(collector))

        return self._run(environment, Operation.DESTROY, run).result()

    def refresh(self, environment: str) -> EngineResult:
        """Bring the stack's state in line with what exists in the cloud."""

        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> None:
            stack.refresh(**hooks.streams(collector))

        return self._run(environment, Operation.REFRESH, run).result()

    def drift(self, environment: str) -> EngineResult:
        """What a refresh would change, without changing state: the environment's drift."""

        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> None:
            stack.preview_refresh(**hooks.streams(collector))

        result = self._run(environment, Operation.DRIFT, run).result()
        return EngineResult(
            environment=result.environment,
            operation=result.operation,
            changes=tuple(change for change in result.changes if change.is_change),
            findings=result.findings,
        )

    def outputs(self, environment: str) -> Mapping[str, StackOutput]:
        def run(stack: auto.Stack, collector: EventCollector, hooks: _OutputHooks) -> Any:
            del collector, hooks
            return stack.outputs()

        _, outputs = self._run_returning(environment, Operation.PREVIEW, run, "outputs")
        return _stack_outputs(outputs)

    # --- the common frame of every operation ---------------------------------------------

    def _run(
        self,
        environment: str,
        operation: Operation,
        action: Callable[[auto.Stack, EventCollector, _OutputHooks], None],
        *,
        create: bool = False,
    ) -> EventCollector:
        collector, _ = self._run_returning(environment, operation, action, create=create)
        return collector

    def _run_returning(
        self,
        environment: str,
        operation: Operation,
        action: Callable[[auto.Stack, EventCollector, _OutputHooks], _ResultT],
        label: str | None = None,
        *,
        create: bool = False,
    ) -> tuple[EventCollector, _ResultT]:
        """Run `action` on the environment's stack; only `create` lets a missing stack be made."""
        collector = EventCollector(environment, operation, self._on_progress)
        hooks = _OutputHooks()
        verb = label or operation.value
        try:
            stack = self._select_stack(environment, create=create)
            return collector, action(stack, collector, hooks)
        except auto.errors.CommandError as exc:
            error = classify_failure(
                environment=environment,
                operation=verb,
                output=hooks.output(exc),
                findings=collector.findings,
                errors=collector.errors,
                concurrent_update=isinstance(exc, auto.errors.ConcurrentUpdateError),
            )
            raise error from exc
        except FileNotFoundError as exc:
            # LocalWorkspace runs `pulumi version` first; a CLI that vanished lands here.
            if Path(str(exc.filename or "")).name != "pulumi":
                raise
            message = f"the pulumi CLI could not be started: {INSTALL_HINT}"
            raise MissingPulumiCliError(message) from exc
        except RuntimeError as exc:
            # NOTE: `preview` and `preview_refresh` raise a bare RuntimeError with this text
            # when the CLI succeeded but no summary event reached the Automation API.
            if str(exc) != _NO_SUMMARY:
                raise
            message = (
                f"{verb} of {environment!r}: the pulumi CLI finished but sent no engine events, "
                "so there is nothing to report. Check that it can reach 127.0.0.1 (the "
                "Automation API listens there for events) and re-run"
            )
            raise ProgramError(message) from exc
        except subprocess.CalledProcessError as exc:
            # Only LocalWorkspace's `pulumi version` runs this way; a broken CLI lands here.
            message = (
                f"the pulumi CLI on PATH is not usable: `pulumi version` exited "
                f"{exc.returncode}. To reinstall it: {INSTALL_HINT}"
            )
            raise MissingPulumiCliError(message) from exc
        except auto.errors.InvalidVersionError as exc:
            message = (
                f"the pulumi CLI on PATH does not fit this Automation API: {exc} To install a "
                f"current CLI: {INSTALL_HINT}"
            )
            raise MissingPulumiCliError(message) from exc

    def _select_stack(self, environment: str, *, create: bool) -> auto.Stack:
        require_project(self._settings.project_dir)
        require_pulumi_cli(self._settings.environ)
        backend_url = check_backend_url(self._settings.resolved_backend_url)
        env_vars = {"PULUMI_BACKEND_URL": backend_url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        secrets_provider = None
        if is_self_managed(backend_url):
            secrets_provider = "passphrase"
            env_vars.update(self._passphrase_variables(environment))
        if backend_url.startswith("file://"):
            # The file backend needs its directory to exist; pulumi opens it, not creates it.
            _file_backend_dir(backend_url, self._settings.project_dir).mkdir(
                parents=True, exist_ok=True
            )

        options = auto.LocalWorkspaceOptions(env_vars=env_vars, secrets_provider=secrets_provider)
        logger.debug("stack %s on a %s backend", environment, backend_url.split("://")[0])
        work_dir = str(self._settings.project_dir)
        if create:
            return auto.create_or_select_stack(
                stack_name=environment, work_dir=work_dir, opts=options
            )

        # Reading or removing what is deployed never creates a stack: on a mistyped backend
        # that would answer "no outputs" or "no drift" instead of saying nothing is there.
        try:
            return auto.select_stack(stack_name=environment, work_dir=work_dir, opts=options)
        except auto.errors.StackNotFoundError as exc:
            message = (
                f"no stack {environment!r} in the {shown_backend_url(backend_url)} backend: "
                "nothing is deployed there. Check --backend-url (or LATTICEWORK_BACKEND_URL), "
                f"or deploy it first with `latticework up --env {environment}`"
            )
            raise UsageError(message) from exc

    def _passphrase_variables(self, environment: str) -> dict[str, str]:
        environ = self._settings.environ
        found = {name: environ[name] for name in _PASSPHRASE_VARIABLES if environ.get(name)}
        where = (
            f"the {self._settings.resolved_backend_url.split('://')[0]} state backend of stack "
            f"{environment!r} uses the passphrase secrets provider"
        )
        passphrase_file = found.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        only_file = passphrase_file and "PULUMI_CONFIG_PASSPHRASE" not in found
        if only_file and not Path(str(passphrase_file)).is_file():
            message = (
                f"{where}; PULUMI_CONFIG_PASSPHRASE_FILE names {passphrase_file}, which is not "
                "a file. Point it at the file holding the passphrase"
            )
            raise MissingCredentialsError(message)
        if not found:
            # An empty passphrase encrypts the stack's secrets with a key anyone can derive.
            empty = [name for name in _PASSPHRASE_VARIABLES if name in environ]
            verb = "are" if len(empty) > 1 else "is"
            detail = f"{' and '.join(empty)} {verb} set but empty" if empty else "no passphrase"
            message = (
                f"{where}: {detail}. Set PULUMI_CONFIG_PASSPHRASE or "
                "PULUMI_CONFIG_PASSPHRASE_FILE (in CI, from a secret)"
            )
            raise MissingCredentialsError(message)
        return found

    @contextmanager
    def _policy_pack_args(self, environment: str) -> Iterator[_PolicyPackArgs]:
        pack_dir = self._settings.project_dir / POLICY_PACK_DIR
        if not (pack_dir / "PulumiPolicy.yaml").is_file():
            message = (
                f"{pack_dir}: expected the latticework guardrails policy pack "
                "(PulumiPolicy.yaml), found none. Restore policy_packs/ from the repository"
            )
            raise UsageError(message)

        # The same reader the offline policy run uses, so both run with identical settings.
        spec = load_spec(environment, stacks_dir=self._settings.project_dir / "stacks")
        pack_config = pack_config_for(spec, policy_names=policy_names())
        with tempfile.TemporaryDirectory(prefix="latticework-policy-") as config_dir:
            config_file = write_pulumi_config(pack_config, Path(config_dir) / f"{environment}.json")
            yield _PolicyPackArgs(packs=[str(pack_dir.resolve())], configs=[str(config_file)])


@dataclass(frozen=True, slots=True)
class _PolicyPackArgs:
    packs: list[str]
    configs: list[str]


class _OutputHooks:
    """Keeps what the CLI printed, for classifying a failure."""

    def __init__(self) -> None:
        self._stdout: list[str] = []
        self._stderr: list[str] = []

    def streams(self, collector: EventCollector) -> dict[str, Any]:
        """The Automation API arguments that stream events and output to the collectors."""
        return {
            "on_event": collector.handle,
            "on_output": self.on_output,
            "on_error": self.on_error,
            "color": "never",
        }

    def on_output(self, line: str) -> None:
        self._stdout.append(line)

    def on_error(self, line: str) -> None:
        self._stderr.append(line)

    def output(self, error: auto.errors.CommandError) -> CliOutput:
        stderr = "\n".join(self._stderr)
        stdout = "\n".join(self._stdout)
        if not stderr and not stdout:
            # Commands run without hooks (stack selection) only leave the error's text.
            return _command_output(error)
        return CliOutput(stdout=stdout, stderr=stderr)


def _command_output(error: auto.errors.CommandError) -> CliOutput:
    """The output kept in a `CommandError`, whose text is `code: N / stdout: ... / stderr: ...`."""
    text = str(error)
    rest, found_stderr, stderr = text.partition("\n stderr: ")
    _, found_stdout, stdout = rest.partition("\n stdout: ")
    if not (found_stderr and found_stdout):
        return CliOutput(stderr=text)
    return CliOutput(stdout=stdout, stderr=stderr)


def _file_backend_dir(backend_url: str, project_dir: Path) -> Path:
    """The directory of a `file://` backend, read as the pulumi CLI reads it.

    The CLI takes the text after `file://` up to `?`, expands a leading `~` to the home
    directory and resolves a relative path against its working directory (the project);
    the blob store then percent-decodes it (`%20` is a space).
    """
    location = unquote(backend_url.removeprefix("file://").split("?", 1)[0])
    if location == "~" or location.startswith("~/"):
        return Path.home() / location[2:]
    return project_dir / location


def _stack_outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, StackOutput]:
    return {
        name: StackOutput(output.value, secret=output.secret) for name, output in outputs.items()
    }


__all__ = [
    "POLICY_PACK_DIR",
    "PROJECT_FILE",
    "STATE_DIR",
    "AutomationEngine",
    "AutomationSettings",
    "check_backend_url",
    "default_backend_url",
    "is_self_managed",
    "require_project",
    "shown_backend_url",
]
