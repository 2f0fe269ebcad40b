"""Where a rollout stands, saved after every gate so `--resume` can continue it.

The state file (`.latticework/rollout.json`, `.latticework/rollout-offline.json` for an
`--offline` rollout, so that a dry run never replaces the state of a deploying rollout it
follows) names the environments in order, the one in progress, the last step it completed,
and what the rollout was started from: the git commit and the digest of the catalog and
stack files. It is written atomically (a temporary file in the same directory, flushed to
disk, then renamed over the old one), so a Ctrl-C or a crash leaves either the previous
state or the new one, never half a file. While a rollout runs it
holds a lock on `.latticework/rollout.json.lock` (whichever file it keeps), so a second
rollout started in the same working copy is refused instead of overwriting the first one's
state.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from latticework.environments import ENVIRONMENTS
from latticework.errors import StackLockedError, UsageError

STATE_FILE = Path(".latticework") / "rollout.json"
OFFLINE_STATE_FILE = Path(".latticework") / "rollout-offline.json"
"""Where an `--offline` rollout keeps its state, so that it never replaces a deploying one's."""
LOCK_FILE = Path(".latticework") / "rollout.json.lock"
"""The one lock of a working copy: held by any rollout, offline or not, while it runs."""
_FORMAT_VERSION = 1
_MAX_SHOWN = 60


class Step(StrEnum):
    """The steps of one environment, in order: four gates around the deployment."""

    PLAN = "plan"
    PREVIEW = "preview"
    APPROVAL = "approval"
    UP = "up"
    VERIFY = "verify"

    @property
    def label(self) -> str:
        """How messages name the step: `gate 2 (preview)`, or `up`."""
        gate = _GATE_NUMBERS.get(self)
        return f"gate {gate} ({self.value})" if gate else self.value


_GATE_NUMBERS = {Step.PLAN: 1, Step.PREVIEW: 2, Step.APPROVAL: 3, Step.VERIFY: 4}

#: Every step of a rollout that deploys.
DEPLOY_STEPS: tuple[Step, ...] = tuple(Step)
#: The steps of an `--offline` rollout: the offline plan and policies only.
OFFLINE_STEPS: tuple[Step, ...] = (Step.PLAN,)


class RolloutStatus(StrEnum):
    """Whether the rollout is running, stopped by a failure or Ctrl-C, or finished."""

    RUNNING = "running"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class RolloutIdentity:
    """What a rollout deploys: the git commit and the digest of the catalog and stack files."""

    commit: str
    catalog_digest: str


@dataclass(frozen=True, slots=True)
class RolloutState:
    """A rollout's position: the environment in progress and the last step it completed."""

    environments: tuple[str, ...]
    offline: bool
    identity: RolloutIdentity
    environment: str
    completed_step: Step | None
    status: RolloutStatus
    failure: str | None = None

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps each environment goes through in this rollout."""
        return OFFLINE_STEPS if self.offline else DEPLOY_STEPS

    def next_position(self) -> tuple[int, int]:
        """Index of the environment and of the step to run next."""
        env_index = self.environments.index(self.environment)
        if self.completed_step is None:
            return env_index, 0

        step_index = self.steps.index(self.completed_step) + 1
        if step_index == len(self.steps):
            return env_index + 1, 0
        return env_index, step_index

    def completed(self, environment: str, step: Step) -> RolloutState:
        """This state after `step` of `environment` passed.

        After an environment's last step the state moves on to the next environment with no
        step completed, so the file always names the environment to continue with.
        """
        index = self.environments.index(environment)
        if step == self.steps[-1] and index + 1 < len(self.environments):
            environment, completed_step = self.environments[index + 1], None
        else:
            completed_step = step
        return replace(
            self,
            environment=environment,
            completed_step=completed_step,
            status=RolloutStatus.RUNNING,
            failure=None,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON document saved in the state file."""
        return {
            "version": _FORMAT_VERSION,
            "environments": list(self.environments),
            "offline": self.offline,
            "commit": self.identity.commit,
            "catalogDigest": self.identity.catalog_digest,
            "environment": self.environment,
            "completedStep": self.completed_step.value if self.completed_step else None,
            "status": self.status.value,
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, document: Any, source: Path) -> RolloutState:
        """Read a saved state; a document of another shape is a `UsageError` naming the file."""
        try:
            return cls._from_document(document)
        except _ShapeError as exc:
            message = (
                f"{source}: expected a latticework rollout state (version {_FORMAT_VERSION}), "
                f"found {exc}. Delete the file and start the rollout again without --resume"
            )
            raise UsageError(message) from exc

    @classmethod
    def _from_document(cls, document: Any) -> RolloutState:
        if not isinstance(document, dict):
            raise _ShapeError(f"a JSON {type(document).__name__} instead of an object")
        if document.get("version") != _FORMAT_VERSION:
            raise _ShapeError(f"version {_shown(document.get('version'))}")

        environments = _field(document, "environments", list)
        if not environments or not all(isinstance(env, str) and env for env in environments):
            raise _ShapeError(
                f"environments {_shown(environments)}, not a list of environment names"
            )
        # Unknown names (`qa`, `DEV`) would otherwise surface as a changed stack-file digest.
        unknown = [env for env in environments if env not in ENVIRONMENTS]
        if unknown:
            named = _cut(", ".join(repr(env) for env in unknown))
            raise _ShapeError(
                f"environments {_shown(environments)}, naming {named}, not among "
                f"{', '.join(ENVIRONMENTS)}"
            )
        # A rollout names each environment once; a repeated one would be deployed again.
        repeated = sorted({env for env in environments if environments.count(env) > 1})
        if repeated:
            named = ", ".join(repr(env) for env in repeated)
            raise _ShapeError(f"environments {_shown(environments)}, naming {named} more than once")
        environment = _field(document, "environment", str)
        if environment not in environments:
            raise _ShapeError(f"environment {_shown(environment)} not among {_shown(environments)}")
        offline = _field(document, "offline", bool)
        steps = OFFLINE_STEPS if offline else DEPLOY_STEPS
        completed = _field(document, "completedStep", (str, type(None)))
        if completed is not None and completed not in steps:
            mode = "an --offline" if offline else "a deploying"
            raise _ShapeError(f"completedStep {_shown(completed)}, not a step of {mode} rollout")
        status = _field(document, "status", str)
        if status not in set(RolloutStatus):
            raise _ShapeError(f"status {_shown(status)}")

        return cls(
            environments=tuple(environments),
            offline=offline,
            identity=RolloutIdentity(
                commit=_field(document, "commit", str),
                catalog_digest=_field(document, "catalogDigest", str),
            ),
            environment=environment,
            completed_step=Step(completed) if completed is not None else None,
            status=RolloutStatus(status),
            failure=_field(document, "failure", (str, type(None)), required=False),
        )


