"""Plan one environment offline: run `__main__.py` under the SDK's mock monitor.

The steps, in order:

1. validate the stack settings and the catalog with `components.spec.load_spec`, so a bad
   file stops everything with a `SpecError` (exit 2) before any program code runs;
2. give the SDK what the pulumi CLI would: project and stack names, the stack's config
   (structured values as JSON strings, as the CLI passes them), and
   ``latticework:servicesFile`` when another catalog was chosen;
3. run the program with `run_pulumi_func` against a `RecordingMonitor`, in a fresh
   `contextvars` context and event loop, so nothing of one run leaks into the next;
4. turn the recorded registrations into a `Plan`, in URN order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import json
import logging
import os
import runpy
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import set_mocks
from pulumi.runtime.stack import run_pulumi_func

from components.errors import SpecError
from components.spec import StackSpec, load_spec
from latticework.errors import LatticeworkError, ProgramError, UsageError
from latticework.offline._identifiers import AwsLocation
from latticework.offline._recorder import (
    OfflineMocks,
    RecordingEngine,
    RecordingMonitor,
    Registration,
)
from latticework.plan import (
    SECRET_MASK,
    JsonValue,
    Plan,
    PlannedResource,
    PlannedService,
)

SERVICES_FILE_CONFIG_KEY = "latticework:servicesFile"
"""The stack config key that points the program at another catalog."""

_PROGRAM_FILE = "__main__.py"
_PROJECT_FILE = "Pulumi.yaml"
_STACKS_DIR = "stacks"
_YOUNG_GENERATION_THRESHOLD = 50_000
_NEVER_AWAITED = r"coroutine .* was never awaited"
_program_logger = logging.getLogger("latticework.offline.program")


@dataclass(frozen=True, slots=True)
class _StackConfig:
    """The stack's config as the SDK takes it, and as the Plan reports it."""

    values: dict[str, str]
    secret_keys: list[str]
    reported: dict[str, JsonValue]


def plan_environment(env: str, *, project_dir: Path, services_file: Path | None = None) -> Plan:
    """Run the project's Pulumi program for `env` under mocks and return what it registered.

    Raises `SpecError` for a bad stack or catalog file (nothing runs), `UsageError` when the
    project has no program, and `ProgramError` (with the program's own message) when the
    program fails.
    """
    project_dir = project_dir.resolve()
    if services_file is not None:
        services_file = services_file.resolve()
    spec = load_spec(env, stacks_dir=project_dir / _STACKS_DIR, services_file=services_file)

    program = project_dir / _PROGRAM_FILE
    if not program.is_file():
        message = (
            f"{program}: expected the Pulumi program, found no file. "
            "Run latticework from the project directory or pass its path."
        )
        raise UsageError(message)

    project = _project_name(project_dir)
    config = _stack_config(spec.stack_file)
    if services_file is not None:
        config.values[SERVICES_FILE_CONFIG_KEY] = str(services_file)
        config.reported[SERVICES_FILE_CONFIG_KEY] = str(services_file)

    location = AwsLocation.for_region(spec.region, spec.settings.account_id)
    with fewer_collections():
        run = contextvars.copy_context().run(
            _run_program, program, project=project, stack=env, config=config, location=location
        )
        plan = _build_plan(spec, project, config, location, run)
        # Drop the SDK's objects before the collection that ends the block.
        del run
    return plan


@dataclass(frozen=True, slots=True)
class _Run:
    monitor: RecordingMonitor
    engine: RecordingEngine
    stack_outputs: dict[str, JsonValue]


def _run_program(
    program: Path,
    *,
    project: str,
    stack: str,
    config: _StackConfig,
    location: AwsLocation,
) -> _Run:
    # Runs inside a copied context: the SDK keeps its settings, root resource and config in
    # context variables, so each run starts clean and leaves the caller's context untouched.
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_unretrieved_exception)
    worker_loops = _WorkerLoops()
    loop.set_default_executor(ThreadPoolExecutor(initializer=worker_loops.give_thread_a_loop))
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(OfflineMocks(location))
    engine = RecordingEngine(_program_logger)
    interrupt = _Interrupt(loop)
    with interrupt.handled():
        try:
            pulumi_settings.reset_options(project=project, stack=stack, preview=False)
            set_all_config(config.values, config.secret_keys)
            set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
            pulumi_settings.SETTINGS.engine = engine

            with _program_environment(program):
                try:
                    loop.run_until_complete(run_pulumi_func(lambda: interrupt.run(program)))
                    stack_outputs = loop.run_until_complete(_stack_outputs())
                finally:
                    # After a Ctrl-C the loop stopped with the SDK's futures unresolved.
                    interrupt.raise_if_requested()
        except (SpecError, LatticeworkError):
            raise
        except Exception as exc:
            raise ProgramError(_program_failure(program, exc)) from exc
        finally:
            interrupt.hold()
            _close(loop)
            worker_loops.close()
    interrupt.raise_if_requested()

    return _Run(monitor, engine, stack_outputs)


