"""The environment's ECS cluster: Fargate only, with Container Insights."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, slots=True)
class ClusterArgs:
    """What the cluster is built from."""

    env: str
    """The environment name; the cluster is called ``latticework-<env>``."""


class Cluster(pulumi.ComponentResource):
    """An ECS cluster whose tasks run on Fargate (and Fargate Spot) capacity."""

    cluster_arn: pulumi.Output[str]
    cluster_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:Cluster", name, None, opts)

        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=f"latticework-{args.env}",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider="FARGATE", weight=1, base=1
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.cluster_arn = cluster.arn
        self.cluster_name = cluster.name
        self.register_outputs({"cluster_arn": self.cluster_arn, "cluster_name": self.cluster_name})


__all__ = ["Cluster", "ClusterArgs"]