class _ShapeError(ValueError):
    """A saved state document that is not of the expected shape; the text says how."""


def _field(
    document: dict[str, Any],
    key: str,
    expected: type | tuple[type, ...],
    *,
    required: bool = True,
) -> Any:
    if key not in document:
        if required:
            raise _ShapeError(f"no {key}")
        return None
    value = document[key]
    if not isinstance(value, expected):
        raise _ShapeError(f"{key} {_shown(value)} of type {type(value).__name__}")
    return value


def _shown(value: Any) -> str:
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class RolloutStateStore:
    """Loads and atomically saves the rollout state file."""

    def __init__(self, path: Path, *, lock_path: Path | None = None) -> None:
        """A store saving to `path`, locked through `lock_path` (default: `path` + `.lock`)."""
        self.path = path
        self.lock_path = lock_path or path.with_name(path.name + ".lock")
        self._holds = 0

    def load(self) -> RolloutState | None:
        """The saved state, or None when no rollout was ever saved here."""
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            message = (
                f"{self.path}: expected a readable rollout state file, found "
                f"{exc.strerror or type(exc).__name__}. Make it a readable file, or delete it and "
                "start the rollout again without --resume"
            )
            raise UsageError(message) from exc

        try:
            document = json.loads(content.decode("utf-8"))
        except UnicodeDecodeError as exc:
            message = (
                f"{self.path}: expected JSON, found bytes that are not UTF-8 text. Delete the "
                "file and start the rollout again without --resume"
            )
            raise UsageError(message) from exc
        except json.JSONDecodeError as exc:
            message = (
                f"{self.path}: expected JSON, found invalid JSON at line {exc.lineno}. Delete "
                "the file and start the rollout again without --resume"
            )
            raise UsageError(message) from exc
        return RolloutState.from_json(document, self.path)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the state for one rollout; raise `StackLockedError` if another holds it.

        The lock is an `flock` on a file beside the state, released when the outermost block
        ends or the process dies, so it never goes stale; deleting the lock file while a
        rollout runs lets a second one in. Nested blocks on the same store share the hold.
        """
        if self._holds:
            self._holds += 1
            try:
                yield
            finally:
                self._holds -= 1
            return

        lock_path = self.lock_path
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = open(lock_path, "ab")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            message = (
                f"{lock_path}: expected a writable directory for the rollout state, found "
                f"{exc.strerror or type(exc).__name__}. Make {lock_path.parent} a writable "
                "directory"
            )
            raise UsageError(message) from exc
        try:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = (
                    f"another rollout is running in this working copy (it holds {lock_path}). "
                    "Wait for it to finish, or roll out from another checkout"
                )
                raise StackLockedError(message) from None
            self._holds = 1
            try:
                yield
            finally:
                self._holds = 0
        finally:
            lock_file.close()

    def save(self, state: RolloutState) -> None:
        """Replace the state file with `state` in one atomic rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            message = (
                f"{self.path}: expected a writable rollout state file, found "
                f"{exc.strerror or type(exc).__name__}. Make the path a writable file (or remove "
                "what is in its way) and start the rollout again"
            )
            raise UsageError(message) from exc
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


__all__ = [
    "DEPLOY_STEPS",
    "LOCK_FILE",
    "OFFLINE_STATE_FILE",
    "OFFLINE_STEPS",
    "STATE_FILE",
    "RolloutIdentity",
    "RolloutState",
    "RolloutStateStore",
    "RolloutStatus",
    "Step",
]
