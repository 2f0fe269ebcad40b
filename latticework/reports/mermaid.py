"""The call graph of a Plan as a Mermaid flowchart.

Nodes are the catalog's services, the external IAM principals allowed to call them and the
secrets each service uses. A solid arrow ``caller --> service`` means the caller may invoke
the service (the Lattice auth policy allows it); a dotted arrow ``service -.-> secret`` means
the service's task role may read that secret. Node ids are derived from names, so the text is
stable across runs.
"""

from __future__ import annotations

import re

from latticework.plan import Plan

_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_]")


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


def _node_id(kind: str, name: str) -> str:
    return f"{kind}_{_UNSAFE_ID_CHARACTERS.sub('_', name)}"


def _service_id(name: str) -> str:
    return _node_id("svc", name)


def _secret_id(service: str, secret: str) -> str:
    return _node_id("secret", f"{service}__{secret}")


def _principal_id(arn: str) -> str:
    return _node_id("iam", arn.split(":", 4)[-1])


def _principal_label(arn: str) -> str:
    # arn:aws:iam::444455556666:role/storefront-api -> 444455556666 role/storefront-api
    parts = arn.split(":", 5)
    return f"{parts[4]} {parts[5]}" if len(parts) == 6 else arn


def _label(text: str) -> str:
    # Mermaid labels are quoted; a double quote inside would end them.
    return text.replace('"', "#quot;")


__all__ = ["render_mermaid"]
