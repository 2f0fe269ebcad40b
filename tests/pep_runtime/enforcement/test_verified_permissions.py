"""Verified Permissions calls, checked against the real API model by botocore's Stubber."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.awsrequest
import botocore.config
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from pep_runtime import _botocore_logs as botocore_logs
from pep_runtime._botocore_logs import BotocoreLogFilter
from pep_runtime.enforcement.exceptions import DecisionUnavailableError
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    BearerToken,
    Decision,
    EntityUid,
    Principal,
)
from pep_runtime.enforcement.verified_permissions import (
    MAX_BATCH_REQUESTS,
    VerifiedPermissionsDecisionPoint,
    plan_batches,
    to_attribute_value,
)

STORE = "PSEXAMPLEabcdefg111111"
FRONTEND = Principal(uid=EntityUid("Latticework::Service", "frontend"))
PARTNER = Principal(
    uid=EntityUid("Latticework::IamRole", "arn:aws:iam::444455556666:role/partner-reader"),
    attributes={"account": "444455556666", "name": "partner-reader"},
)
BOB = Principal(
    uid=EntityUid("Latticework::User", "bob"),
    parents=(EntityUid("Latticework::UserGroup", "support"),),
    token=BearerToken(value="aaa.bbb.ccc", token_use="id"),
)


def _client(**config: Any) -> Any:
    return boto3.client(
        "verifiedpermissions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(**config),
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[VerifiedPermissionsDecisionPoint, Stubber]]:
    """A decision point whose client is stubbed (parameters checked against the model)."""
    client = _client()
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )
    with Stubber(client) as stubber:
        yield decision_point, stubber
        stubber.assert_no_pending_responses()


def _order(order_id: str) -> EntityUid:
    return EntityUid("Latticework::Order", order_id)


def _answer(decision: str, *policies: str, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "decision": decision,
        "determiningPolicies": [{"policyId": policy} for policy in policies],
        "errors": [{"errorDescription": error} for error in errors],
    }


def test_is_authorized_sends_structured_entities(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """IsAuthorized gets typed identifiers, the principal entity with typed attributes."""
    decision_point, stubber = stubbed
    stubber.add_response(
        "is_authorized",
        _answer("ALLOW", "policy-1"),
        {
            "policyStoreId": STORE,
            "principal": {"entityType": "Latticework::IamRole", "entityId": PARTNER.uid.id},
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": 'o"1'},
            "context": {"contextMap": {"urgent": {"boolean": True}, "count": {"long": 2}}},
            "entities": {
                "entityList": [
                    {
                        "identifier": {
                            "entityType": "Latticework::IamRole",
                            "entityId": PARTNER.uid.id,
                        },
                        "attributes": {
                            "account": {"string": "444455556666"},
                            "name": {"string": "partner-reader"},
                        },
                    }
                ]
            },
        },
    )
    request = AuthorizationRequest(
        PARTNER, "GetOrder", _order('o"1'), context={"urgent": True, "count": 2}
    )

    result = decision_point.is_authorized(request)

    assert result.decision is Decision.ALLOW
    assert result.determining_policies == ("policy-1",)
    assert result.allowed


def test_token_principal_goes_to_the_token_api(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """A request with a verified id token calls IsAuthorizedWithToken with no principal."""
    decision_point, stubber = stubbed
    stubber.add_response(
        "is_authorized_with_token",
        _answer("DENY"),
        {
            "policyStoreId": STORE,
            "identityToken": "aaa.bbb.ccc",
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": "o-1"},
        },
    )

    result = decision_point.is_authorized(AuthorizationRequest(BOB, "GetOrder", _order("o-1")))

    assert result.decision is Decision.DENY


def test_allow_with_errors_is_not_allowed(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """An ALLOW that comes with evaluation errors is not an Allow."""
    decision_point, stubber = stubbed
    stubber.add_response("is_authorized", _answer("ALLOW", "p", errors=("overflow",)))

    result = decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", _order("a")))

    assert not result.allowed
    assert result.errors == ("overflow",)


def test_batch_is_chunked_grouped_and_ordered(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """65 requests of one principal go in calls of 30, 30 and 5, results in request order."""
    decision_point, stubber = stubbed
    requests = [
        AuthorizationRequest(FRONTEND, "GetOrder", _order(f"o-{index}")) for index in range(65)
    ]
    for start in range(0, 65, MAX_BATCH_REQUESTS):
        chunk = requests[start : start + MAX_BATCH_REQUESTS]
        items = [
            {
                "principal": {"entityType": "Latticework::Service", "entityId": "frontend"},
                "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
                "resource": {"entityType": "Latticework::Order", "entityId": r.resource.id},
            }
            for r in chunk
        ]
        stubber.add_response(
            "batch_is_authorized",
            {
                "results": [
                    {
                        "request": item,
                        **_answer("ALLOW" if int(item["resource"]["entityId"][2:]) % 2 else "DENY"),
                    }
                    for item in items
                ]
            },
            {
                "policyStoreId": STORE,
                "requests": items,
                "entities": {
                    "entityList": [
                        {
                            "identifier": {
                                "entityType": "Latticework::Service",
                                "entityId": "frontend",
                            }
                        }
                    ]
                },
            },
        )

    results = decision_point.is_authorized_batch(requests)

    assert [result.allowed for result in results] == [index % 2 == 1 for index in range(65)]


def test_token_batch_uses_the_token_batch_api(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """Requests sharing a token go to BatchIsAuthorizedWithToken without principals."""
    decision_point, stubber = stubbed
    items = [
        {
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": order_id},
        }
        for order_id in ("a", "b")
    ]
    stubber.add_response(
        "batch_is_authorized_with_token",
        {"results": [{"request": item, **_answer("ALLOW", "p")} for item in items]},
        {"policyStoreId": STORE, "identityToken": "aaa.bbb.ccc", "requests": items},
    )
    requests = [AuthorizationRequest(BOB, "GetOrder", _order(order_id)) for order_id in "ab"]

    results = decision_point.is_authorized_batch(requests)

    assert [result.allowed for result in results] == [True, True]


def test_reordered_batch_answer_fails_closed(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """A batch answer that does not echo the requests in order yields no decision."""
    decision_point, stubber = stubbed
    items = [
        {
            "principal": {"entityType": "Latticework::Service", "entityId": "frontend"},
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": order_id},
        }
        for order_id in ("a", "b")
    ]
    stubber.add_response(
        "batch_is_authorized",
        {"results": [{"request": item, **_answer("ALLOW")} for item in reversed(items)]},
    )
    requests = [AuthorizationRequest(FRONTEND, "GetOrder", _order(order_id)) for order_id in "ab"]

    with pytest.raises(DecisionUnavailableError):
        decision_point.is_authorized_batch(requests)


def test_plan_batches_groups_by_principal_then_resource() -> None:
    """Shared-principal requests group together; lone principals group by shared resource."""
    others = [Principal(uid=EntityUid("Latticework::Service", name)) for name in ("a", "b", "c")]
    requests = [
        AuthorizationRequest(FRONTEND, "GetOrder", _order("1")),
        AuthorizationRequest(others[0], "GetOrder", _order("shared")),
        AuthorizationRequest(FRONTEND, "GetOrder", _order("2")),
        AuthorizationRequest(others[1], "GetOrder", _order("shared")),
        AuthorizationRequest(others[2], "GetOrder", _order("alone")),
        AuthorizationRequest(BOB, "GetOrder", _order("shared")),
    ]

    batches = plan_batches(requests)

    assert batches == [[0, 2], [5], [1, 3], [4]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, {"boolean": True}),
        (False, {"boolean": False}),
        (0, {"long": 0}),
        ("x", {"string": "x"}),
        ([1, True], {"set": [{"long": 1}, {"boolean": True}]}),
        ({"a": {"b": 1}}, {"record": {"a": {"record": {"b": {"long": 1}}}}}),
        (
            {"__entity": {"type": "Order", "id": "o-1"}},
            {"entityIdentifier": {"entityType": "Latticework::Order", "entityId": "o-1"}},
        ),
        ({"__extn": {"fn": "ip", "arg": "10.0.0.1"}}, {"ipaddr": "10.0.0.1"}),
        ({"__extn": {"fn": "decimal", "arg": "1.25"}}, {"decimal": "1.25"}),
    ],
)
def test_cedar_json_to_typed_values(value: Any, expected: dict[str, Any]) -> None:
    """Cedar JSON values become the API's typed values, booleans before integers."""
    assert to_attribute_value(value, "Latticework") == expected


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        None,
        {"__extn": {"fn": "nope", "arg": "x"}},
        {"__extn": "ip"},
        {"__extn": {"fn": "ip"}},
        {"__extn": {"fn": "ip", "arg": 7}},
        {"__entity": "Order"},
        {"__entity": {"type": "Order"}},
        {"__entity": {"type": 1, "id": "a"}},
        {"__entity": {"type": "Order", "id": "a", "extra": "x"}},
    ],
)
def test_values_cedar_cannot_hold_are_refused(value: Any) -> None:
    """Floats, None, unknown extensions and malformed escapes are refused with a clear error."""
    with pytest.raises(ValueError, match=r"Cedar|extension|entity"):
        to_attribute_value(value, "Latticework")


