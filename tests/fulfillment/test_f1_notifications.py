"""Rule F1: the merchant receives updates about the fulfillment service's work, in the portal
and in the e-mail digest (for the people who want e-mail): the service accepted, rejected (with
its reason), shipped (with the tracking), or answered a cancellation request, and Amazon
cancelled an order whose request is with the service (which is then asked to stop, once).

The service acts through the partner API with its own key, as a partner does; Amazon cancels in
the SP-API emulator and the order comes back through our gateway, the upsert and its
announcement.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse

from fulfillment import services
from fulfillment.models import FulfillmentOrder
from integrations.amazon.gateway import AmazonCredentials, AmazonGateway, parse_datetime
from integrations.amazon.ratelimit import RateLimiter
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from notifications import services as notification_services
from notifications import tasks as notification_tasks
from notifications.models import EmailState, Notification, NotificationKind, NotificationRecipient
from orders.models import EventKind, Order, OrderEvent
from orders.services import after_amazon_upsert, upsert_amazon_orders
from sandbox.amazon.testing import running_amazon_sandbox
from sandbox.bot.bot import BotConfig, FulfillmentBot
from tenants.models import Role
from tenants.scope import tenant_context
from tests.fulfillment.amazon import connect, emulated, place

pytestmark = pytest.mark.django_db

TRACKING = {"tracking_number": "1Z999AA10123456784", "carrier": "UPS"}


def fo_url(fo_id: int, action: str) -> str:
    return reverse(f"api:fulfillment-order-{action}", kwargs={"pk": fo_id})


@pytest.fixture
def make_people(make_user):
    """A shop's people: one who wants e-mail, one who turned e-mail off."""

    def make(shop) -> dict:
        return {
            "mailed": make_user(
                role=Role.MERCHANT_ADMIN,
                merchant=shop.merchant,
                email="admin@shop.example",
                password=None,
            ),
            "opted_out": make_user(
                role=Role.MERCHANT_STAFF,
                merchant=shop.merchant,
                email="staff@shop.example",
                email_notifications=False,
                password=None,
            ),
        }

    return make


@pytest.fixture
def people(shop, make_people):
    return make_people(shop)


@pytest.fixture
def merchant_key(shop, make_api_key):
    return make_api_key(merchant=shop.merchant)


@pytest.fixture
def requested(shop, call, merchant_key):
    """An Unshipped order of two units whose fulfillment the merchant requested by API."""
    order = shop.order(lines=(("SKU-1", 2, "20.00"),))
    fo = shop.fo(order)
    response = call("post", fo_url(fo.pk, "submit-request"), key=merchant_key)
    assert response.status_code == 200, response.content
    return order, fo.pk


def service_does(call, shop, fo_id: int, action: str, body: dict | None = None, status=200):
    response = call("post", fo_url(fo_id, action), key=shop.service_key, data=body or {})
    assert response.status_code == status, response.content
    return response.json()


def notices(shop, order: Order, kind: str | None = None) -> list[Notification]:
    with tenant_context(shop.merchant):
        found = Notification.objects.filter(order=order).order_by("id")
        if kind is not None:
            found = found.filter(kind=kind)
        return list(found)


def assert_told(shop, people, order: Order, kind: str, title: str) -> Notification:
    """One notification of ``kind`` about the order, titled as given (naming the service and
    the Amazon order id), linked to the order in the portal; in the e-mail digest of the person
    who wants e-mail, and only in the portal for the one who turned e-mail off."""
    (note,) = notices(shop, order, kind)
    assert note.title == title
    assert shop.service.name in note.title and order.external_id in note.title
    assert note.order_id == order.pk

    portal = Client()
    portal.force_login(people["mailed"])
    items = portal.get("/notifications/").context["items"]
    (item,) = [i for i in items if i["title"] == title]
    assert item["order_url"] == reverse("portal:orders_order_change", args=[order.pk])

    mail.outbox.clear()
    with tenant_context(shop.merchant):
        copies = dict(
            NotificationRecipient.objects.filter(notification=note).values_list(
                "user_id", "email_state"
            )
        )
        assert notification_services.send_email_digest(people["mailed"]) >= 1
        assert notification_services.send_email_digest(people["opted_out"]) == 0
    assert copies == {
        people["mailed"].pk: EmailState.PENDING,
        people["opted_out"].pk: EmailState.NOT_WANTED,  # in the portal only
    }
    (message,) = mail.outbox
    assert message.to == ["admin@shop.example"]
    assert title in message.subject + message.body
    return note


