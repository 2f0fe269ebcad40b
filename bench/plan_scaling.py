"""How `latticework plan` scales with the catalog, measured against the SDK's own floor.

For catalogs of 10, 100 and 300 services (generated from the sample catalog: each service
is a renamed copy of orders, payments or inventory, with its callers renamed alike) this
prints, per size:

- resources: everything the plan registers (AWS resources and components);
- plan: `latticework.offline.plan_environment`, the whole offline engine (spec loading,
  the real `__main__.py` and its components, output synthesis, recording, the Plan);
- floor: registering the same resources bare under the SDK's stock `MockMonitor`, with
  mocks that echo the inputs, in the same process: same types, names, parents and inputs,
  each through its pulumi_aws class's args object (every declared property, as the class's
  constructor passes them) and from a constructor frame, so the SDK does for each what it
  does for the program's resources (Outputs per property, a recorded stack trace). The
  garbage collector is tuned for the floor exactly as the engine tunes it for the plan;
- ratio: plan / floor;
- peak memory: the process's peak resident set size (`resource.getrusage`, ru_maxrss) read
  right after the plan, before the floor runs. Each size runs in its own subprocess, so
  the figure is that size's peak (it includes the interpreter and the imported SDKs,
  which is what a user's process costs). tracemalloc is not used: it slows the run it
  measures several times over and misses memory held outside Python's allocator.

Times are CPU seconds of the process (`time.process_time`, all its threads), the best of
several runs, plan and floor alternating: on a machine shared with other work, wall-clock
time measures the neighbours as much as the code. Targets, each printed PASS or FAIL:

1. at 100 services, plan time at most 1.5x the floor;
2. the ratio at 300 services at most 1.2x the ratio at 10 (latticework's own cost grows
   no faster than the SDK's);
3. peak memory at 300 services under 1 GiB.

Run: `.venv/bin/python bench/plan_scaling.py` (two to five minutes on two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import importlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi._types import _PULUMI_NAME
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.stack import run_pulumi_func

from latticework.offline import fewer_collections, plan_environment
from latticework.plan import Plan, PlannedResource

REPO = Path(__file__).resolve().parents[1]
SIZES = (10, 100, 300)
REPEATS = {10: 5, 100: 3, 300: 2}
ENV = "dev"
PROJECT_NAME = "latticework"
MAX_RATIO_AT_100 = 1.5
MAX_RATIO_GROWTH = 1.2
MAX_PEAK_BYTES = 1 << 30


# --- the generated project ---------------------------------------------------------------


def generate_catalog(size: int) -> dict[str, Any]:
    """A catalog of `size` services cloned from the sample, callers renamed per group."""
    sample = yaml.safe_load((REPO / "stacks" / "services.yaml").read_text())["services"]
    names = [
        f"{sample[index % len(sample)]['name']}-{index // len(sample)}" for index in range(size)
    ]
    present = set(names)
    services = []
    for index, name in enumerate(names):
        template = sample[index % len(sample)]
        group = index // len(sample)
        service = json.loads(json.dumps(template))
        service["name"] = name
        callers = service.setdefault("callers", {})
        callers["services"] = [
            f"{caller}-{group}"
            for caller in callers.get("services", [])
            if f"{caller}-{group}" in present
        ]
        services.append(service)
    return {"services": services}


def make_project(directory: Path, size: int) -> Path:
    """A copy of the project whose dev stack plans a generated catalog of `size` services."""
    project = directory / f"project-{size}"
    (project / "stacks").mkdir(parents=True)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "authz", project / "authz")

    stack = yaml.safe_load((REPO / "stacks" / f"Pulumi.{ENV}.yaml").read_text())
    # The sample's replica overrides name the sample's services; the clones use the catalog's.
    stack["config"]["latticework:settings"].pop("replicas", None)
    (project / "stacks" / f"Pulumi.{ENV}.yaml").write_text(yaml.safe_dump(stack))
    (project / "stacks" / "services.yaml").write_text(
        yaml.safe_dump(generate_catalog(size), sort_keys=False)
    )
    return project


# --- the floor: the same registrations, bare ---------------------------------------------


class EchoMocks(Mocks):
    """The cheapest possible mocks: an id from the name, the inputs as outputs."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, []


@dataclass(frozen=True, slots=True)
class TypedClass:
    """The pulumi_aws class of a type, its args class, and wire name -> Python name."""

    resource_class: type[pulumi.CustomResource]
    args_class: type[Any]
    python_names: dict[str, str]


@functools.cache
def typed_class(resource_type: str) -> TypedClass | None:
    """The provider's Python classes for a type token (None for a component)."""
    package, module_and_class = resource_type.split(":", 1)
    if package != "aws":
        return None
    module = importlib.import_module(f"pulumi_aws.{module_and_class.split('/', 1)[0]}")
    class_name = resource_type.rsplit(":", 1)[-1]
    resource_class = getattr(module, class_name)
    args_class = getattr(module, f"{class_name}Args")
    python_names = {
        getattr(member.fget, _PULUMI_NAME): python_name
        for python_name, member in vars(resource_class).items()
        if isinstance(member, property) and hasattr(member.fget, _PULUMI_NAME)
    }
    return TypedClass(resource_class, args_class, python_names)


