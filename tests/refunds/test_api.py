"""The refunds API (api.md): POST/GET /orders/{id}/refunds/, GET /refunds/{id}/,
POST /orders/{id}/cancel/; problem+json refusals with stable codes, idempotent retries, and 50
concurrent refunds of one order that never refund more than was paid."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from refunds.models import Refund
from tenants.scope import tenant_context
from tests.support.api import assert_problem
from tests.support.openapi import assert_matches_schema, published_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(shop, make_api_key):
    return make_api_key(merchant=shop.merchant)


def refunds_url(order) -> str:
    return f"/api/v1/orders/{order.pk}/refunds/"


def test_refund_through_the_api_and_read_it_back(shop, key, call):
    order = shop.order([("TENT", 2, "50.00", 2, {"shipping_price": "6.00"})])
    (line,) = shop.lines(order)
    response = call(
        "post",
        refunds_url(order),
        key=key,
        data={"lines": [{"line": line.pk, "quantity": 1}], "shipping_amount": "6", "note": "Dent"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "refund" and body["status"] == "pending"
    assert (body["items_amount"], body["shipping_amount"], body["total"]) == (
        "25.00",
        "6.00",
        "31.00",
    )
    assert body["currency"] == "USD" and body["order"] == order.pk
    assert body["amazon_sync_state"] == "pending" and body["shopify_sync_state"] == "not_applicable"
    assert body["created_by"]["type"] == "api_key"
    assert body["lines"][0] == {
        "id": body["lines"][0]["id"],
        "line": line.pk,
        "external_item_id": line.external_id,
        "sku": "TENT",
        "quantity": 1,
        "amount": "25.00",
        "shipping_amount": "6.00",
        "principal": "25.00",
        "tax": "0.00",
        "shipping": "6.00",
        "shipping_tax": "0.00",
    }

    listed = call("get", refunds_url(order), key=key).json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]
    detail = call("get", f"/api/v1/refunds/{body['id']}/", key=key).json()
    assert detail == body
    order_detail = call("get", f"/api/v1/orders/{order.pk}/", key=key).json()
    assert [r["id"] for r in order_detail["refunds"]] == [body["id"]]


def test_money_in_jpy_has_no_decimals_and_more_is_refused_422(shop, key, call):
    order = shop.order([("BENTO", 2, "3960", 2)], currency="JPY", marketplace_id="A1VC38T7YXB528")
    (line,) = shop.lines(order)
    body = call(
        "post", refunds_url(order), key=key, data={"lines": [{"line": line.pk, "quantity": 1}]}
    ).json()
    assert body["total"] == "1980" and body["lines"][0]["amount"] == "1980"
    problem = assert_problem(
        call(
            "post",
            refunds_url(order),
            key=key,
            data={"lines": [{"line": line.pk, "amount": "10.5"}]},
        ),
        422,
        "invalid_amount",
    )
    assert "JPY" in problem["detail"]
    assert_problem(
        call(
            "post",
            refunds_url(order),
            key=key,
            data={"lines": [{"line": line.pk, "amount": "1981"}]},
        ),
        422,
        "refund_exceeds_balance",
    )
    assert_problem(
        call(
            "post", refunds_url(order), key=key, data={"lines": [{"line": line.pk, "amount": "x"}]}
        ),
        400,
        "validation_error",
    )


def test_refusals_are_problems_with_stable_codes(shop, key, call):
    pending = shop.order(status="Pending", financial_status="pending")
    (line,) = shop.lines(pending)
    data = {"lines": [{"line": line.pk, "quantity": 1}]}
    assert_problem(call("post", refunds_url(pending), key=key, data=data), 409, "order_pending")
    afn = shop.order(fulfillment_channel="AFN")
    (line,) = shop.lines(afn)
    data = {"lines": [{"line": line.pk, "quantity": 1}]}
    assert_problem(call("post", refunds_url(afn), key=key, data=data), 409, "order_read_only")
    shipped = shop.order()
    assert_problem(
        call("post", refunds_url(shipped), key=key, data={}), 422, "refund_amount_required"
    )


def test_same_key_same_refund_and_another_body_is_409(shop, key, call):
    order = shop.order([("X", 3, "30.00", 3)])
    (line,) = shop.lines(order)
    headers = {"Idempotency-Key": "refund-0001"}
    data = {"lines": [{"line": line.pk, "quantity": 1}]}
    first = call("post", refunds_url(order), key=key, data=data, headers=headers)
    again = call("post", refunds_url(order), key=key, data=data, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    other = call(
        "post",
        refunds_url(order),
        key=key,
        data={"lines": [{"line": line.pk, "quantity": 2}]},
        headers=headers,
    )
    assert_problem(other, 409, "idempotency_key_reused")
    with tenant_context(shop.merchant):
        assert Refund.objects.filter(order=order).count() == 1


def test_a_key_first_refused_by_a_rule_keeps_the_refusal_and_no_other_body_is_accepted(
    shop, key, call
):
    """api.md: a key whose first request was refused by a rule (here 422, more than was paid)
    replays that refusal; a different body under the same key is idempotency_key_reused, not
    answered afresh. A refusal before the use case (400) keeps nothing."""
    order = shop.order([("X", 3, "30.00", 3)])
    (line,) = shop.lines(order)
    headers = {"Idempotency-Key": "refund-refused-1"}
    too_much = {"lines": [{"line": line.pk, "amount": "500.00"}]}
    first = call("post", refunds_url(order), key=key, data=too_much, headers=headers)
    assert first.status_code == 422, first.content
    again = call("post", refunds_url(order), key=key, data=too_much, headers=headers)
    assert (again.status_code, again.json()) == (422, first.json())
    assert again["Idempotent-Replayed"] == "true"
    fixed = {"lines": [{"line": line.pk, "quantity": 1}]}
    other = call("post", refunds_url(order), key=key, data=fixed, headers=headers)
    assert_problem(other, 409, "idempotency_key_reused")
    with tenant_context(shop.merchant):
        assert not Refund.objects.filter(order=order).exists()

    retry = {"Idempotency-Key": "refund-refused-2"}
    invalid = {"lines": [{"line": line.pk, "amount": "x"}]}
    assert call("post", refunds_url(order), key=key, data=invalid, headers=retry).status_code == 400
    assert call("post", refunds_url(order), key=key, data=fixed, headers=retry).status_code == 201


def test_cancel_needs_a_refund_R7_and_records_it(shop, key, call):
    order = shop.order([("X", 2, "20.00", 0)], status="Unshipped")
    url = f"/api/v1/orders/{order.pk}/cancel/"
    assert_problem(
        call("post", url, key=key, data={"reason": "NoInventory"}), 422, "refund_amount_required"
    )
    assert_problem(
        call("post", url, key=key, data={"reason": "NoInventory", "refund": "0"}),
        422,
        "refund_amount_required",
    )
    assert_problem(
        call("post", url, key=key, data={"reason": "NoInventory", "refund": "20.01"}),
        422,
        "refund_exceeds_balance",
    )
    assert_problem(
        call("post", url, key=key, data={"reason": "Whatever", "refund": "1"}),
        400,
        "validation_error",
    )
    response = call("post", url, key=key, data={"reason": "NoInventory", "refund": "20.00"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "cancellation" and body["cancel_reason"] == "NoInventory"
    assert body["total"] == "20.00" and body["status"] == "pending"
    assert [(line["quantity"], line["amount"]) for line in body["lines"]] == [(2, "20.00")]
    # One cancellation at a time.
    assert_problem(
        call("post", url, key=key, data={"reason": "NoInventory", "refund": "1"}),
        409,
        "invalid_transition",
    )


def test_a_shipped_order_cannot_be_cancelled(shop, key, call):
    order = shop.order()
    response = call(
        "post",
        f"/api/v1/orders/{order.pk}/cancel/",
        key=key,
        data={"reason": "GeneralAdjustment", "refund": "1.00"},
    )
    problem = assert_problem(response, 409, "invalid_transition")
    assert "refund it instead" in problem["detail"]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_refunds_never_refund_more_than_was_paid(shop, key):
    """50 requests of 3.00 each at once on an order that was paid 100.00: the order row lock
    lets exactly 33 through (99.00) and refuses the rest with refund_exceeds_balance."""
    order = shop.order([("BULK", 20, "100.00", 20)])
    (line,) = shop.lines(order)
    url = refunds_url(order)
    threads_count, per_thread = 25, 2
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def worker() -> None:
        from django.db import connections

        client = APIClient()
        barrier.wait()
        try:
            for _ in range(per_thread):
                response = client.post(
                    url,
                    {"lines": [{"line": line.pk, "amount": "3.00"}]},
                    format="json",
                    headers={"Authorization": f"Bearer {key}"},
                )
                with lock:
                    results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert len(results) == threads_count * per_thread
    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {201, 422}, statuses
    assert {b["code"] for s, b in results if s == 422} <= {"refund_exceeds_balance"}
    created = [b for s, b in results if s == 201]
    assert len(created) == 33
    with tenant_context(shop.merchant):
        totals = list(Refund.objects.filter(order=order).values_list("total", flat=True))
    assert len(totals) == 33
    assert sum(totals) == Decimal("99.00") <= Decimal("100.00")


def test_the_order_shows_r6_in_its_allowed_actions_once_refunded_on_amazon(shop, key, call):
    from refunds import services

    order = shop.order([("X", 2, "20.00", 2)])
    (line,) = shop.lines(order)
    detail = call("get", f"/api/v1/orders/{order.pk}/", key=key).json()
    assert "refund" in detail["allowed_actions"]
    events = {
        "RefundEventList": [
            {
                "PostedDate": "2026-01-10T10:00:00Z",
                "ShipmentItemAdjustmentList": [
                    {
                        "OrderItemId": line.external_id,
                        "OrderAdjustmentItemId": "adj-r6",
                        "ItemChargeAdjustmentList": [
                            {
                                "ChargeType": "Principal",
                                "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": -5},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    shop.run(services.record_external_refunds, order.pk, events)
    detail = call("get", f"/api/v1/orders/{order.pk}/", key=key).json()
    assert "refund" not in detail["allowed_actions"]
    refund_action = next(a for a in detail["actions"] if a["action"] == "refund")
    assert (refund_action["code"], refund_action["rule"]) == ("already_refunded_on_amazon", "R6")
    assert detail["financial_status"] == "partially_refunded"
    assert [r["origin"] for r in detail["refunds"]] == ["amazon"]
    problem = assert_problem(
        call(
            "post", refunds_url(order), key=key, data={"lines": [{"line": line.pk, "quantity": 1}]}
        ),
        409,
        "already_refunded_on_amazon",
    )
    assert problem["detail"].startswith("Refund failed: already refunded on Amazon")


# --- found by schemathesis (issue 14): the body is exactly what the schema says ---------------


@pytest.mark.parametrize("lines", [[None], [None, None], [{"line": None}], ["7"]])
def test_a_null_in_the_lines_of_a_cancellation_is_a_400_not_a_500(shop, key, call, lines):
    # `lines: [null]` passed validation (DRF gives `allow_null` to every item of a
    # `many=True` list) and crashed the view: a 500 where the use case read item["line"].
    order = shop.order([("X", 2, "20.00", 0)], status="Unshipped")
    url = f"/api/v1/orders/{order.pk}/cancel/"
    body = {"reason": "NoInventory", "refund": "20.00", "lines": lines}
    problem = assert_problem(call("post", url, key=key, data=body), 400, "validation_error")
    assert all(field.startswith("lines[") for field in problem["errors"]), problem
    with tenant_context(shop.merchant):
        assert not Refund.objects.filter(order=order).exists()


def test_a_null_line_of_a_refund_is_a_400(shop, key, call):
    order = shop.order([("X", 2, "20.00", 2)])
    problem = assert_problem(
        call("post", refunds_url(order), key=key, data={"lines": [None]}), 400, "validation_error"
    )
    assert problem["errors"] == {"lines[0]": ["This field may not be null."]}


def test_an_empty_list_of_lines_to_cancel_is_refused_as_the_schema_says(shop, key, call, client):
    # The schema said any array (`lines: []` schema-valid); the use case refused it. Now the
    # schema says minItems 1, and the API refuses `[]` with the use case's words, on `lines`.
    order = shop.order([("X", 2, "20.00", 0)], status="Unshipped")
    url = f"/api/v1/orders/{order.pk}/cancel/"
    problem = assert_problem(
        call("post", url, key=key, data={"reason": "NoInventory", "refund": "1", "lines": []}),
        400,
        "validation_error",
    )
    assert problem["errors"] == {"lines": ["Give at least one line, or leave `lines` out for all."]}
    cancel = published_schema(client)["components"]["schemas"]["CancelInputRequest"]
    assert cancel["properties"]["lines"]["minItems"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"lines": [{"line": "LINE", "quantity": 1}], "note": 123},  # a number for a string
        {"lines": [{"line": "LINE", "quantity": "1"}]},  # a string for an integer
        {"lines": [{"line": "LINE", "amount": 12.5}]},  # a number for a decimal string
        {"lines": [{"line": "LINE", "quantity": True}]},  # a boolean for an integer
        {"lines": [{"line": "LINE", "quantity": 1}], "shipping_amount": 4},
    ],
)
def test_a_value_of_another_json_type_than_the_schema_says_is_a_400(shop, key, call, body):
    # DRF coerces: `"note": 123` was stored as "123", `"quantity": "1"` read as 1, where the
    # schema says string and integer. A generated client never sends them; a fuzzer did.
    order = shop.order([("X", 2, "20.00", 2)])
    (line,) = shop.lines(order)
    for item in body["lines"]:
        item["line"] = line.pk
    problem = assert_problem(
        call("post", refunds_url(order), key=key, data=body), 400, "validation_error"
    )
    assert len(problem["errors"]) == 1, problem
    with tenant_context(shop.merchant):
        assert not Refund.objects.filter(order=order).exists()


def test_refunds_and_cancellations_match_the_published_schema(shop, key, call, client):
    # A cancellation's `reason` is Amazon's CustomerCancel, a refund's `cancel_reason` is "":
    # the schema listed only the enum's values (DRF drops `allow_blank` from a read-only model
    # field), so a generated client failed on every refund's "".
    schema = published_schema(client)
    shipped = shop.order([("X", 2, "20.00", 2)])
    (line,) = shop.lines(shipped)
    refund = call(
        "post", refunds_url(shipped), key=key, data={"lines": [{"line": line.pk, "quantity": 1}]}
    )
    assert refund.status_code == 201 and refund.json()["cancel_reason"] == ""
    assert_matches_schema(schema, refund)
    unshipped = shop.order([("Y", 1, "10.00", 0)], status="Unshipped")
    cancellation = call(
        "post",
        f"/api/v1/orders/{unshipped.pk}/cancel/",
        key=key,
        data={"reason": "NoInventory", "refund": "10.00"},
    )
    assert cancellation.status_code == 201, cancellation.content
    assert_matches_schema(schema, cancellation)
    for url in (refunds_url(shipped), f"/api/v1/refunds/{refund.json()['id']}/"):
        assert_matches_schema(schema, call("get", url, key=key))
    assert_matches_schema(schema, call("get", f"/api/v1/orders/{unshipped.pk}/", key=key))
    refunds = schema["components"]["schemas"]["Refund"]["properties"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in refunds["cancel_reason"]["oneOf"]