def test_the_merchant_is_told_when_the_service_accepts_F1(shop, people, requested, call):
    order, fo_id = requested
    assert notices(shop, order) == [], "the merchant's own request is no news to it"

    service_does(call, shop, fo_id, "accept-request", {"message": "Picking it today."})

    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.FULFILLMENT_ACCEPTED,
        f"{shop.service.name} accepted order {order.external_id}",
    )
    assert "Picking it today." in note.body


def test_the_merchant_is_told_when_the_service_rejects_with_its_reason_F1(
    shop, people, requested, call
):
    order, fo_id = requested
    service_does(call, shop, fo_id, "reject-request", {"message": "SKU-1 is out of stock."})
    # A refused second answer changes nothing, so it tells nothing (same transaction).
    service_does(call, shop, fo_id, "accept-request", status=409)

    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.FULFILLMENT_REJECTED,
        f"{shop.service.name} rejected order {order.external_id}",
    )
    assert "SKU-1 is out of stock." in note.body
    assert "unfulfilled again" in note.body
    assert len(notices(shop, order)) == 1


def test_the_merchant_is_told_of_each_shipment_with_its_tracking_F1(shop, people, requested, call):
    order, fo_id = requested
    service_does(call, shop, fo_id, "accept-request")
    fo = call("get", f"/api/v1/fulfillment-orders/{fo_id}/", key=shop.service_key).json()
    (line,) = fo["lines"]

    first = {"lines": [{"line": line["id"], "quantity": 1}], **TRACKING}
    service_does(call, shop, fo_id, "fulfillments", first, status=201)
    part = assert_told(
        shop,
        people,
        order,
        NotificationKind.FULFILLMENT_SHIPPED,
        f"{shop.service.name} shipped part of order {order.external_id}",
    )
    assert "UPS 1Z999AA10123456784" in part.body and "SKU-1 × 1" in part.body

    rest = {"tracking_number": "1Z999AA10123456785", "carrier": "UPS"}
    service_does(call, shop, fo_id, "fulfillments", rest, status=201)
    shipments = notices(shop, order, NotificationKind.FULFILLMENT_SHIPPED)
    assert [n.title for n in shipments] == [
        f"{shop.service.name} shipped part of order {order.external_id}",
        f"{shop.service.name} shipped order {order.external_id}",
    ]
    assert "1Z999AA10123456785" in shipments[1].body


def test_the_merchant_is_told_when_the_service_accepts_a_cancellation_F1_F9(
    shop, people, requested, call, merchant_key
):
    order, fo_id = requested
    service_does(call, shop, fo_id, "accept-request")
    asked = call("post", fo_url(fo_id, "cancel-request"), key=merchant_key, data={"note": "Stop"})
    assert asked.status_code == 200, asked.content
    assert len(notices(shop, order)) == 1, "only the acceptance so far: asking is the merchant's"

    service_does(call, shop, fo_id, "accept-cancellation", {"message": "Back on the shelf."})

    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.FULFILLMENT_CANCEL_ACCEPTED,
        f"{shop.service.name} cancelled the fulfillment of order {order.external_id}",
    )
    assert "Back on the shelf." in note.body


def test_the_merchant_is_told_when_the_service_refuses_a_cancellation_with_its_reason_F1_F9(
    shop, people, requested, call, merchant_key
):
    order, fo_id = requested
    service_does(call, shop, fo_id, "accept-request")
    call("post", fo_url(fo_id, "cancel-request"), key=merchant_key)

    service_does(call, shop, fo_id, "reject-cancellation", {"message": "Already packed."})

    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.FULFILLMENT_CANCEL_REJECTED,
        f"{shop.service.name} refused to cancel order {order.external_id}",
    )
    assert "Already packed." in note.body and "Fulfillment continues" in note.body


