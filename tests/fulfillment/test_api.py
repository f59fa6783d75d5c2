"""The fulfillment-order endpoints of the partner API (api.md): scopes and sides, what a
service's key sees, every error code, idempotent creation, filters."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from fulfillment import services
from fulfillment.models import Fulfillment, FulfillmentOrder
from tenants.models import ApiKey
from tenants.scope import tenant_context
from tests.support.api import assert_problem
from tests.support.openapi import published_schema

pytestmark = pytest.mark.django_db

TRACKING = {"tracking_number": "1Z999AA10123456784", "carrier": "UPS"}


def fo_url(fo, action=None) -> str:
    pk = fo if isinstance(fo, int) else fo.pk
    if action is None:
        return reverse("api:fulfillment-order-detail", kwargs={"pk": pk})
    return reverse(f"api:fulfillment-order-{action}", kwargs={"pk": pk})


LIST = "/api/v1/fulfillment-orders/"


@pytest.fixture
def merchant_key(shop, make_api_key):
    return make_api_key(merchant=shop.merchant)


def test_a_service_key_is_scoped_to_its_merchants_and_its_own_fulfillment_orders(
    shop, make_shop, make_agency, make_merchant, call, merchant_key
):
    # An agency's shared service serving one of the agency's two merchants.
    agency = make_agency()
    served, _unserved = make_merchant(agency=agency), make_merchant(agency=agency)
    shared = services.create_fulfillment_service(name="Shared 3PL", agency=agency)
    services.add_location(service=shared.service, merchant=served, is_default=True)
    key = ApiKey.objects.get(pk=shared.service.api_key_id)
    assert key.owner_type == "fulfillment_service" and key.agency_id == agency.pk
    assert key.scopes == ["fulfillments:read", "fulfillments:write"]
    merchants = call("get", "/api/v1/merchants/", key=shared.api_key).json()["results"]
    assert [m["id"] for m in merchants] == [served.pk]  # not the whole agency

    # Same merchant, two services: each key sees only its own fulfillment orders.
    other = make_shop(merchant=shop.merchant)  # now the merchant's default service
    theirs = other.fo(other.order())
    services.add_location(service=shop.service, merchant=shop.merchant, is_default=True)
    ours = shop.fo(shop.order())
    listed = call("get", LIST, key=shop.service_key).json()["results"]
    assert [row["id"] for row in listed] == [ours.pk]
    assert call("get", fo_url(ours), key=shop.service_key).status_code == 200
    assert_problem(call("get", fo_url(theirs), key=shop.service_key), 404, "not_found")
    assert_problem(
        call("post", fo_url(theirs, "accept-request"), key=shop.service_key), 404, "not_found"
    )
    # The merchant's key sees both.
    assert {row["id"] for row in call("get", LIST, key=merchant_key).json()["results"]} == {
        ours.pk,
        theirs.pk,
    }
    assert_problem(call("get", "/api/v1/orders/", key=shop.service_key), 403, "permission_denied")


def test_each_side_may_call_only_its_own_actions(shop, call, merchant_key):
    order = shop.order()
    fo = shop.fo(order)
    body = assert_problem(
        call("post", fo_url(fo, "accept-request"), key=merchant_key), 403, "permission_denied"
    )
    assert "fulfillment service" in body["detail"]
    body = assert_problem(
        call("post", fo_url(fo, "submit-request"), key=shop.service_key), 403, "permission_denied"
    )
    assert "merchant" in body["detail"]
    for action in ("cancel-request", "revert-to-unfulfilled"):
        assert_problem(
            call("post", fo_url(fo, action), key=shop.service_key), 403, "permission_denied"
        )
    for action in ("reject-request", "accept-cancellation", "reject-cancellation", "fulfillments"):
        assert_problem(call("post", fo_url(fo, action), key=merchant_key), 403, "permission_denied")
    order_url = reverse("api:order-fulfillments", kwargs={"pk": order.pk})
    body = assert_problem(
        call("post", order_url, key=shop.service_key, data=TRACKING), 403, "permission_denied"
    )
    assert "/fulfillment-orders/{id}/fulfillments/" in body["detail"]


def test_request_accept_ship_in_two_packages_through_the_api_F5_F6_F7(shop, call, merchant_key):
    order = shop.order(lines=(("SKU-1", 2, "20.00"), ("SKU-2", 1, "5.00")))
    fo = shop.fo(order)
    submitted = call("post", fo_url(fo, "submit-request"), key=merchant_key, data={"note": "Hi"})
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["request_status"] == "submitted"
    assert submitted.json()["actions"] == ["cancel_request", "revert_to_unfulfilled"]

    seen = call("get", fo_url(fo), key=shop.service_key).json()
    assert seen["actions"] == ["accept_request", "reject_request"]
    assert [(x["sku"], x["quantity"], x["remaining_quantity"]) for x in seen["lines"]] == [
        ("SKU-1", 2, 2),
        ("SKU-2", 1, 1),
    ]
    assert seen["request_note"] == "Hi" and seen["destination"]["marketplace_id"]
    accepted = call("post", fo_url(fo, "accept-request"), key=shop.service_key, data={})
    assert accepted.json()["status"] == "in_progress"

    first_line, _second_line = seen["lines"]
    package = call(
        "post",
        fo_url(fo, "fulfillments"),
        key=shop.service_key,
        data={"lines": [{"line": first_line["id"], "quantity": 1}], **TRACKING},
    )
    assert package.status_code == 201, package.content
    assert package.json()["lines"] == [
        {
            "line": first_line["line"],
            "fulfillment_order_line": first_line["id"],
            "sku": "SKU-1",
            "quantity": 1,
        }
    ]
    rest = call("post", fo_url(fo, "fulfillments"), key=shop.service_key, data=TRACKING)
    assert rest.status_code == 201
    assert sorted((x["sku"], x["quantity"]) for x in rest.json()["lines"]) == [
        ("SKU-1", 1),
        ("SKU-2", 1),
    ]
    detail = call("get", f"/api/v1/orders/{order.pk}/", key=merchant_key).json()
    assert detail["fulfillment_status"] == "fulfilled"
    assert [f["status"] for f in detail["fulfillment_orders"]] == ["closed"]
    assert len(detail["fulfillments"]) == 2
    kinds = [
        e["kind"]
        for e in call("get", f"/api/v1/orders/{order.pk}/events/", key=merchant_key).json()[
            "results"
        ]
    ]
    assert kinds.count("fulfilled") == 2 and "fulfillment_accepted" in kinds


def test_rejection_with_a_message_through_the_api_F6(shop, call, merchant_key):
    fo = shop.fo(shop.order())
    call("post", fo_url(fo, "submit-request"), key=merchant_key)
    rejected = call(
        "post", fo_url(fo, "reject-request"), key=shop.service_key, data={"message": "Unknown SKU"}
    ).json()
    assert (rejected["status"], rejected["request_status"]) == ("closed", "rejected")
    assert rejected["response_message"] == "Unknown SKU"
    again = call("post", fo_url(fo, "accept-request"), key=shop.service_key)
    body = assert_problem(again, 409, "invalid_transition")
    assert "finished" in body["detail"]


def test_the_error_codes_of_api_md(shop, legacy_shop, call, merchant_key, make_api_key):
    # legacy_request_not_cancellable (F4)
    legacy_key = make_api_key(merchant=legacy_shop.merchant)
    legacy_fo = legacy_shop.fo(legacy_shop.order())
    call("post", fo_url(legacy_fo, "submit-request"), key=legacy_key)
    body = assert_problem(
        call("post", fo_url(legacy_fo, "cancel-request"), key=legacy_key),
        409,
        "legacy_request_not_cancellable",
    )
    assert "Contact" in body["detail"]

    # fulfillment_request_in_progress (F11), validation_error (R3: Amazon needs tracking)
    order = shop.order()
    fo = shop.fo(order)
    call("post", fo_url(fo, "submit-request"), key=merchant_key)
    order_url = reverse("api:order-fulfillments", kwargs={"pk": order.pk})
    assert_problem(
        call("post", order_url, key=merchant_key, data=TRACKING),
        409,
        "fulfillment_request_in_progress",
    )
    other = shop.order()
    with tenant_context(shop.merchant):
        other_line = other.lines.get()
    body = assert_problem(
        call("post", reverse("api:order-fulfillments", kwargs={"pk": other.pk}), key=merchant_key),
        400,
        "validation_error",
    )
    assert set(body["errors"]) == {"tracking_number", "carrier"}

    # quantity beyond what remains: 422
    body = assert_problem(
        call(
            "post",
            reverse("api:order-fulfillments", kwargs={"pk": other.pk}),
            key=merchant_key,
            data={"lines": [{"line": other_line.pk, "quantity": 5}], **TRACKING},
        ),
        422,
        "quantity_exceeds_remaining",
    )

    # order_pending (A1), order_not_shippable (A6), order_read_only (R5)
    for fields, code in (
        ({"status": "Pending"}, "order_pending"),
        ({"status": "Canceled"}, "order_not_shippable"),
        ({"fulfillment_channel": "AFN"}, "order_read_only"),
    ):
        refused = shop.order(**fields)
        url = reverse("api:order-fulfillments", kwargs={"pk": refused.pk})
        assert_problem(call("post", url, key=merchant_key, data=TRACKING), 409, code)
    pending_fo = shop.fo(shop.order(status="Pending"))
    assert_problem(
        call("post", fo_url(pending_fo, "submit-request"), key=merchant_key),
        409,
        "order_pending",
    )


def test_mark_fulfilled_creates_once_with_an_idempotency_key_F11(shop, call, merchant_key):
    order = shop.order()
    url = reverse("api:order-fulfillments", kwargs={"pk": order.pk})
    body = {**TRACKING, "notify_customer": True}
    headers = {"Idempotency-Key": "mark-fulfilled-1"}
    first = call("post", url, key=merchant_key, data=body, headers=headers)
    second = call("post", url, key=merchant_key, data=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true" and first.json() == second.json()
    assert first.json()["notify_customer"] and not first.json()["customer_notified"]  # R4
    with tenant_context(shop.merchant):
        assert Fulfillment.objects.filter(order=order).count() == 1
    reused = call("post", url, key=merchant_key, data={**body, "carrier": "USPS"}, headers=headers)
    assert_problem(reused, 409, "idempotency_key_reused")


def test_revert_answers_with_the_inventory_reminder_and_notes_go_on_the_timeline_F10_F12(
    shop, call, merchant_key
):
    fo = shop.fo(shop.order())
    call("post", fo_url(fo, "submit-request"), key=merchant_key)
    call("post", fo_url(fo, "accept-request"), key=shop.service_key)
    reverted = call("post", fo_url(fo, "revert-to-unfulfilled"), key=merchant_key, data={})
    assert reverted.status_code == 200
    assert "Check your inventory" in reverted.json()["notice"]
    assert reverted.json()["status"] == "cancelled"

    note = call("post", fo_url(fo, "notes"), key=shop.service_key, data={"message": "Restocked"})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    assert note.json()["actor_type"] == "fulfillment_service"
    assert_problem(
        call("post", fo_url(fo, "notes"), key=merchant_key, data={}), 400, "validation_error"
    )


def test_filters(shop, call, merchant_key):
    submitted = shop.fo(shop.order())
    call("post", fo_url(submitted, "submit-request"), key=merchant_key)
    waiting = shop.fo(shop.order())

    def ids(query):
        response = call("get", f"{LIST}?{query}", key=merchant_key)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("request_status=submitted") == [submitted.pk]
    assert ids("request_status=unsubmitted") == [waiting.pk]
    assert ids(f"service={shop.service.pk}&status=open") == [waiting.pk, submitted.pk]
    assert ids(f"merchant={shop.merchant.pk}") == [waiting.pk, submitted.pk]
    assert ids("service=999999") == []
    assert_problem(call("get", f"{LIST}?status=nope", key=merchant_key), 400, "validation_error")
    assert_problem(
        call("get", f"{LIST}?request_status=", key=merchant_key), 400, "validation_error"
    )
    with tenant_context(shop.merchant):
        assert FulfillmentOrder.objects.count() == 2


# --- found by schemathesis (issue 14): the body is exactly what the schema says ---------------


def _in_progress(shop, call, merchant_key):
    """A fulfillment order the service accepted: the service may ship, the merchant revert."""
    fo = shop.fo(shop.order(lines=(("SKU-1", 2, "20.00"),)))
    assert call("post", fo_url(fo, "submit-request"), key=merchant_key).status_code == 200
    assert call("post", fo_url(fo, "accept-request"), key=shop.service_key).status_code == 200
    return fo


@pytest.mark.parametrize("lines", [[None], [{"line": None, "quantity": 1}], [17]])
def test_a_null_in_the_lines_is_a_400_not_a_500_for_every_action_that_takes_lines(
    shop, call, merchant_key, lines
):
    # `lines: [null]` passed validation (DRF's `many=True, allow_null=True` makes every item
    # nullable too) and the use case read item["line"] of None: a 500.
    fo = _in_progress(shop, call, merchant_key)
    fresh = shop.order()
    for url, key in (
        (reverse("api:order-fulfillments", kwargs={"pk": fresh.pk}), merchant_key),
        (fo_url(fo, "fulfillments"), shop.service_key),
        (fo_url(fo, "revert-to-unfulfilled"), merchant_key),
    ):
        body = {"lines": lines, **TRACKING}
        problem = assert_problem(call("post", url, key=key, data=body), 400, "validation_error")
        assert all(name.startswith("lines[0]") for name in problem["errors"]), (url, problem)
    with tenant_context(shop.merchant):
        assert not Fulfillment.objects.exists()
        assert FulfillmentOrder.objects.get(pk=fo.pk).status == "in_progress"


def test_no_lines_is_refused_as_the_schema_says(shop, call, merchant_key, client):
    # `lines: []` was schema-valid and refused by the use case; the schema now says minItems 1.
    fo = _in_progress(shop, call, merchant_key)
    expected = {"lines": ["Give at least one line, or leave `lines` out for all."]}
    for url, key in (
        (reverse("api:order-fulfillments", kwargs={"pk": shop.order().pk}), merchant_key),
        (fo_url(fo, "fulfillments"), shop.service_key),
        (fo_url(fo, "revert-to-unfulfilled"), merchant_key),
    ):
        problem = assert_problem(
            call("post", url, key=key, data={"lines": [], **TRACKING}), 400, "validation_error"
        )
        assert problem["errors"] == expected
    schemas = published_schema(client)["components"]["schemas"]
    for name in (
        "OrderFulfillmentInputRequest",
        "ShipmentReportInputRequest",
        "RevertInputRequest",
    ):
        assert schemas[name]["properties"]["lines"]["minItems"] == 1, name


@pytest.mark.parametrize(
    "extra",
    [
        {"tracking_number": 123},  # DRF stored "123"
        {"carrier": 1.5},
        {"notify_customer": "yes"},  # DRF read true
        {"notify_customer": 1},
        {"lines": [{"line": "LINE", "quantity": "1"}]},  # DRF read 1
    ],
)
def test_a_value_of_another_json_type_than_the_schema_says_is_a_400(
    shop, call, merchant_key, extra
):
    order = shop.order()
    if "lines" in extra:
        with tenant_context(shop.merchant):
            extra["lines"][0]["line"] = order.lines.get().pk
    url = reverse("api:order-fulfillments", kwargs={"pk": order.pk})
    problem = assert_problem(
        call("post", url, key=merchant_key, data={**TRACKING, **extra}), 400, "validation_error"
    )
    assert len(problem["errors"]) == 1, problem
    with tenant_context(shop.merchant):
        assert not Fulfillment.objects.filter(order=order).exists()


def test_a_note_is_refused_exactly_when_its_schema_says(shop, call, merchant_key, client):
    # The schema said any string of 1 to 2000 characters; the API refused a NUL character and
    # a message of whitespace only (trimmed to blank). Now the schema's pattern says both.
    fo = shop.fo(shop.order())
    message = published_schema(client)["components"]["schemas"]["NoteRequiredInputRequest"][
        "properties"
    ]["message"]
    for text in ("Restocked", "  padded  ", "   ", "\t\n", "a\x00b", "\x00", 42):
        valid = isinstance(text, str) and bool(re.search(message["pattern"], text))
        response = call("post", fo_url(fo, "notes"), key=merchant_key, data={"message": text})
        assert response.status_code == (201 if valid else 400), (text, response.content)
