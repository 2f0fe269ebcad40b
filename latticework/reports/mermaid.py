"""The call graph of a Plan as a Mermaid flowchart.

Nodes are the catalog's services, the external IAM principals allowed to call them and the
secrets each service uses. A solid arrow ``caller --> service`` means the caller may invoke
the service (the Lattice auth policy allows it); a dotted arrow ``service -.-> secret`` means
the service's task role may read that secret. Node ids are derived from names, so the text is
stable across runs, and differ whenever the names do: a name that is not already a plain id
(letters and digits joined by single underscores) keeps its readable, sanitised form plus 8
hex digits of a SHA-256 of the exact name, so `role/team/storefront` and
`role/team_storefront`, or `orders-api` and `orders_api`, are two nodes.
"""

from __future__ import annotations

import hashlib
import json
import re

from latticework.plan import Plan

_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_]")
_PLAIN_PART = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*")
_DIGEST_SUFFIX = re.compile(r"_[0-9a-f]{8}\Z")
_DIGEST_CHARACTERS = 8
_PART_SEPARATOR = "__"


def render_mermaid(plan: Plan) -> str:
    """The call graph as Mermaid ``flowchart LR`` text, ending with a newline."""
    lines = [
        "flowchart LR",
        f"  %% {plan.project}/{plan.stack}: who may call whom, and which secrets each uses",
    ]

    principals = sorted({arn for service in plan.services for arn in service.iam_principals})
    for arn in principals:
        lines.append(f'  {_principal_id(arn)}[/"{_label(_principal_label(arn))}"/]')

    lines.append(f'  subgraph {_node_id("env", plan.environment)}["{_label(plan.environment)}"]')
    for service in plan.services:
        lines.append(f'    {_service_id(service.name)}["{_label(service.name)}"]')
        for secret in service.secrets:
            secret_label = _label(f"{service.name}/{secret}")
            lines.append(f'    {_secret_id(service.name, secret)}[("{secret_label}")]')
    lines.append("  end")

    for service in plan.services:
        for caller in sorted(service.callers):
            lines.append(f"  {_service_id(caller)} -->|invokes| {_service_id(service.name)}")
        for arn in sorted(service.iam_principals):
            lines.append(f"  {_principal_id(arn)} -->|invokes| {_service_id(service.name)}")
        for secret in service.secrets:
            lines.append(
                f"  {_service_id(service.name)} -.->|reads| {_secret_id(service.name, secret)}"
            )

    lines.extend(
        [
            "  classDef service fill:#e8f1fb,stroke:#2b6cb0",
            "  classDef secret fill:#fdf2e9,stroke:#c05621",
            "  classDef principal fill:#f0f0f0,stroke:#555",
        ]
    )
    lines.extend(_class_lines(plan, principals))
    return "\n".join(lines) + "\n"


def _class_lines(plan: Plan, principals: list[str]) -> list[str]:
    lines = []
    services = [_service_id(service.name) for service in plan.services]
    secrets = [
        _secret_id(service.name, secret) for service in plan.services for secret in service.secrets
    ]
    for nodes, style in (
        (services, "service"),
        (secrets, "secret"),
        ([_principal_id(arn) for arn in principals], "principal"),
    ):
        if nodes:
            lines.append(f"  class {','.join(nodes)} {style}")
    return lines


def _node_id(kind: str, *parts: str, exact: str | None = None) -> str:
    """`kind`, then `parts` joined by `__`: unchanged when every part is plain, else
    sanitised and followed by a digest of the exact parts (and of `exact`, the whole name
    when the parts leave some of it out), so two different names never share an id."""
    node_id = f"{kind}_" + _PART_SEPARATOR.join(
        _UNSAFE_ID_CHARACTERS.sub("_", part) for part in parts
    )
    # Plain parts joined by `__` read back unambiguously; an id that merely ends like a
    # digest gets a real one, so it cannot meet a sanitised name's id.
    plain = all(_PLAIN_PART.fullmatch(part) for part in parts)
    if plain and exact is None and not _DIGEST_SUFFIX.search(node_id):
        return node_id

    digest = hashlib.sha256(json.dumps([kind, *parts, exact]).encode()).hexdigest()
    return f"{node_id}_{digest[:_DIGEST_CHARACTERS]}"


def _service_id(name: str) -> str:
    return _node_id("svc", name)


def _secret_id(service: str, secret: str) -> str:
    return _node_id("secret", service, secret)


def _principal_id(arn: str) -> str:
    # Readable as account and role; the digest covers the whole ARN, partition included.
    return _node_id("iam", arn.split(":", 4)[-1], exact=arn)


def _principal_label(arn: str) -> str:
    # arn:aws:iam::444455556666:role/storefront-api -> 444455556666 role/storefront-api,
    # with the partition after it when it is not aws (aws-cn, aws-us-gov).
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return arn
    partition = "" if parts[1] == "aws" else f" ({parts[1]})"
    return f"{parts[4]} {parts[5]}{partition}"


def _label(text: str) -> str:
    # Mermaid labels are quoted; a double quote inside would end them.
    return text.replace('"', "#quot;")


__all__ = ["render_mermaid"]
