"""Roll a project out environment by environment through gates, resumable after a stop.

`Rollout` walks the environments (plan, preview, approval, up, verify); `RolloutStateStore`
saves where it stands so `--resume` continues; `rollout_identity` fixes what it deploys.
"""

from latticework.rollout._identity import (
    NO_COMMIT,
    catalog_digest,
    current_commit,
    rollout_identity,
    short_commit,
)
from latticework.rollout._runner import Approver, GateReport, Rollout, RolloutRequest
from latticework.rollout._state import (
    DEPLOY_STEPS,
    LOCK_FILE,
    OFFLINE_STATE_FILE,
    OFFLINE_STEPS,
    STATE_FILE,
    RolloutIdentity,
    RolloutState,
    RolloutStateStore,
    RolloutStatus,
    Step,
)
from latticework.rollout._verification import (
    PROTECTED_RESOURCE_TYPES,
    HealthCheck,
    display_url,
    missing_outputs,
    protected_changes,
)

__all__ = [
    "DEPLOY_STEPS",
    "LOCK_FILE",
    "NO_COMMIT",
    "OFFLINE_STATE_FILE",
    "OFFLINE_STEPS",
    "PROTECTED_RESOURCE_TYPES",
    "STATE_FILE",
    "Approver",
    "GateReport",
    "HealthCheck",
    "Rollout",
    "RolloutIdentity",
    "RolloutRequest",
    "RolloutState",
    "RolloutStateStore",
    "RolloutStatus",
    "Step",
    "catalog_digest",
    "current_commit",
    "display_url",
    "missing_outputs",
    "protected_changes",
    "rollout_identity",
    "short_commit",
]
