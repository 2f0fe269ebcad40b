"""How long the CrossGuard pack takes on a large plan, as a ratio to planning it.

For generated catalogs of 30 and 300 services (renamed copies of the sample services, made
by the offline engine's generator in `bench/plan_scaling.py`, or by this file's own when that
is absent) this prints, per size:

- resources: everything the plan registers;
- plan time: `latticework.offline.plan_environment` on the generated project;
- policy time: `latticework.policy_eval.evaluate_plan` on that plan, all 13 policies, the
  pack config read from the stack as `latticework plan` does;
- ratio: policy time / plan time, both measured in this process, best of several runs
  (plan and policy runs alternate, so load on the machine hits both alike);
- findings: what the pack reported (a generated catalog is as clean as the sample).

Target, printed PASS or FAIL: at 300 services the policy time is at most 0.25x the plan time.

Run: `.venv/bin/python bench/policy_scaling.py` (about three minutes on two busy cores).
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from latticework.offline import plan_environment
from latticework.plan import Plan
from latticework.policy_eval import evaluate_plan

REPO = Path(__file__).resolve().parents[1]
ENV = "dev"
SIZES = (30, 300)
REPEATS = 2
MAX_RATIO_AT_300 = 0.25


def _generator() -> Callable[[Path, int], Path]:
    """`make_project` of the offline engine's benchmark, or this file's own when it is absent."""
    location = REPO / "bench" / "plan_scaling.py"
    spec = importlib.util.spec_from_file_location("plan_scaling", location)
    if not location.is_file() or spec is None or spec.loader is None:
        return make_project
    module = importlib.util.module_from_spec(spec)
    # Registered first: its slotted dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    generator: Callable[[Path, int], Path] = module.make_project
    return generator


def make_project(directory: Path, size: int) -> Path:
    """A copy of the project whose dev stack plans `size` renamed copies of the samples."""
    project = directory / f"policy-project-{size}"
    (project / "stacks").mkdir(parents=True)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "authz", project / "authz")

    stack = yaml.safe_load((REPO / "stacks" / f"Pulumi.{ENV}.yaml").read_text())
    stack["config"]["latticework:settings"].pop("replicas", None)
    (project / "stacks" / f"Pulumi.{ENV}.yaml").write_text(yaml.safe_dump(stack))

    sample = yaml.safe_load((REPO / "stacks" / "services.yaml").read_text())["services"]
    services = []
    for index in range(size):
        group = index // len(sample)
        service = copy.deepcopy(sample[index % len(sample)])
        service["name"] = f"{service['name']}-{group}"
        callers = service.setdefault("callers", {})
        callers["services"] = [f"{caller}-{group}" for caller in callers.get("services", [])]
        services.append(service)
    last_group = (size - 1) // len(sample)
    present = {service["name"] for service in services}
    for service in services:
        # The last group may be partial: drop callers that were not generated.
        if service["name"].endswith(f"-{last_group}"):
            service["callers"]["services"] = [
                caller for caller in service["callers"]["services"] if caller in present
            ]
    catalog = yaml.safe_dump({"services": services}, sort_keys=False)
    (project / "stacks" / "services.yaml").write_text(catalog)
    return project


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(
    size: int, workdir: Path, make_project: Callable[[Path, int], Path]
) -> dict[str, float]:
    """Best plan and policy times for one generated catalog size."""
    project = make_project(workdir, size)
    plan: Plan = plan_environment(ENV, project_dir=project)
    report = evaluate_plan(plan)

    plan_seconds: list[float] = []
    policy_seconds: list[float] = []
    for _ in range(REPEATS):
        plan_seconds.append(_timed(lambda: plan_environment(ENV, project_dir=project)))
        policy_seconds.append(_timed(lambda: evaluate_plan(plan)))
    return {
        "size": size,
        "resources": len(plan),
        "plan_seconds": min(plan_seconds),
        "policy_seconds": min(policy_seconds),
        "findings": len(report.findings),
    }


def main() -> int:
    """Measure every size and print the table and the verdict; exit 1 on FAIL."""
    generate = _generator()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        # Warm up imports and caches so the first size is not charged for them.
        plan_environment(ENV, project_dir=generate(workdir, 3))
        rows = [measure(size, workdir, generate) for size in SIZES]

    print(f"{'services':>8} {'resources':>9} {'plan s':>8} {'policy s':>9} {'ratio':>7} findings")
    for row in rows:
        ratio = row["policy_seconds"] / row["plan_seconds"]
        print(
            f"{row['size']:>8} {row['resources']:>9} {row['plan_seconds']:>8.3f} "
            f"{row['policy_seconds']:>9.3f} {ratio:>6.3f}x {row['findings']:>8}"
        )

    largest = rows[-1]
    ratio = largest["policy_seconds"] / largest["plan_seconds"]
    verdict = "PASS" if ratio <= MAX_RATIO_AT_300 else "FAIL"
    print(
        f"{verdict}: policy time at {largest['size']} services is {ratio:.3f}x the plan time "
        f"(target <= {MAX_RATIO_AT_300}x)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