class _Interrupt:
    """Ctrl-C while the program runs, turned into a stop that the SDK cannot swallow.

    A `KeyboardInterrupt` raised at an arbitrary point is lost inside the SDK: its
    `run_pulumi_func` catches it from the program and then waits for every registration,
    which a resource interrupted halfway never completes (the loop idles forever), and a
    few of its helpers catch `BaseException` outright (the plan then completes and is
    written). So while the program runs, Ctrl-C is handled here instead: it stops the event
    loop, and the run raises `KeyboardInterrupt` from the engine's own code. The loop cannot
    stop while the program's synchronous part runs, so a Ctrl-C then also raises
    `KeyboardInterrupt` inside the program to end it early; should the SDK swallow that
    one, the loop still stops as soon as the program returns (or at the next Ctrl-C, which
    raises again). During the cleanup that follows (`hold`), Ctrl-C is only recorded, so
    that it cannot leave tasks half-cancelled.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._requested = False
        self._in_program = False
        self._holding = False

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        """Handle Ctrl-C as described above for the block, where this process may."""
        if not _may_handle_ctrl_c():
            yield
            return

        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self, program: Path) -> None:
        """Run the program's synchronous part, where a Ctrl-C raises `KeyboardInterrupt`."""
        self._in_program = True
        try:
            _execute(program)
        finally:
            self._in_program = False

    def hold(self) -> None:
        """From now on, only record a Ctrl-C: neither stop the loop nor raise."""
        self._holding = True

    def raise_if_requested(self) -> None:
        """Raise `KeyboardInterrupt` if Ctrl-C was pressed since the block began."""
        if not self._requested:
            return

        # The stop leaves some of the SDK's coroutines unstarted; each would print a
        # "never awaited" warning when collected, after the CLI's one-line message.
        warnings.filterwarnings("ignore", _NEVER_AWAITED, RuntimeWarning)
        raise KeyboardInterrupt

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        first = not self._requested
        self._requested = True
        if self._holding:
            return

        if first:
            # From a signal handler, only the thread-safe call wakes a loop idle in select().
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._in_program:
            raise KeyboardInterrupt


def _may_handle_ctrl_c() -> bool:
    """Whether this thread may take over Ctrl-C: not in another thread (only the main one
    may), nor where a caller has its own handling or ignores it."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    return in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Run the block with Ctrl-C only recorded; raise `KeyboardInterrupt` after it if pressed.

    For blocks that run finalizers and weakref callbacks, such as a garbage collection: a
    `KeyboardInterrupt` raised inside one of those is printed as "Exception ignored" and lost.
    """
    if not _may_handle_ctrl_c():
        yield
        return

    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


class _WorkerLoops:
    """The event loops of the run's executor threads, closed when the run ends.

    The SDK's mock monitor answers each registration on a default-executor thread and makes
    sure that thread has an event loop, creating one it never closes. Giving each worker its
    loop here lets the engine close them all instead of leaving them to the garbage collector.
    """

    def __init__(self) -> None:
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def give_thread_a_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with self._lock:
            self._loops.append(loop)

    def close(self) -> None:
        """Close every worker's loop; call once the executor has shut down."""
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()


def _close(loop: asyncio.AbstractEventLoop) -> None:
    # After a failure the SDK leaves registrations in flight; cancel them and let them finish,
    # as asyncio.run does, so nothing is destroyed pending.
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    asyncio.set_event_loop(None)
    loop.close()


def _unretrieved_exception(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # When the program fails, its first error becomes the ProgramError; the SDK's other
    # futures that failed the same way are never awaited. They are not news to the user.
    _program_logger.debug("unretrieved asyncio error: %s", context.get("message"))


def _execute(program: Path) -> None:
    runpy.run_path(str(program), run_name="__main__")


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic garbage collector mostly out of the way.

    The SDK allocates several Outputs, futures and tasks per property and keeps them alive
    until the program ends, so under CPython's default thresholds the collector re-scans a
    growing heap again and again: about half of a plan's time. Inside the block, objects
    that existed before it (the imported SDKs) are frozen out of collection and the youngest
    generation is collected every 50,000 allocations instead of 700. On the way out, one
    collection frees the block's cyclic garbage while the older heap is still frozen (so it
    is not scanned again), then the thresholds and the frozen objects are restored (after
    Ctrl-C, without the collection). Ctrl-C during that cleanup is raised once it is done.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_YOUNG_GENERATION_THRESHOLD, *thresholds[1:])
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        with _ctrl_c_held():
            # After Ctrl-C the process is about to end: collecting first would only delay it.
            if not interrupted:
                gc.collect()
            gc.set_threshold(*thresholds)
            gc.unfreeze()


