"""What Pulumi runs for ``--policy-pack policy_packs/latticework_guardrails``.

Pulumi executes this file as ``__main__`` (``runpy.run_path`` on the pack directory);
constructing the `PolicyPack` then serves the policies to the engine over gRPC until the
engine stops it. Imported under any other name (tests, `latticework`), it does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    """Serve the pack's policies to the Pulumi engine; returns only when the engine stops it."""
    from pulumi_policy import EnforcementLevel, PolicyPack

    from policy_packs.latticework_guardrails import (
        POLICIES,
        POLICY_PACK_DESCRIPTION,
        POLICY_PACK_NAME,
    )

    PolicyPack(
        name=POLICY_PACK_NAME,
        policies=list(POLICIES),
        enforcement_level=EnforcementLevel.MANDATORY,
        description=POLICY_PACK_DESCRIPTION,
    )


if __name__ == "__main__":
    # NOTE: the pack imports `policy_packs` and `components` from the project. They are
    # installed in the project's virtualenv (PulumiPolicy.yaml points at it); putting the
    # project root first on the path also serves a virtualenv that only has pulumi-policy.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