class _Raw:
    """The minimal urllib3-like body botocore reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def _real_client_with(send: Any, max_attempts: int = 2) -> tuple[Any, list[int]]:
    """A client whose HTTP send is replaced at the wire (retries still run), and a call count."""
    client = _client(retries={"mode": "standard", "total_max_attempts": max_attempts})
    calls: list[int] = []

    def before_send(request: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return send(request)

    client.meta.events.register("before-send.verifiedpermissions", before_send)
    return client, calls


def _error_response(request: Any, status: int, code: str) -> botocore.awsrequest.AWSResponse:
    body = f'{{"__type": "{code}", "message": "detail that must not leak"}}'.encode()
    headers = botocore.awsrequest.HTTPHeaders()
    headers["x-amzn-ErrorType"] = code
    headers["content-type"] = "application/x-amz-json-1.0"
    return botocore.awsrequest.AWSResponse(request.url, status, headers, _Raw(body))


@pytest.mark.parametrize(
    ("status", "code", "attempts"),
    [
        (400, "ThrottlingException", 2),
        (500, "InternalServerException", 2),
        (403, "AccessDeniedException", 1),
        (404, "ResourceNotFoundException", 1),
    ],
)
def test_service_errors_after_retries_are_unavailable(
    status: int, code: str, attempts: int
) -> None:
    """Throttling and server errors are retried by botocore, then no decision: 503."""
    client, calls = _real_client_with(lambda request: _error_response(request, status, code))
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )

    with pytest.raises(DecisionUnavailableError) as caught:
        decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", _order("a")))

    assert caught.value.reason == code
    assert len(calls) == attempts


def test_timeouts_are_retried_then_unavailable() -> None:
    """A read timeout on every attempt ends in no decision after max_attempts."""

    def timeout(request: Any) -> Any:
        raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)

    client, calls = _real_client_with(timeout, max_attempts=2)
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )

    with pytest.raises(DecisionUnavailableError) as caught:
        decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", _order("a")))

    assert caught.value.reason == "ReadTimeoutError"
    assert len(calls) == 2


def test_validation_exception_is_an_erroring_deny(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """A request the store finds invalid for its schema is a deny with an error, not a 503."""
    decision_point, stubber = stubbed
    stubber.add_client_error("is_authorized", "ValidationException", http_status_code=400)

    result = decision_point.is_authorized(AuthorizationRequest(FRONTEND, "GetOrder", _order("a")))

    assert result.decision is Decision.DENY
    assert result.errors == ("ValidationException",)


def test_a_batch_the_store_finds_invalid_denies_its_requests_with_one_call(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """A ValidationException names no request of the batch: every request of that call is an
    erroring deny, and nothing is called again (deciding each alone would multiply calls
    against the account's quota for every list that holds one bad item)."""
    decision_point, stubber = stubbed
    stubber.add_client_error("batch_is_authorized", "ValidationException", http_status_code=400)
    requests = [AuthorizationRequest(FRONTEND, "GetOrder", _order(order_id)) for order_id in "ab"]

    results = decision_point.is_authorized_batch(requests)

    assert [(result.decision, result.errors) for result in results] == [
        (Decision.DENY, ("ValidationException",)),
        (Decision.DENY, ("ValidationException",)),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        AuthorizationRequest(FRONTEND, "GetOrder", _order("")),
        AuthorizationRequest(FRONTEND, "GetOrder", _order("x" * 700)),
        AuthorizationRequest(FRONTEND, "x" * 600, _order("b")),
        AuthorizationRequest(
            FRONTEND,
            "GetOrder",
            _order("b"),
            {"amount": {"__extn": {"fn": "decimal", "arg": "1.23456"}}},
        ),
        AuthorizationRequest(
            FRONTEND, "GetOrder", _order("b"), {"at": {"__extn": {"fn": "ip", "arg": "nope"}}}
        ),
        AuthorizationRequest(
            FRONTEND, "GetOrder", _order("b"), {"at": {"__extn": {"fn": "ip", "arg": "1.2.3"}}}
        ),
        AuthorizationRequest(
            FRONTEND,
            "GetOrder",
            _order("b"),
            {"on": {"__extn": {"fn": "datetime", "arg": "2024-13-45"}}},
        ),
        AuthorizationRequest(
            FRONTEND,
            "GetOrder",
            _order("b"),
            {"amount": {"__extn": {"fn": "decimal", "arg": "922337203685477.5808"}}},
        ),
        AuthorizationRequest(
            FRONTEND,
            "GetOrder",
            _order("b"),
            entities=(
                {"uid": {"type": "Order", "id": "b"}, "attrs": {"total": 1.5}, "parents": []},
            ),
        ),
    ],
    ids=[
        "empty-id",
        "id-over-612",
        "action-over-512",
        "decimal-5-places",
        "ip-not-an-address",
        "ip-three-parts",
        "datetime-month-13",
        "decimal-overflow",
        "entity-attribute-float",
    ],
)
def test_a_request_the_api_model_refuses_is_denied_without_a_call(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber], bad: AuthorizationRequest
) -> None:
    """A request the typed values cannot hold, or outside the API model's constraints
    (lengths, patterns; botocore checks only the minimums), would make the store refuse the
    whole batch: that request alone is an erroring deny, without a call, and the rest of the
    batch is decided in one call, in its order."""
    decision_point, stubber = stubbed
    items = [
        {
            "principal": {"entityType": "Latticework::Service", "entityId": "frontend"},
            "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
            "resource": {"entityType": "Latticework::Order", "entityId": order_id},
        }
        for order_id in "ac"
    ]
    stubber.add_response(
        "batch_is_authorized",
        {"results": [{"request": item, **_answer("ALLOW", "p")} for item in items]},
    )
    requests = [
        AuthorizationRequest(FRONTEND, "GetOrder", _order("a")),
        bad,
        AuthorizationRequest(FRONTEND, "GetOrder", _order("c")),
    ]

    results = decision_point.is_authorized_batch(requests)
    alone = decision_point.is_authorized(bad)

    assert [result.decision for result in results] == [
        Decision.ALLOW,
        Decision.DENY,
        Decision.ALLOW,
    ]
    assert len(results[1].errors) == 1
    assert (alone.decision, len(alone.errors)) == (Decision.DENY, 1)


