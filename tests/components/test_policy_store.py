"""Tests for `components.policy_store` under the Pulumi SDK's mock monitor."""

from __future__ import annotations

import asyncio
import contextvars
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from click.testing import CliRunner
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func

from components.errors import SpecError
from components.policy_store import PolicyStore, PolicyStoreArgs
from components.spec import load_catalog
from latticework.cli import main
from latticework.plan import Plan

AUTHZ_DIR = Path(__file__).resolve().parents[2] / "authz"
STORE_ID = "PSEXAMPLEabcdefg111111"


@dataclass(frozen=True)
class Registration:
    """One resource registration as the mock monitor saw it."""

    type: str
    name: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]


@dataclass
class Recorder:
    """Registrations by URN, and the (type, name) each URN stands for."""

    registrations: dict[str, Registration] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_token]

    def dependency_names(self, registration: Registration) -> set[str]:
        return {self.registrations[urn].name for urn in registration.dependencies}


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "aws:verifiedpermissions/policyStore:PolicyStore":
            outputs["policyStoreId"] = STORE_ID
            outputs["arn"] = f"arn:aws:verifiedpermissions::111122223333:policy-store/{STORE_ID}"
        if args.typ == "aws:verifiedpermissions/policyTemplate:PolicyTemplate":
            outputs["policyTemplateId"] = f"template-{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        raise NotImplementedError(f"unexpected invoke {args.token}")


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recorder: Recorder) -> None:
        super().__init__(mocks)
        self.recorder = recorder

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.recorder.registrations[response.urn] = Registration(
            type=request.type,
            name=request.name,
            inputs=inputs,
            dependencies=tuple(request.dependencies),
        )
        return response


def _run(program: Callable[[], Any]) -> Recorder:
    recorder = Recorder()
    mocks = _Mocks()
    # A loop of its own, current before set_mocks registers the stack: after an offline plan
    # (or asyncio.run) this thread has none. The program runs in the context set_mocks set.
    with asyncio.Runner() as runner:
        runner.get_loop()
        pulumi.runtime.set_mocks(mocks, preview=False, monitor=_RecordingMonitor(mocks, recorder))
        runner.run(run_pulumi_func(program), context=contextvars.copy_context())
    return recorder


@dataclass(frozen=True)
class IdentitySource:
    """A stand-in for the `identitySource` settings type of `components.spec`."""

    principal_entity_type: str = "Latticework::User"
    client_ids: tuple[str, ...] = ("client-1",)
    cognito_user_pool_arn: str | None = None
    oidc_issuer: str | None = None


def _deployed(identity_source: IdentitySource | None = None) -> Recorder:
    return _run(lambda: PolicyStore("dev-authz", PolicyStoreArgs(AUTHZ_DIR, identity_source)))


def test_store_uses_strict_validation() -> None:
    """The policy store is created with STRICT validation."""

    recorder = _deployed()

    [store] = recorder.of_type("aws:verifiedpermissions/policyStore:PolicyStore")
    assert store.inputs["validationSettings"] == {"mode": "STRICT"}
    assert store.name == "dev-authz-store"


def test_every_policy_and_template_depends_on_the_schema() -> None:
    """Each policy, template and template-linked policy waits for the schema."""

    recorder = _deployed()

    dependents = [
        *recorder.of_type("aws:verifiedpermissions/policy:Policy"),
        *recorder.of_type("aws:verifiedpermissions/policyTemplate:PolicyTemplate"),
    ]
    assert dependents
    for registration in dependents:
        assert "dev-authz-schema" in recorder.dependency_names(registration), registration.name


def test_one_policy_resource_per_static_policy_and_link() -> None:
    """Every @id in authz/policies and every link becomes its own Policy resource."""

    recorder = _deployed()

    names = {r.name for r in recorder.of_type("aws:verifiedpermissions/policy:Policy")}
    assert "dev-authz-policy-orders-calls-payments" in names
    assert "dev-authz-policy-external-roles-from-partner-account" in names
    assert "dev-authz-link-storefront-reads" in names
    assert len(names) == 10


def test_static_policy_carries_its_statement() -> None:
    """A static policy is deployed with its Cedar text exactly as written."""

    recorder = _deployed()

    [policy] = [
        r
        for r in recorder.of_type("aws:verifiedpermissions/policy:Policy")
        if r.name == "dev-authz-policy-orders-calls-payments"
    ]
    statement = policy.inputs["definition"]["static"]["statement"]
    assert statement.startswith('@id("orders-calls-payments")')
    assert 'principal == Latticework::Service::"orders"' in statement
    assert policy.inputs["policyStoreId"] == STORE_ID


def test_linked_policy_points_at_its_template() -> None:
    """A link becomes a template-linked policy naming the template's id and the principal."""

    recorder = _deployed()

    [link] = [
        r
        for r in recorder.of_type("aws:verifiedpermissions/policy:Policy")
        if r.name == "dev-authz-link-storefront-reads"
    ]
    linked = link.inputs["definition"]["templateLinked"]
    assert linked["policyTemplateId"] == "template-dev-authz-template-grant-read"
    assert linked["principal"] == {
        "entityType": "Latticework::IamRole",
        "entityId": "arn:aws:iam::444455556666:role/storefront-api",
    }
    assert "dev-authz-template-grant-read" in recorder.dependency_names(link)


def test_schema_is_deployed_from_schema_json() -> None:
    """The schema resource carries authz/schema.json."""

    recorder = _deployed()

    [schema] = recorder.of_type("aws:verifiedpermissions/schema:Schema")
    assert schema.inputs["definition"]["value"] == (AUTHZ_DIR / "schema.json").read_text()


