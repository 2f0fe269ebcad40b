"""The pack as a separate process, launched the way Pulumi's Python language host launches it.

For `--policy-pack policy_packs/latticework_guardrails`, the language host runs
``python -u -m pulumi.policy <engine address> <pack directory>`` with the pack directory as
the working directory, in the virtualenv that `PulumiPolicy.yaml` names; the pack prints its
gRPC port and serves the engine's Analyzer calls. No pulumi CLI is needed to check that part.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy_packs.latticework_guardrails import POLICY_PACK_NAME, policy_names

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACK_DIR = PROJECT_DIR / "policy_packs" / "latticework_guardrails"
_START_SECONDS = 60.0


def _read_port(process: subprocess.Popen[bytes]) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _START_SECONDS)
    line = process.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=10)
        pytest.fail(f"the pack printed no port: {line!r}; stderr: {stderr.decode()[-2000:]}")
    return int(line)


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    """An Analyzer client for the pack running in its own process."""
    settings = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    virtualenv = PACK_DIR / settings["runtime"]["options"]["virtualenv"]
    python = virtualenv / "bin" / "python"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # The engine address is only dialled for logging; the pack serves without reaching it.
    process = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _read_port(process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=_START_SECONDS)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.communicate(timeout=10)


def test_virtualenv_in_pulumipolicy_yaml_is_the_projects() -> None:
    """PulumiPolicy.yaml's virtualenv, resolved from the pack directory, is the project's venv."""
    settings = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())

    virtualenv = (PACK_DIR / settings["runtime"]["options"]["virtualenv"]).resolve()

    assert settings["runtime"]["name"] == "python"
    assert virtualenv == Path(sys.prefix).resolve()


def test_the_launched_pack_serves_every_policy(analyzer: Any) -> None:
    """GetAnalyzerInfo from the running pack names the pack and exactly the offline policies."""

    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)

    assert info.name == POLICY_PACK_NAME
    assert [policy.name for policy in info.policies] == list(policy_names())


def test_the_launched_pack_reports_a_violation(analyzer: Any) -> None:
    """Analyze on a Lattice service without IAM auth returns the policy's mandatory diagnostic."""
    properties = struct_pb2.Struct()
    properties.update({"authType": "NONE", "name": "orders"})
    request = proto.AnalyzeRequest(
        type="aws:vpclattice/service:Service",
        properties=properties,
        urn="urn:pulumi:dev::latticework::aws:vpclattice/service:Service::orders",
        name="orders",
    )

    response = analyzer.Analyze(request, timeout=30)

    found = [
        (diagnostic.policyName, diagnostic.enforcementLevel) for diagnostic in response.diagnostics
    ]
    assert found == [("lattice-auth-type-iam", proto.MANDATORY)]
    assert "authType is 'NONE'" in response.diagnostics[0].message
