"""The environment's secrets: a KMS key and one Secrets Manager secret per declared secret.

latticework creates the secrets, never their values: a value is put by an operator or by the
rotation function, and services fetch it at run time by ARN. Each secret gets a resource
policy that lets its own service's task role read it and denies every other account, and a
rotation schedule when the environment names a rotation function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam_documents, naming
from components.spec import SecretSpec

# Days a deleted key or secret can be recovered: the longest AWS allows when protected.
_PROTECTED_RECOVERY_DAYS = 30
_RECOVERY_DAYS = 7


@dataclass(frozen=True, slots=True)
class SecretsArgs:
    """What the secrets are built from."""

    env: str
    region: str
    account_id: str
    secrets: Mapping[str, Sequence[SecretSpec]]
    """Service name -> the secrets it declares in the catalog."""
    rotation_function_arn: str | None = None
    protect: bool = False
    """Protect the key and secrets from `pulumi destroy`; longest recovery windows."""


class Secrets(pulumi.ComponentResource):
    """A KMS key and the environment's Secrets Manager secrets, with rotation."""

    kms_key_arn: pulumi.Output[str]
    secret_arns: Mapping[str, Mapping[str, pulumi.Output[str]]]
    """Service name -> logical secret name -> secret ARN."""

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:Secrets", name, None, opts)

        partition = naming.partition_of(args.region)
        recovery_days = _PROTECTED_RECOVERY_DAYS if args.protect else _RECOVERY_DAYS
        key = aws.kms.Key(
            f"{name}-key",
            description=f"latticework {args.env}: encrypts the environment's secrets",
            enable_key_rotation=True,
            deletion_window_in_days=recovery_days,
            policy=json.dumps(
                iam_documents.kms_key_policy(
                    account_id=args.account_id, partition=partition, region=args.region
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.kms.Alias(
            f"{name}-key",
            name=f"alias/latticework/{args.env}/secrets",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.kms_key_arn = key.arn
        self.secret_arns = {
            service: {
                secret.name: self._secret(name, args, service, secret, key, recovery_days)
                for secret in secrets
            }
            for service, secrets in args.secrets.items()
        }
        self.register_outputs(
            {
                "kms_key_arn": self.kms_key_arn,
                "secret_arns": {
                    f"{service}/{secret}": arn
                    for service, arns in self.secret_arns.items()
                    for secret, arn in arns.items()
                },
            }
        )

    def _secret(
        self,
        name: str,
        args: SecretsArgs,
        service: str,
        secret: SecretSpec,
        key: aws.kms.Key,
        recovery_days: int,
    ) -> pulumi.Output[str]:
        resource_name = f"{name}-{service}-{secret.name}"
        stored = aws.secretsmanager.Secret(
            resource_name,
            name=naming.secret_name(args.env, service, secret.name),
            description=f"{secret.name} of {service} ({args.env}); value set outside latticework",
            kms_key_id=key.arn,
            recovery_window_in_days=recovery_days,
            tags={"latticework:service": service, "latticework:environment": args.env},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        reader_role_arn = naming.role_arn(
            partition=naming.partition_of(args.region),
            account_id=args.account_id,
            role_name=naming.task_role_name(args.env, service),
        )
        aws.secretsmanager.SecretPolicy(
            resource_name,
            secret_arn=stored.arn,
            policy=stored.arn.apply(
                lambda arn: json.dumps(
                    iam_documents.secret_resource_policy(
                        secret_arn=arn, account_id=args.account_id, reader_role_arn=reader_role_arn
                    )
                )
            ),
            block_public_policy=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._rotation(resource_name, args, secret, stored)
        return stored.arn

    def _rotation(
        self,
        resource_name: str,
        args: SecretsArgs,
        secret: SecretSpec,
        stored: aws.secretsmanager.Secret,
    ) -> None:
        if secret.rotation_days is None:
            return

        if args.rotation_function_arn is None:
            pulumi.log.warn(
                f"{secret.name} asks for rotation every {secret.rotation_days} days, but the "
                "stack sets no rotationFunctionArn: the secret will not rotate",
                resource=stored,
            )
            return

        aws.secretsmanager.SecretRotation(
            resource_name,
            secret_id=stored.id,
            rotation_lambda_arn=args.rotation_function_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=secret.rotation_days
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


__all__ = ["Secrets", "SecretsArgs"]