def test_an_id_with_a_line_break_is_sent_as_any_text(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber],
) -> None:
    """The API's id pattern is `.*`, unanchored as Smithy patterns are: an id holding a line
    break is text like any other, decided by the store, as local Cedar decides it."""
    decision_point, stubber = stubbed
    stubber.add_response("is_authorized", _answer("DENY"))

    result = decision_point.is_authorized(
        AuthorizationRequest(FRONTEND, "GetOrder", _order("a\nb"))
    )

    assert (result.decision, result.errors) == (Decision.DENY, ())


@pytest.mark.parametrize(
    "entity",
    [
        {"uid": {"type": "Order", "id": 5}, "attrs": {}, "parents": []},
        {"uid": {"type": "Order", "id": "b"}, "attrs": {}, "parents": [{"type": "G", "id": 1}]},
        "Order::b",
        {"uid": "Order::b"},
    ],
)
def test_an_entity_that_is_not_cedar_json_is_an_erroring_deny(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber], entity: Any
) -> None:
    """An id that is not text (5 would become "5", which a policy may allow) or an entity
    that is not a mapping is refused as local Cedar refuses it, without a call."""
    decision_point, _ = stubbed
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("b"), entities=(entity,))

    result = decision_point.is_authorized(request)

    assert (result.decision, len(result.errors)) == (Decision.DENY, 1)