class _Registration:
    """Registers one resource; named `__init__` like a provider class's constructor.

    The SDK records a stack trace (source position) for registrations made through a
    resource class's constructor, and the floor must pay for that like the program does.
    """

    def __init__(
        self,
        resource: pulumi.Resource,
        planned: PlannedResource,
        properties: Any,
        options: pulumi.ResourceOptions,
    ) -> None:
        if isinstance(resource, pulumi.ComponentResource):
            pulumi.ComponentResource.__init__(resource, planned.type, planned.name, None, options)
        elif isinstance(resource, pulumi.CustomResource):
            pulumi.CustomResource.__init__(
                resource, planned.type, planned.name, properties, options
            )


def _bare(planned: PlannedResource, options: pulumi.ResourceOptions) -> pulumi.Resource:
    typed = None if planned.is_component else typed_class(planned.type)
    if typed is None:
        resource_class: type[pulumi.Resource] = (
            pulumi.ComponentResource if planned.is_component else pulumi.CustomResource
        )
        resource = resource_class.__new__(resource_class)
        _Registration(resource, planned, dict(planned.inputs), options)
        return resource

    # What the provider class's constructor builds: its args object with every declared
    # property (None unless given), then the same CustomResource registration.
    properties = object.__new__(typed.args_class)
    properties.__dict__.update(dict.fromkeys(typed.python_names.values()))
    for wire_name, value in planned.inputs.items():
        properties.__dict__[typed.python_names.get(wire_name, wire_name)] = value
    resource = typed.resource_class.__new__(typed.resource_class)
    _Registration(resource, planned, properties, options)
    return resource


def _register_bare(plan: Plan) -> None:
    created: dict[str, pulumi.Resource] = {}

    def register(planned: PlannedResource) -> pulumi.Resource:
        existing = created.get(planned.urn)
        if existing is not None:
            return existing
        parent = None
        if planned.parent_urn is not None and planned.parent_urn in plan:
            parent = register(plan.resource(planned.parent_urn))
        created[planned.urn] = _bare(planned, pulumi.ResourceOptions(parent=parent))
        return created[planned.urn]

    for planned in plan.resources:
        register(planned)


def _floor_run(plan: Plan) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = MockMonitor(EchoMocks())
    try:
        pulumi_settings.reset_options(project=PROJECT_NAME, stack=ENV, preview=False)
        set_mocks(monitor.mocks, project=PROJECT_NAME, stack=ENV, preview=False, monitor=monitor)
        loop.run_until_complete(run_pulumi_func(lambda: _register_bare(plan)))
        if len(monitor.resources) != len(plan):
            message = f"the floor registered {len(monitor.resources)} of {len(plan)} resources"
            raise RuntimeError(message)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


def register_floor(plan: Plan) -> None:
    """Register the plan's resources bare under the SDK's stock mock monitor.

    The collector is tuned exactly as the engine tunes it for its own run, so the ratio
    compares the work done, not the garbage collector's settings.
    """
    with fewer_collections():
        contextvars.copy_context().run(_floor_run, plan)


# --- one size, in its own process --------------------------------------------------------


def _timed(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def measure(size: int, workdir: Path) -> dict[str, Any]:
    """Plan and floor for one catalog size; run in a fresh process per size."""
    warmup = make_project(workdir, 3)
    plan_environment(ENV, project_dir=warmup)

    project = make_project(workdir, size)
    plan_seconds = []
    plan = plan_environment(ENV, project_dir=project)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    floor_seconds = []
    for _ in range(REPEATS[size]):
        floor_seconds.append(_timed(lambda: register_floor(plan)))
        plan_seconds.append(_timed(lambda: plan_environment(ENV, project_dir=project)))
    return {
        "size": size,
        "resources": len(plan),
        "aws_resources": sum(1 for planned in plan if planned.custom),
        "plan_seconds": min(plan_seconds),
        "floor_seconds": min(floor_seconds),
        "peak_bytes": peak_kib * 1024,
    }


def _measure_in_subprocess(size: int, workdir: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--measure", str(size), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        message = f"measuring {size} services failed (exit {completed.returncode})"
        raise SystemExit(message)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.measure is not None:
        print(json.dumps(measure(arguments.measure, arguments.workdir)))
        return 0

    results = {}
    with tempfile.TemporaryDirectory(prefix="latticework-bench-") as workdir:
        for size in SIZES:
            results[size] = _measure_in_subprocess(size, Path(workdir) / str(size))

    header = ("services", "resources", "plan cpu", "floor cpu", "ratio", "peak MiB")
    print(" ".join(f"{label:>9}" for label in header))
    ratios = {}
    for size, result in results.items():
        ratios[size] = result["plan_seconds"] / result["floor_seconds"]
        print(
            f"{size:>9} {result['resources']:>9} {result['plan_seconds']:>9.2f} "
            f"{result['floor_seconds']:>9.2f} {ratios[size]:>9.2f} "
            f"{result['peak_bytes'] / (1 << 20):>9.0f}"
        )

    growth = ratios[300] / ratios[10]
    peak = results[300]["peak_bytes"]
    checks = [
        (ratios[100] <= MAX_RATIO_AT_100, f"100 services: ratio {ratios[100]:.2f} <= 1.5"),
        (growth <= MAX_RATIO_GROWTH, f"ratio at 300 / ratio at 10 = {growth:.2f} <= 1.2"),
        (peak < MAX_PEAK_BYTES, f"peak memory at 300 services {peak / (1 << 20):.0f} MiB < 1024"),
    ]
    for passed, description in checks:
        print(f"{_verdict(passed)}  {description}")
    return 0 if all(passed for passed, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
