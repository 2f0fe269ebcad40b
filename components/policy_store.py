"""The Verified Permissions policy store of an environment, deployed from `authz/`.

`PolicyStore` validates every file under `authz/` before it registers anything (through
`components.authz_files.load_authz`, which raises `SpecError`), then builds:

- the policy store, with STRICT validation;
- the schema, first: every policy, template and link depends on it, so a schema change is
  deployed before the policies that need it;
- one `Policy` per static policy, one `PolicyTemplate` per template and one template-linked
  `Policy` per link in `authz/links.yaml`;
- optionally an identity source (a Cognito user pool or an OIDC issuer) whose principal
  entity type is set explicitly and whose groups map to `Latticework::UserGroup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.authz_files import (
    GROUP_ENTITY_TYPE,
    AuthzFiles,
    CedarPolicy,
    TemplateLink,
    load_authz,
    schema_entity_types,
)
from components.errors import SpecError
from components.spec import ServiceCatalog

# The token claim Verified Permissions reads group membership from (Cognito uses its own).
OIDC_GROUP_CLAIM = "groups"
# The claim that names the principal in an OIDC identity token.
OIDC_PRINCIPAL_ID_CLAIM = "sub"


class IdentitySourceSettings(Protocol):
    """The `identitySource` stack setting (docs/contracts.md), as `components.spec` types it.

    Exactly one of `cognito_user_pool_arn` and `oidc_issuer` is set.
    """

    @property
    def cognito_user_pool_arn(self) -> str | None: ...

    @property
    def oidc_issuer(self) -> str | None: ...

    @property
    def client_ids(self) -> Sequence[str]: ...

    @property
    def principal_entity_type(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PolicyStoreArgs:
    """What the policy store is built from.

    `authz_dir` is the `authz/` directory; `identity_source` the environment's optional
    identity source settings; `deletion_protection` mirrors the environment's setting;
    `catalog` (read from `services_file`) has every route's action and resource type checked
    against the schema, as `latticework authz validate` does.
    """

    authz_dir: Path
    identity_source: IdentitySourceSettings | None = None
    deletion_protection: bool = False
    catalog: ServiceCatalog | None = None
    services_file: Path | None = None


class PolicyStore(pulumi.ComponentResource):
    """A Verified Permissions policy store holding the schema and policies of `authz/`."""

    policy_store_id: pulumi.Output[str]
    policy_store_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: PolicyStoreArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("latticework:components:PolicyStore", name, None, opts)

        authz = load_authz(args.authz_dir, catalog=args.catalog, services_file=args.services_file)
        if args.identity_source is not None:
            _check_identity_source(args.identity_source, authz)

        store = aws.verifiedpermissions.PolicyStore(
            f"{name}-store",
            description=f"latticework {name}: Cedar policies from authz/",
            validation_settings=aws.verifiedpermissions.PolicyStoreValidationSettingsArgs(
                mode="STRICT"
            ),
            deletion_protection="ENABLED" if args.deletion_protection else "DISABLED",
            opts=pulumi.ResourceOptions(parent=self),
        )
        schema = aws.verifiedpermissions.Schema(
            f"{name}-schema",
            policy_store_id=store.policy_store_id,
            definition=aws.verifiedpermissions.SchemaDefinitionArgs(value=authz.schema_json),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_schema = pulumi.ResourceOptions(parent=self, depends_on=[schema])

        self.policies = {
            policy.policy_id: _static_policy(name, policy, store, after_schema)
            for policy in authz.policies
        }
        self.templates = {
            template.policy_id: _template(name, template, store, after_schema)
            for template in authz.templates
        }
        self.links = {
            link.link_id: _linked_policy(name, link, store, self.templates, after_schema)
            for link in authz.links
        }
        self.identity_source = (
            _identity_source(name, args.identity_source, store, after_schema)
            if args.identity_source is not None
            else None
        )

        self.policy_store_id = store.policy_store_id
        self.policy_store_arn = store.arn
        self.register_outputs(
            {"policy_store_id": self.policy_store_id, "policy_store_arn": self.policy_store_arn}
        )


def _static_policy(
    name: str,
    policy: CedarPolicy,
    store: aws.verifiedpermissions.PolicyStore,
    opts: pulumi.ResourceOptions,
) -> aws.verifiedpermissions.Policy:
    return aws.verifiedpermissions.Policy(
        f"{name}-policy-{policy.policy_id}",
        policy_store_id=store.policy_store_id,
        definition=aws.verifiedpermissions.PolicyDefinitionArgs(
            static=aws.verifiedpermissions.PolicyDefinitionStaticArgs(
                statement=policy.statement,
                description=_description(policy),
            )
        ),
        opts=opts,
    )


def _template(
    name: str,
    template: CedarPolicy,
    store: aws.verifiedpermissions.PolicyStore,
    opts: pulumi.ResourceOptions,
) -> aws.verifiedpermissions.PolicyTemplate:
    return aws.verifiedpermissions.PolicyTemplate(
        f"{name}-template-{template.policy_id}",
        policy_store_id=store.policy_store_id,
        statement=template.statement,
        description=_description(template),
        opts=opts,
    )


def _linked_policy(
    name: str,
    link: TemplateLink,
    store: aws.verifiedpermissions.PolicyStore,
    templates: dict[str, aws.verifiedpermissions.PolicyTemplate],
    opts: pulumi.ResourceOptions,
) -> aws.verifiedpermissions.Policy:
    principal = (
        aws.verifiedpermissions.PolicyDefinitionTemplateLinkedPrincipalArgs(
            entity_type=link.principal.entity_type, entity_id=link.principal.entity_id
        )
        if link.principal is not None
        else None
    )
    resource = (
        aws.verifiedpermissions.PolicyDefinitionTemplateLinkedResourceArgs(
            entity_type=link.resource.entity_type, entity_id=link.resource.entity_id
        )
        if link.resource is not None
        else None
    )
    return aws.verifiedpermissions.Policy(
        f"{name}-link-{link.link_id}",
        policy_store_id=store.policy_store_id,
        definition=aws.verifiedpermissions.PolicyDefinitionArgs(
            template_linked=aws.verifiedpermissions.PolicyDefinitionTemplateLinkedArgs(
                policy_template_id=templates[link.template_id].policy_template_id,
                principal=principal,
                resource=resource,
            )
        ),
        opts=opts,
    )


def _identity_source(
    name: str,
    settings: IdentitySourceSettings,
    store: aws.verifiedpermissions.PolicyStore,
    opts: pulumi.ResourceOptions,
) -> aws.verifiedpermissions.IdentitySource:
    configuration: aws.verifiedpermissions.IdentitySourceConfigurationArgsDict
    if settings.cognito_user_pool_arn is not None:
        configuration = {
            "cognito_user_pool_configuration": {
                "user_pool_arn": settings.cognito_user_pool_arn,
                "client_ids": list(settings.client_ids),
                "group_configuration": {"group_entity_type": GROUP_ENTITY_TYPE},
            }
        }
    else:
        configuration = {
            "open_id_connect_configuration": {
                "issuer": str(settings.oidc_issuer),
                "token_selection": {
                    "identity_token_only": {
                        "client_ids": list(settings.client_ids),
                        "principal_id_claim": OIDC_PRINCIPAL_ID_CLAIM,
                    }
                },
                "group_configuration": {
                    "group_claim": OIDC_GROUP_CLAIM,
                    "group_entity_type": GROUP_ENTITY_TYPE,
                },
            }
        }
    return aws.verifiedpermissions.IdentitySource(
        f"{name}-identity-source",
        policy_store_id=store.policy_store_id,
        principal_entity_type=settings.principal_entity_type,
        configuration=configuration,
        opts=opts,
    )


def _check_identity_source(settings: IdentitySourceSettings, authz: AuthzFiles) -> None:
    """Fail before deploying when the identity source cannot work with this schema."""
    key = "latticework:settings.identitySource"
    if (settings.cognito_user_pool_arn is None) == (settings.oidc_issuer is None):
        raise SpecError(
            "stack settings",
            key,
            "exactly one of cognitoUserPoolArn and oidcIssuer",
            "both" if settings.cognito_user_pool_arn is not None else "neither",
            "Set one of them.",
        )
    declared = schema_entity_types(authz.schema_json)
    for field, entity_type in (
        ("principalEntityType", settings.principal_entity_type),
        ("(group entity type)", GROUP_ENTITY_TYPE),
    ):
        if entity_type not in declared:
            raise SpecError(
                authz.schema_file,
                f"{key}.{field}",
                f"an entity type declared in the schema, one of {sorted(declared)}",
                repr(entity_type),
                f"Declare {entity_type} in {authz.schema_file} or set {field} to a declared type.",
            )


def _description(policy: CedarPolicy) -> str:
    return f"{policy.policy_id} ({policy.file.parent.name}/{policy.file.name})"


__all__ = ["IdentitySourceSettings", "PolicyStore", "PolicyStoreArgs"]