def test_no_identity_source_without_settings() -> None:
    """Without identitySource settings no identity source is created."""

    recorder = _deployed()

    assert recorder.of_type("aws:verifiedpermissions/identitySource:IdentitySource") == []


def test_cognito_identity_source_sets_principal_type_and_groups() -> None:
    """A Cognito identity source names the principal type and maps groups to UserGroup."""
    settings = IdentitySource(
        cognito_user_pool_arn="arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_abc"
    )

    recorder = _deployed(settings)

    [source] = recorder.of_type("aws:verifiedpermissions/identitySource:IdentitySource")
    assert source.inputs["principalEntityType"] == "Latticework::User"
    cognito = source.inputs["configuration"]["cognitoUserPoolConfiguration"]
    assert cognito["userPoolArn"] == settings.cognito_user_pool_arn
    assert cognito["clientIds"] == ["client-1"]
    assert cognito["groupConfiguration"] == {"groupEntityType": "Latticework::UserGroup"}
    assert "dev-authz-schema" in recorder.dependency_names(source)


def test_oidc_identity_source_selects_identity_tokens() -> None:
    """An OIDC identity source accepts identity tokens for the configured client ids."""
    settings = IdentitySource(oidc_issuer="https://login.example.com")

    recorder = _deployed(settings)

    [source] = recorder.of_type("aws:verifiedpermissions/identitySource:IdentitySource")
    oidc = source.inputs["configuration"]["openIdConnectConfiguration"]
    assert oidc["issuer"] == "https://login.example.com"
    assert oidc["tokenSelection"]["identityTokenOnly"] == {
        "clientIds": ["client-1"],
        "principalIdClaim": "sub",
    }
    assert oidc["groupConfiguration"]["groupEntityType"] == "Latticework::UserGroup"


def test_identity_source_with_undeclared_principal_type_is_rejected() -> None:
    """A principal entity type the schema does not declare stops the deployment."""
    settings = IdentitySource(principal_entity_type="User", oidc_issuer="https://login.example.com")

    with pytest.raises(SpecError, match="principalEntityType"):
        _deployed(settings)


def test_identity_source_needs_exactly_one_provider() -> None:
    """Setting both a Cognito pool and an OIDC issuer is rejected."""
    settings = IdentitySource(
        cognito_user_pool_arn="arn:aws:cognito-idp:eu-west-1:111122223333:userpool/x",
        oidc_issuer="https://login.example.com",
    )

    with pytest.raises(SpecError, match="exactly one of cognitoUserPoolArn and oidcIssuer"):
        _deployed(settings)


def test_invalid_policy_stops_the_store(tmp_path: Path) -> None:
    """A policy that fails schema validation raises SpecError before anything deploys."""
    authz = tmp_path / "authz"
    shutil.copytree(AUTHZ_DIR, authz)
    (authz / "policies" / "broken.cedar").write_text(
        '@id("broken")\npermit (principal is Latticework::Usr, action, resource);\n'
    )

    with pytest.raises(SpecError, match=r"broken\.cedar:2: policy \"broken\""):
        _run(lambda: PolicyStore("dev-authz", PolicyStoreArgs(authz)))


# --- through the offline plan of the real program ------------------------------------------

VP = "aws:verifiedpermissions"


def test_plan_every_policy_depends_on_the_schema(staging_plan: Plan) -> None:
    """In the planned staging environment each policy and template depends on the schema."""
    [schema] = staging_plan.of_type(f"{VP}/schema:Schema")
    dependents = (
        *staging_plan.of_type(f"{VP}/policy:Policy"),
        *staging_plan.of_type(f"{VP}/policyTemplate:PolicyTemplate"),
        *staging_plan.of_type(f"{VP}/identitySource:IdentitySource"),
    )

    missing = [r.name for r in dependents if schema.urn not in r.dependencies]

    assert len(dependents) == 12
    assert missing == []


def test_plan_store_is_strict_with_the_staging_identity_source(staging_plan: Plan) -> None:
    """Staging's Cognito identity source is planned with the principal type set explicitly."""
    [store] = staging_plan.of_type(f"{VP}/policyStore:PolicyStore")
    [source] = staging_plan.of_type(f"{VP}/identitySource:IdentitySource")

    assert store.inputs["validationSettings"] == {"mode": "STRICT"}
    assert source.inputs["principalEntityType"] == "Latticework::User"


def test_plan_fails_with_exit_2_when_authz_is_invalid(project_copy: Path) -> None:
    """`latticework plan` stops with exit 2 and the policy's file, line and id."""
    users = project_copy / "authz" / "policies" / "users.cedar"
    users.write_text(
        users.read_text().replace("principal is Latticework::User", "principal is User")
    )

    result = CliRunner().invoke(main, ["plan", "--env", "dev", "--project-dir", str(project_copy)])

    assert result.exit_code == 2, result.output
    assert 'users.cedar:15: policy "owners-manage-orders": unrecognized entity type `User`' in (
        result.output
    )


def test_catalog_route_missing_from_the_schema_stops_the_store(tmp_path: Path) -> None:
    """A catalog route whose action the schema lacks fails the deployment, as `validate` does."""
    services_file = tmp_path / "services.yaml"
    catalog_text = (AUTHZ_DIR.parent / "stacks" / "services.yaml").read_text()
    services_file.write_text(catalog_text.replace("action: CancelOrder", "action: Refund"))
    args = PolicyStoreArgs(
        AUTHZ_DIR, catalog=load_catalog(services_file), services_file=services_file
    )

    with pytest.raises(SpecError, match=r"services\[orders\]\.routes\[3\]: action 'Refund'"):
        _run(lambda: PolicyStore("dev-authz", args))
