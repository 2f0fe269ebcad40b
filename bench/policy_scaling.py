"""How long the CrossGuard pack takes on a large plan, as a ratio to planning it.

For generated catalogs of 30 and 300 services (made by the offline engine's generator in
`bench/plan_scaling.py`, so both benchmarks measure the same plans) this prints, per size:

- resources: everything the plan registers;
- plan time: `latticework.offline.plan_environment` on the generated project;
- policy time: `latticework.policy_eval.evaluate_plan` on that plan, every policy, the
  pack config read from the stack as `latticework plan` does;
- ratio: policy time / plan time, both measured in this process, best of several runs
  (plan and policy runs alternate, so load on the machine hits both alike);
- findings: what the pack reported (a generated catalog is as clean as the sample).

Target, printed PASS or FAIL: at 300 services the policy time is at most 0.25x the plan time.

Run: `.venv/bin/python bench/policy_scaling.py` (about three minutes on two busy cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from latticework.offline import plan_environment
from latticework.plan import Plan
from latticework.policy_eval import evaluate_plan

REPO = Path(__file__).resolve().parents[1]
ENV = "dev"
SIZES = (30, 300)
REPEATS = 2
MAX_RATIO_AT_300 = 0.25


def _generator() -> Callable[[Path, int], Path]:
    """`make_project` of the offline engine's benchmark: the same generated catalogs."""
    location = REPO / "bench" / "plan_scaling.py"
    spec = importlib.util.spec_from_file_location("plan_scaling", location)
    if not location.is_file() or spec is None or spec.loader is None:
        message = f"{location}: expected the plan benchmark, whose catalogs this one measures"
        raise SystemExit(message)
    module = importlib.util.module_from_spec(spec)
    # Registered first: its slotted dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    generator: Callable[[Path, int], Path] = module.make_project
    return generator


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
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()

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
