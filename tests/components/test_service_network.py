"""ServiceNetwork: IAM auth, limited to the environment's organisation or accounts, logged."""

from __future__ import annotations

from latticework.plan import Plan
from tests.components._samples import AUTH_POLICY, inputs_of, named, outputs_of, policy_document

NETWORK = "aws:vpclattice/serviceNetwork:ServiceNetwork"


def test_service_network_requires_iam_auth(dev_plan: Plan) -> None:
    """The service network authenticates every request with IAM (SigV4)."""
    network = named(dev_plan, NETWORK, "dev-service-network-network")

    assert inputs_of(network)["authType"] == "AWS_IAM"


def test_dev_admits_its_account_and_the_catalogs_external_caller(dev_plan: Plan) -> None:
    """dev admits its own account, and the storefront role the catalog names by exact ARN."""
    network = named(dev_plan, NETWORK, "dev-service-network-network")
    auth_policy = named(dev_plan, AUTH_POLICY, "dev-service-network-auth-policy")

    account, external = policy_document(auth_policy)["Statement"]

    assert inputs_of(auth_policy)["resourceIdentifier"] == outputs_of(network)["arn"]
    assert account["Condition"]["StringEquals"] == {"aws:PrincipalAccount": ["111122223333"]}
    assert account["Condition"]["StringNotEqualsIgnoreCase"] == {"aws:PrincipalType": "anonymous"}
    assert external["Condition"]["ArnEquals"] == {
        "aws:PrincipalArn": ["arn:aws:iam::444455556666:role/storefront-api"]
    }
    assert {account["Resource"], external["Resource"]} == {
        "arn:aws:vpc-lattice:eu-west-1:111122223333:service/*"
    }


def test_prod_admits_its_organisation(prod_plan: Plan) -> None:
    """prod names its organisation: one statement on aws:PrincipalOrgID."""
    auth_policy = named(prod_plan, AUTH_POLICY, "prod-service-network-auth-policy")

    statements = policy_document(auth_policy)["Statement"]

    organisation = [s for s in statements if s["Sid"] == "OrganizationCallers"]
    assert len(organisation) == 1
    assert organisation[0]["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-7k2m9x4q1z"}


def test_access_logs_go_to_the_environment_log_group(dev_plan: Plan) -> None:
    """The service network's access logs are delivered to its own log group."""
    log_group = named(
        dev_plan, "aws:cloudwatch/logGroup:LogGroup", "dev-service-network-access-logs"
    )
    subscription = named(
        dev_plan,
        "aws:vpclattice/accessLogSubscription:AccessLogSubscription",
        "dev-service-network-access-logs",
    )

    assert inputs_of(subscription)["destinationArn"] == outputs_of(log_group)["arn"]
    assert inputs_of(log_group)["name"] == "/latticework/dev/lattice-access"


def test_every_service_joins_the_network(dev_plan: Plan) -> None:
    """Each Lattice service is associated with the environment's service network."""
    network = named(dev_plan, NETWORK, "dev-service-network-network")
    associations = dev_plan.of_type(
        "aws:vpclattice/serviceNetworkServiceAssociation:ServiceNetworkServiceAssociation"
    )

    assert sorted(association.name for association in associations) == [
        "inventory-association",
        "orders-association",
        "payments-association",
    ]
    assert {inputs_of(a)["serviceNetworkIdentifier"] for a in associations} == {network.id}