def test_from_config_sets_total_attempts_and_timeouts() -> None:
    """maxAttempts counts every attempt (botocore's total_max_attempts), with both timeouts."""
    from .conftest import make_config

    config = make_config(
        document={"verifiedPermissions": {"maxAttempts": 4, "readTimeoutSeconds": 0.5}},
        env={"LATTICEWORK_PEP_MODE": "verified-permissions"},
    )

    decision_point = VerifiedPermissionsDecisionPoint.from_config(config)

    client_config: Any = decision_point._client.meta.config
    assert client_config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert client_config.read_timeout == 0.5
    assert client_config.connect_timeout == 1.0
    assert decision_point._client.meta.region_name == "eu-west-1"


@pytest.fixture
def bare_botocore_loggers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """botocore's loggers as a process that never made a pep_runtime client has them."""
    loggers = [logging.getLogger(name) for name in botocore_logs._BOTOCORE_LOGGERS]
    saved = [list(logger.filters) for logger in loggers]
    for logger in loggers:
        logger.filters = [f for f in logger.filters if not isinstance(f, BotocoreLogFilter)]
    monkeypatch.setattr(botocore_logs, "_installed", False)
    yield
    for logger, filters in zip(loggers, saved, strict=True):
        logger.filters = filters


def test_no_caller_token_or_session_token_in_botocore_debug_logs(
    bare_botocore_loggers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG botocore logs each request with its body and signature: making a decision
    point keeps the caller's JWT and the task role's session token out of those records."""
    session_token = "IQoJb3JpZ2luX2VjEXAMPLE-vp-session-token"
    caller_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXZw"
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    client, calls = _real_client_with(lambda request: _json_response(request, _answer("ALLOW")))
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )
    bob = Principal(uid=BOB.uid, token=BearerToken(value=caller_token, token_use="access"))
    caplog.set_level(logging.DEBUG)

    result = decision_point.is_authorized(AuthorizationRequest(bob, "GetOrder", _order("o-1")))

    assert result.decision is Decision.ALLOW
    assert calls == [1]
    assert any(record.name == "botocore.endpoint" for record in caplog.records)
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    assert caller_token not in logged
    assert session_token not in logged


def _json_response(request: Any, document: dict[str, Any]) -> botocore.awsrequest.AWSResponse:
    headers = botocore.awsrequest.HTTPHeaders()
    headers["content-type"] = "application/x-amz-json-1.0"
    return botocore.awsrequest.AWSResponse(
        request.url, 200, headers, _Raw(json.dumps(document).encode())
    )


@pytest.mark.parametrize("value", [12.5, None, {"__extn": {"fn": "nope", "arg": "x"}}])
def test_a_context_the_api_cannot_hold_is_an_erroring_deny(
    stubbed: tuple[VerifiedPermissionsDecisionPoint, Stubber], value: Any
) -> None:
    """A context value no typed value can carry denies with an error and calls nothing, as
    local Cedar denies it, rather than raising out of the decision point."""
    decision_point, _ = stubbed
    request = AuthorizationRequest(FRONTEND, "GetOrder", _order("a"), {"amount": value})

    result = decision_point.is_authorized(request)

    assert result.decision is Decision.DENY
    assert len(result.errors) == 1
