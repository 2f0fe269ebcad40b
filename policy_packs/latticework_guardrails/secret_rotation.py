"""Secrets Manager policies: every secret rotates, and often enough."""

from __future__ import annotations

import re
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy_packs.latticework_guardrails._graph import Index, by_type, reference
from policy_packs.latticework_guardrails._props import UNKNOWN, checked_at_update, read

# Type tokens, not passwords (ruff's S105 keys on the word SECRET).
SECRET: Final = "aws:secretsmanager/secret:Secret"  # noqa: S105
SECRET_ROTATION: Final = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105
DEFAULT_ROTATION_MAX_DAYS: Final = 90
_RATE: Final = re.compile(r"rate\(\s*(\d+)\s+(hour|hours|day|days)\s*\)", re.IGNORECASE)
_CRON: Final = re.compile(r"cron\((.+)\)", re.IGNORECASE)


def _has_schedule(rotation: Any) -> bool | None:
    """Whether rotationRules sets days or a schedule; None when unknown."""
    days = read(rotation.props, "rotationRules", "automaticallyAfterDays")
    schedule = read(rotation.props, "rotationRules", "scheduleExpression")
    if days not in (None, UNKNOWN, 0) or schedule not in (None, UNKNOWN, ""):
        return True
    return None if UNKNOWN in (days, schedule) else False


def _validate_rotation_required(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    grouped = by_type(args.resources)
    secrets = grouped.get(SECRET, [])
    index = Index(secrets)
    rotations_of: dict[str, list[Any]] = {secret.urn: [] for secret in secrets}
    unmatched_rotations = False
    for rotation in grouped.get(SECRET_ROTATION, []):
        matched, unsure = index.resolve(reference(rotation, "secretId"))
        for secret in matched:
            rotations_of[secret.urn].append(rotation)
        unmatched_rotations = unmatched_rotations or unsure
    undetermined: list[str] = []

    for secret in secrets:
        schedules = [_has_schedule(rotation) for rotation in rotations_of[secret.urn]]
        if True in schedules:
            continue
        if None in schedules or (not schedules and unmatched_rotations):
            undetermined.append(secret.name)
            continue
        if schedules:
            report_violation(
                f"secret '{secret.name}': its rotation '{rotations_of[secret.urn][0].name}' "
                "sets neither rotationRules.automaticallyAfterDays nor "
                "rotationRules.scheduleExpression; set one of them.",
                secret.urn,
            )
            continue
        report_violation(
            f"secret '{secret.name}': no SecretRotation targets it (secretId); add a "
            "secretsmanager.SecretRotation with secret_id set to its id or ARN and "
            "rotation_rules.automatically_after_days.",
            secret.urn,
        )

    if undetermined:
        checked_at_update(
            f"the rotations of {', '.join(sorted(undetermined))}",
            "secretId",
            "cannot be matched during preview",
        )


secret_rotation_required: Final = StackValidationPolicy(
    name="secret-rotation-required",
    description="Every Secrets Manager secret has a rotation with a period or schedule.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_validate_rotation_required,
)


def rotation_interval_days(schedule: str) -> float | None:
    """The longest gap between rotations a schedule expression allows, in days.

    ``rate(N days|hours)`` is exact. For ``cron(min hour day-of-month month day-of-week
    year)`` the bound is coarse: a fixed month means yearly (365), a fixed day of the month
    monthly (31), a fixed day of the week weekly (7), otherwise daily (1). None when the
    expression is neither form.
    """
    rate = _RATE.fullmatch(schedule.strip())
    if rate is not None:
        amount = int(rate.group(1))
        return amount / 24 if rate.group(2).lower().startswith("hour") else float(amount)

    cron = _CRON.fullmatch(schedule.strip())
    if cron is None:
        return None
    fields = cron.group(1).split()
    if len(fields) < 5:
        return None
    day_of_month, month, day_of_week = fields[2], fields[3], fields[4]
    if month not in ("*", "?"):
        return 365.0
    if day_of_month not in ("*", "?"):
        return 31.0
    if day_of_week not in ("*", "?"):
        return 7.0
    return 1.0


def _validate_rotation_period(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != SECRET_ROTATION:
        return

    maximum = int(args.get_config().get("rotationMaxDays") or DEFAULT_ROTATION_MAX_DAYS)
    subject = f"secret rotation '{args.name}'"
    days = read(args.props, "rotationRules", "automaticallyAfterDays")
    schedule = read(args.props, "rotationRules", "scheduleExpression")
    if UNKNOWN in (days, schedule):
        checked_at_update(subject, "rotationRules")

    if isinstance(days, int | float) and days > maximum:
        report_violation(
            f"{subject}: rotationRules.automaticallyAfterDays is {days:g}, above the "
            f"environment's maximum of {maximum} days; rotate at most every {maximum} days.",
            None,
        )
    if isinstance(schedule, str) and schedule:
        interval = rotation_interval_days(schedule)
        if interval is None:
            report_violation(
                f"{subject}: rotationRules.scheduleExpression is neither rate(...) nor "
                "cron(...); write e.g. rate(30 days).",
                None,
            )
        elif interval > maximum:
            report_violation(
                f"{subject}: rotationRules.scheduleExpression rotates about every "
                f"{interval:g} days, above the environment's maximum of {maximum} days; "
                "schedule it more often.",
                None,
            )


secret_rotation_period: Final = ResourceValidationPolicy(
    name="secret-rotation-period",
    description="Secrets rotate at least as often as the environment's rotationMaxDays.",
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={"rotationMaxDays": {"type": "integer", "minimum": 1, "maximum": 1000}}
    ),
    validate=_validate_rotation_period,
)

POLICIES: Final = (secret_rotation_required, secret_rotation_period)

__all__ = [
    "POLICIES",
    "SECRET",
    "SECRET_ROTATION",
    "rotation_interval_days",
    "secret_rotation_period",
    "secret_rotation_required",
]