# --- Amazon cancels an order whose request is with the service -----------------------------


def import_from_amazon(account, amazon_order_id: str):
    """getOrder and getOrderItems through our gateway, then the upsert and its announcement, as
    the sync does; returns the upsert's result (to announce it again)."""
    gateway = AmazonGateway(
        AmazonCredentials.from_account(account), limiter=RateLimiter(enabled=False)
    )
    record = gateway.get_order(amazon_order_id)
    record = replace(record, items=gateway.get_order_items(amazon_order_id))
    with tenant_context(account.merchant_id), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=[record])
        after_amazon_upsert(account.merchant, result)
    return result


@pytest.fixture
def service_bot(shop):
    """The service's callback endpoint: the sandbox bot's server alone (it verifies the
    signature and records each delivery once; it does not answer by itself)."""
    bot = FulfillmentBot(
        BotConfig(api="http://127.0.0.1:9/api/v1", key="unused", secret=shop.signing_secret)
    )
    threading.Thread(target=bot.server.serve_forever, daemon=True).start()
    shop.service.callback_url = bot.callback_url
    shop.service.save(update_fields=["callback_url"])
    yield bot
    bot.server.shutdown()
    bot.server.server_close()


def received(bot) -> list[dict]:
    events = []
    while not bot.events.empty():
        events.append(bot.events.get_nowait())
    return events


@pytest.mark.django_db(transaction=True)
def test_amazon_cancelling_asks_the_service_to_stop_once_and_tells_the_merchant_F1(
    shop, people, call, merchant_key, service_bot
):
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        account = connect(shop.merchant, sandbox)
        amazon_id = place(sandbox, [{"quantity": 2, "seller_sku": "SKU-1"}])
        import_from_amazon(account, amazon_id)
        with tenant_context(shop.merchant):
            order = Order.objects.get(external_id=amazon_id)
            fo_id = FulfillmentOrder.objects.get(order=order).pk
        assert order.status == "Unshipped"
        submitted = call("post", fo_url(fo_id, "submit-request"), key=merchant_key)
        assert submitted.status_code == 200, submitted.content
        service_does(call, shop, fo_id, "accept-request")
        with tenant_context(shop.merchant):
            outbox.deliver_due()
        assert [e["kind"] for e in received(service_bot)] == ["fulfillment_request"]

        # Amazon cancels the unconfirmed order (A8) in the emulator; the sync reads it back.
        cancel_at = parse_datetime(emulated(sandbox, amazon_id)["schedule"]["auto_cancel_at"])
        sandbox.control.set_clock((cancel_at + timedelta(minutes=1)).isoformat())
        assert emulated(sandbox, amazon_id)["status"] == "Canceled"
        result = import_from_amazon(account, amazon_id)
        assert list(result.newly_cancelled_order_ids) == [order.pk]
        # The same cancellation announced a second time (a page read again) sends nothing more.
        with tenant_context(shop.merchant), transaction.atomic():
            after_amazon_upsert(shop.merchant, result)
        with tenant_context(shop.merchant):
            outbox.deliver_due()
            callbacks = list(
                OutboxMessage.objects.filter(kind="fulfillment.callback").order_by("id")
            )
            fo = FulfillmentOrder.objects.get(pk=fo_id)
            warnings = OrderEvent.objects.filter(
                order=order, data__warning="order_closed_with_request"
            )
            asked = OrderEvent.objects.filter(order=order, kind=EventKind.CANCELLATION_REQUESTED)
            assert warnings.count() == 1 and asked.count() == 1

    assert fo.state == ("in_progress", "cancellation_requested")
    assert [m.status for m in callbacks] == [OutboxStatus.SENT, OutboxStatus.SENT]
    # Exactly one cancellation request reached the service, signed with its secret (the bot
    # refuses anything else with a 401, which would have failed the delivery).
    assert received(service_bot) == [
        {
            "kind": "cancellation_request",
            "fulfillment_order": fo_id,
            "merchant": shop.merchant.pk,
            "message": f"Amazon cancelled order {amazon_id}: do not ship it.",
        }
    ]
    assert service_bot.seen_deliveries == {m.idempotency_key for m in callbacks}

    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.CANCELLED_DURING_FULFILLMENT,
        f"Amazon cancelled order {amazon_id} while it was with {shop.service.name}",
    )
    assert f"asked {shop.service.name} to cancel" in note.body
    # The service's answer is news as well.
    service_does(call, shop, fo_id, "accept-cancellation")
    assert len(notices(shop, order, NotificationKind.FULFILLMENT_CANCEL_ACCEPTED)) == 1
    assert notification_tasks.send_digests() == 1  # to the one who wants e-mail


