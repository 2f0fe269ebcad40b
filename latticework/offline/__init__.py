"""The offline engine: plan an environment with no cloud account and no pulumi CLI.

`plan_environment` runs the same `__main__.py` that `pulumi up` runs, under the Pulumi SDK's
mock monitor, with outputs synthesised per resource type in real AWS formats, and returns a
`latticework.plan.Plan` of everything the program registered.
"""

from latticework.offline._engine import (
    SERVICES_FILE_CONFIG_KEY,
    fewer_collections,
    plan_environment,
)
from latticework.offline._identifiers import AwsLocation
from latticework.offline._invokes import (
    UnansweredInvokeError,
    UnknownPrefixListError,
    answered_tokens,
)
from latticework.offline._recorder import UNKNOWN_MASK
from latticework.offline._synthesis import synthesised_types

__all__ = [
    "SERVICES_FILE_CONFIG_KEY",
    "UNKNOWN_MASK",
    "AwsLocation",
    "UnansweredInvokeError",
    "UnknownPrefixListError",
    "answered_tokens",
    "fewer_collections",
    "plan_environment",
    "synthesised_types",
]
