"""No plaintext secret in an ECS task definition's container definitions.

`containerDefinitions` is a JSON string. Each container's ``environment``, ``dockerLabels``
and log driver / FireLens ``options`` are checked by name and value, and every other string
(``command``, ``entryPoint``, ``healthCheck.command``, ...) by value, and command-line
arguments (``--db-password x``, ``DB_PASSWORD=x``) by name, with the one detector in
`components.secret_patterns`. A message names the task definition, the container and the
variable or field, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from components.secret_patterns import (
    AWS_CREDENTIAL_VARIABLES,
    classify_variable,
    compile_name_patterns,
    match_command_arguments,
    match_secret_value,
)
from policy_packs.latticework_guardrails._documents import kind_of
from policy_packs.latticework_guardrails._props import (
    MASKED_VALUE,
    UNKNOWN,
    checked_at_update,
    is_sequence,
    read,
)

TASK_DEFINITION: Final = "aws:ecs/taskDefinition:TaskDefinition"
_FIX: Final = (
    "put the value in Secrets Manager and reference it from the container's `secrets` "
    "(valueFrom) or pass its ARN"
)


# Command lines, whose `--name value` and `NAME=value` arguments are checked by name too.
_COMMANDS: Final = (("command",), ("entryPoint",), ("healthCheck", "command"))
# Maps inside a container whose keys name their values, checked by name and value.
_NAMED_MAPS: Final = (
    ("dockerLabels",),
    ("logConfiguration", "options"),
    ("firelensConfiguration", "options"),
)


def _named_values(container: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(field, name, value) for every named value of one container."""
    environment = container.get("environment")
    if is_sequence(environment):
        for entry in environment:
            if isinstance(entry, Mapping):
                yield "environment", str(entry.get("name", "")), entry.get("value")
    for path in _NAMED_MAPS:
        values = _at(container, path)
        if isinstance(values, Mapping):
            for name, value in values.items():
                yield ".".join(path), str(name), value


def _shape_problems(container: Mapping[str, Any]) -> Iterator[str]:
    """What in a container's named values is not shaped the way ECS reads it."""
    environment = container.get("environment")
    if environment is not None and not is_sequence(environment):
        yield (
            'environment must be a list of {"name", "value"} objects, found '
            f"{kind_of(environment)}"
        )
    elif environment is not None:
        for index, entry in enumerate(environment):
            if not isinstance(entry, Mapping):
                yield (
                    f'environment[{index}] must be a {{"name", "value"}} object, found '
                    f"{kind_of(entry)}"
                )
    for path in _NAMED_MAPS:
        values = _at(container, path)
        if values is not None and not isinstance(values, Mapping):
            field = ".".join(path)
            yield f"{field} must be an object of names to values, found {kind_of(values)}"


def _at(container: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = container
    for step in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(step)
    return current


def _other_values(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) for every other string of a container (`command[0]`, `healthCheck...`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if child != "environment" and tuple(child.split(".")) not in _NAMED_MAPS:
                yield from _other_values(item, child)
    elif is_sequence(value):
        for index, item in enumerate(value):
            yield from _other_values(item, f"{path}[{index}]")


def _containers(args: ResourceValidationArgs, report_violation: ReportViolation) -> list[Any]:
    subject = f"task definition '{args.name}'"
    raw = read(args.props, "containerDefinitions")
    if raw is UNKNOWN:
        checked_at_update(subject, "containerDefinitions")
    if raw == MASKED_VALUE:
        checked_at_update(subject, "containerDefinitions", "is a secret in the offline plan")
    if raw is None:
        return []

    if not isinstance(raw, str):
        report_violation(
            f"{subject}: containerDefinitions is not a JSON string; pass json.dumps(...) of the "
            "container list.",
            None,
        )
        return []
    try:
        containers = json.loads(raw)
    except json.JSONDecodeError as exc:
        report_violation(
            f"{subject}: containerDefinitions is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}), so it cannot be checked for secrets; fix the JSON.",
            None,
        )
        return []
    if not isinstance(containers, list):
        report_violation(
            f"{subject}: containerDefinitions must be a JSON list of containers; wrap the "
            "container object in a list.",
            None,
        )
        return []
    return containers


def _validate_no_plaintext_secrets(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != TASK_DEFINITION:
        return

    patterns = compile_name_patterns(args.get_config().get("secretNamePatterns") or [])
    has_task_role = read(args.props, "taskRoleArn") not in (None, "")
    subject = f"task definition '{args.name}'"
    for position, container in enumerate(_containers(args, report_violation)):
        if not isinstance(container, Mapping):
            report_violation(
                f"{subject}: containerDefinitions[{position}] is not an object; fix the JSON.",
                None,
            )
            continue
        label = f"container '{container.get('name', position)}'"

        for problem in _shape_problems(container):
            report_violation(f"{subject}: {label} {problem}; fix the container definition.", None)

        for field, name, value in _named_values(container):
            name_match = match_secret_value(name)
            if name_match is not None:
                # The name is the secret: the message must not repeat it.
                report_violation(
                    f"{subject}: {label} {field} has a name that looks like a credential "
                    f"({name_match.kind}); remove it and {_FIX}.",
                    None,
                )
                continue
            if value is None:
                continue
            if not isinstance(value, str | int | float):
                report_violation(
                    f"{subject}: {label} {field} {name} value must be a string, found "
                    f"{kind_of(value)}; fix the container definition.",
                    None,
                )
                continue
            match = classify_variable(name, str(value), extra_name_patterns=patterns)
            if match is not None:
                report_violation(
                    f"{subject}: {label} {field} {name} holds {match.description}; {_FIX}.",
                    None,
                )
            is_static_credential = field == "environment" and name in AWS_CREDENTIAL_VARIABLES
            if has_task_role and is_static_credential and str(value).strip():
                report_violation(
                    f"{subject}: {label} environment {name} sets static AWS credentials that "
                    "shadow the task role (taskRoleArn); remove them and grant the task role "
                    "the permissions instead.",
                    None,
                )

        for command_path in _COMMANDS:
            command = _at(container, command_path)
            items = command if is_sequence(command) else []
            words = [word for item in items if isinstance(item, str) for word in item.split()]
            for argument, match in match_command_arguments(words, extra_name_patterns=patterns):
                report_violation(
                    f"{subject}: {label} {'.'.join(command_path)} passes {argument} with "
                    f"{match.description}; {_FIX}.",
                    None,
                )

        for path, text in _other_values(container):
            value_match = match_secret_value(text, name=path)
            if value_match is not None:
                report_violation(
                    f"{subject}: {label} {path} holds {value_match.description}; {_FIX}.", None
                )


ecs_task_no_plaintext_secrets: Final = ResourceValidationPolicy(
    name="ecs-task-no-plaintext-secrets",
    description="ECS task definitions carry no plaintext secrets in their container definitions.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={"secretNamePatterns": {"type": "array", "items": {"type": "string"}}}
    ),
    validate=_validate_no_plaintext_secrets,
)

POLICIES: Final = (ecs_task_no_plaintext_secrets,)

__all__ = ["POLICIES", "TASK_DEFINITION", "ecs_task_no_plaintext_secrets"]
