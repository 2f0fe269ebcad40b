"""The Automation API engine: preview, deploy, destroy, refresh and drift through the CLI.

`AutomationEngine` implements `latticework.engine.Engine` over Pulumi's Automation API;
`classify_failure` turns a failed CLI run into latticework's error kinds; `EventCollector`
turns the engine's event stream into live progress and a result.
"""

from latticework.automation._engine import (
    POLICY_PACK_DIR,
    PROJECT_FILE,
    STATE_DIR,
    AutomationEngine,
    AutomationSettings,
    check_backend_url,
    default_backend_url,
    is_self_managed,
    require_project,
)
from latticework.automation._errors import (
    INSTALL_HINT,
    CliOutput,
    classify_failure,
    require_pulumi_cli,
)
from latticework.automation._events import EventCollector

__all__ = [
    "INSTALL_HINT",
    "POLICY_PACK_DIR",
    "PROJECT_FILE",
    "STATE_DIR",
    "AutomationEngine",
    "AutomationSettings",
    "CliOutput",
    "EventCollector",
    "check_backend_url",
    "classify_failure",
    "default_backend_url",
    "is_self_managed",
    "require_project",
    "require_pulumi_cli",
]
