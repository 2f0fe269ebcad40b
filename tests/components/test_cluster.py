"""Cluster: one Fargate ECS cluster per environment, with Container Insights."""

from __future__ import annotations

from latticework.plan import Plan
from tests.components._samples import ECS_SERVICE, inputs_of, named, outputs_of


def test_cluster_is_named_after_the_environment(prod_plan: Plan) -> None:
    """The cluster is latticework-<env>, and every service runs in it."""
    cluster = named(prod_plan, "aws:ecs/cluster:Cluster", "prod-cluster-cluster")

    assert inputs_of(cluster)["name"] == "latticework-prod"
    assert inputs_of(cluster)["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert {inputs_of(s)["cluster"] for s in prod_plan.of_type(ECS_SERVICE)} == {
        outputs_of(cluster)["arn"]
    }


def test_cluster_offers_fargate_capacity_only(prod_plan: Plan) -> None:
    """The cluster's capacity providers are Fargate and Fargate Spot, Fargate by default."""
    providers = named(
        prod_plan,
        "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
        "prod-cluster-capacity",
    )

    assert inputs_of(providers)["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    (strategy,) = inputs_of(providers)["defaultCapacityProviderStrategies"]
    assert strategy["capacityProvider"] == "FARGATE"