@contextlib.contextmanager
def _program_environment(program: Path) -> Iterator[None]:
    # As under `pulumi up`: the working directory is the project, which is also importable.
    # NOTE: the working directory is process-wide, so two plans must not run at once in
    # different threads of one process.
    # Whatever the program prints goes to stderr, so a JSON report on stdout stays parseable.
    project_dir = str(program.parent)
    previous_dir = Path.cwd()
    os.chdir(project_dir)
    sys.path.insert(0, project_dir)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        os.chdir(previous_dir)
        with contextlib.suppress(ValueError):
            sys.path.remove(project_dir)


async def _stack_outputs() -> dict[str, JsonValue]:
    root = pulumi_settings.get_root_resource()
    exports: Mapping[str, Any] = getattr(root, "outputs", None) or {}
    resolved: dict[str, JsonValue] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        is_secret = await output.is_secret()
        resolved[name] = SECRET_MASK if is_secret else _json_value(await output.future())
    return resolved


def _json_value(value: Any) -> JsonValue:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return str(value)


def _program_failure(program: Path, exc: BaseException) -> str:
    detail = str(exc).strip()
    message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"{program}: the program failed: {message}"


def _project_name(project_dir: Path) -> str:
    project_file = project_dir / _PROJECT_FILE
    try:
        document = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return project_dir.name
    except yaml.YAMLError as exc:
        message = f"{project_file}: expected a Pulumi project file, found invalid YAML: {exc}"
        raise UsageError(message) from exc

    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name:
        message = (
            f"{project_file}: name: expected the project name, found {name!r}. "
            "Set name: in Pulumi.yaml."
        )
        raise UsageError(message)
    return name


def _stack_config(stack_file: Path) -> _StackConfig:
    # load_spec has already checked this file (duplicate keys included); here it is only
    # turned into what the CLI would hand the program.
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    config: Mapping[str, Any] = document.get("config") or {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    reported: dict[str, JsonValue] = {}
    for key, value in config.items():
        if _is_encrypted(value):
            # A `pulumi config set --secret` value: encrypted for a key this engine does
            # not have. The program sees the mask, marked secret.
            values[key] = SECRET_MASK
            secret_keys.append(key)
            reported[key] = SECRET_MASK
            continue
        masked = _masked(value)
        if masked != value:
            # `pulumi config set --secret --path` encrypts one leaf of a structured value;
            # the pulumi CLI then marks the whole key secret, and so does this engine.
            secret_keys.append(key)
        values[key] = _config_text(masked)
        reported[key] = _json_value(masked)
    return _StackConfig(values, secret_keys, reported)


def _is_encrypted(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _masked(value: Any) -> Any:
    """`value` with every encrypted (`secure:`) leaf, at any depth, replaced by the mask."""
    if _is_encrypted(value):
        return SECRET_MASK
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _config_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _build_plan(
    spec: StackSpec, project: str, config: _StackConfig, location: AwsLocation, run: _Run
) -> Plan:
    registrations = run.monitor.registrations
    component_outputs = run.monitor.component_outputs
    resources = tuple(
        _planned(registrations[urn], component_outputs.get(urn)) for urn in sorted(registrations)
    )
    return Plan(
        environment=spec.env,
        project=project,
        stack=spec.env,
        region=location.region,
        account_id=location.account_id,
        resources=resources,
        services=_services(spec),
        config=config.reported,
        stack_outputs=run.stack_outputs,
        messages=tuple(run.engine.messages),
        spec=spec,
    )


def _planned(
    registration: Registration, component_outputs: dict[str, JsonValue] | None
) -> PlannedResource:
    outputs = registration.outputs
    if not registration.custom:
        outputs = component_outputs or {}
    return PlannedResource(
        urn=registration.urn,
        type=registration.type,
        name=registration.name,
        parent_urn=registration.parent_urn,
        custom=registration.custom,
        id=registration.id,
        inputs=registration.inputs,
        outputs=outputs,
        dependencies=registration.dependencies,
        property_dependencies=dict(sorted(registration.property_dependencies.items())),
        provider=registration.provider,
        protect=registration.protect,
        delete_before_replace=registration.delete_before_replace,
        retain_on_delete=registration.retain_on_delete,
        ignore_changes=registration.ignore_changes,
        secret_outputs=registration.secret_outputs,
        read=registration.read,
    )


def _services(spec: StackSpec) -> tuple[PlannedService, ...]:
    return tuple(
        PlannedService(
            name=service.name,
            callers=tuple(service.callers.services),
            iam_principals=tuple(service.callers.iam_principals),
            secrets=tuple(secret.name for secret in service.secrets),
        )
        for service in sorted(spec.catalog.services, key=lambda service: service.name)
    )


__all__ = ["SERVICES_FILE_CONFIG_KEY", "fewer_collections", "plan_environment"]
