"""The latticework Pulumi program: load this stack's spec and build one Environment.

`pulumi up` runs it with the stack name as the environment (``dev``, ``staging``, ``prod``);
`latticework plan` runs the very same file under the SDK's mock monitor. The optional stack
config key ``latticework:servicesFile`` replaces ``stacks/services.yaml`` (the offline
engine sets it for ``--services FILE``).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.environment import Environment, EnvironmentArgs
from components.spec import load_spec

PROJECT_DIR = Path(__file__).resolve().parent


def main() -> None:
    """Build the environment named by the stack and export what operators look up."""
    services_file = pulumi.Config("latticework").get("servicesFile")
    spec = load_spec(
        pulumi.get_stack(),
        stacks_dir=PROJECT_DIR / "stacks",
        services_file=PROJECT_DIR / services_file if services_file else None,
    )
    environment = Environment(spec.env, EnvironmentArgs(spec=spec, authz_dir=PROJECT_DIR / "authz"))

    pulumi.export("environment", spec.env)
    pulumi.export("region", spec.region)
    pulumi.export("policyStoreId", environment.policy_store_id)
    pulumi.export("clusterName", environment.cluster_name)
    pulumi.export("serviceNetworkId", environment.service_network_id)
    pulumi.export(
        "serviceUrls", {name: service.url for name, service in environment.services.items()}
    )
    pulumi.export("requireApproval", spec.settings.rollout.require_approval)


main()