T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def amazon_record(amazon_order_id: str, status: str, minutes: int) -> AmazonOrder:
    return AmazonOrder(
        amazon_order_id=amazon_order_id,
        marketplace_id="ATVPDKIKX0DER",
        status=status,
        fulfillment_channel="MFN",
        purchase_date=T0,
        last_update_date=T0 + timedelta(minutes=minutes),
        latest_ship_date=T0 + timedelta(days=2),
        order_total=Money(Decimal("40.00"), "USD"),
        items=(
            AmazonOrderItem(
                order_item_id=f"{amazon_order_id}-1",
                sku="SKU-1",
                asin="B000000001",
                title="Widget",
                quantity_ordered=2,
                quantity_shipped=0,
                item_price=Money(Decimal("40.00"), "USD"),
            ),
        ),
    )


def sync(shop, account, record: AmazonOrder) -> Order:
    with tenant_context(shop.merchant), transaction.atomic():
        after_amazon_upsert(shop.merchant, upsert_amazon_orders(account=account, records=[record]))
    with tenant_context(shop.merchant):
        return Order.objects.get(external_id=record.amazon_order_id)


def callback_kinds(shop) -> list[str]:
    with tenant_context(shop.merchant):
        return [
            m.payload["body"]["kind"]
            for m in OutboxMessage.objects.filter(kind="fulfillment.callback").order_by("id")
        ]


@pytest.mark.parametrize(
    ("workflow", "before", "callbacks", "state", "told"),
    [
        # F8: not accepted yet: withdrawn at once, and the service told not to ship.
        (
            "fulfillment_order",
            "submitted",
            ["fulfillment_request", "cancellation_request"],
            ("cancelled", "closed"),
            "Keelson withdrew it",
        ),
        # The merchant had asked already: nothing more goes to the service.
        (
            "fulfillment_order",
            "cancellation_requested",
            ["fulfillment_request", "cancellation_request"],
            ("in_progress", "cancellation_requested"),
            "You had already asked",
        ),
        # F4: a legacy service cannot be asked from Keelson: the merchant must contact it.
        (
            "legacy",
            "submitted",
            ["fulfillment_request"],
            ("in_progress", "submitted"),
            "contact it to stop the shipment",
        ),
    ],
)
def test_amazon_cancelling_in_every_request_state_tells_the_merchant_what_was_done_F1_F4_F8(
    make_shop, make_people, make_amazon_account, workflow, before, callbacks, state, told
):
    shop = make_shop(workflow=workflow, callback_url="http://127.0.0.1:9/callbacks")
    people = make_people(shop)
    account = make_amazon_account(shop.merchant)
    amazon_id = f"111-{shop.merchant.pk:07d}-0000001"
    order = sync(shop, account, amazon_record(amazon_id, "Unshipped", 1))
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    if before == "cancellation_requested":
        shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
        shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor)

    sync(shop, account, amazon_record(amazon_id, "Canceled", 20))
    sync(shop, account, amazon_record(amazon_id, "Canceled", 25))  # changed again: no news

    assert callback_kinds(shop) == callbacks
    with tenant_context(shop.merchant):
        assert FulfillmentOrder.objects.get(pk=fo.pk).state == state
    note = assert_told(
        shop,
        people,
        order,
        NotificationKind.CANCELLED_DURING_FULFILLMENT,
        f"Amazon cancelled order {amazon_id} while it was with {shop.service.name}",
    )
    assert told in note.body
