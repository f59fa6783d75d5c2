"""Signed callbacks (api.md, "Outbound calls to fulfillment services"): our outbox signs, the
bot (as any partner would) verifies; a forged or replayed delivery does nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest
import requests
from django.db import transaction

from fulfillment import services
from fulfillment.outbox_handlers import DELIVERY_HEADER, SIGNATURE_HEADER, callback_body
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from sandbox.bot.bot import BotConfig, FulfillmentBot, split_packages
from tenants.scope import tenant_context


@pytest.fixture
def bot():
    running = FulfillmentBot(
        BotConfig(api="http://127.0.0.1:9/api/v1", key="kls_x", secret="s3cret", poll_interval=3600)
    )
    threading.Thread(target=running.server.serve_forever, daemon=True).start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def post(bot, body: dict, *, secret="s3cret", delivery="d-1", signature=None):
    raw = json.dumps(body).encode()
    if signature is None:
        signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return requests.post(
        bot.callback_url,
        data=raw,
        headers={SIGNATURE_HEADER: signature, DELIVERY_HEADER: delivery},
        timeout=5,
    )


def test_the_bot_refuses_a_bad_signature_and_acts_once_per_delivery(bot):
    body = {"kind": "fulfillment_request", "fulfillment_order": 7, "merchant": 1, "message": ""}
    assert post(bot, body, secret="wrong").status_code == 401
    assert post(bot, body, signature="").status_code == 401
    assert bot.events.empty()

    first = post(bot, body, delivery="same")
    again = post(bot, body, delivery="same")
    assert first.json() == {"ok": True, "duplicate": False}
    assert again.json() == {"ok": True, "duplicate": True}
    assert bot.events.get_nowait() == body and bot.events.empty()


def test_the_bot_ships_two_units_or_more_in_two_packages():
    lines = [{"id": 1, "remaining_quantity": 2}, {"id": 2, "remaining_quantity": 1}]
    assert split_packages(lines) == [[{"line": 1, "quantity": 2}], [{"line": 2, "quantity": 1}]]
    assert split_packages([{"id": 5, "remaining_quantity": 3}]) == [
        [{"line": 5, "quantity": 2}],
        [{"line": 5, "quantity": 1}],
    ]
    assert split_packages([{"id": 5, "remaining_quantity": 1}]) == [[{"line": 5, "quantity": 1}]]


@pytest.mark.django_db(transaction=True)
def test_our_callbacks_are_signed_with_the_services_secret_and_verified_by_the_bot(
    make_merchant, make_order
):
    merchant = make_merchant()
    bot = FulfillmentBot(BotConfig(api="http://127.0.0.1:9", key="k", secret="", poll_interval=1e9))
    threading.Thread(target=bot.server.serve_forever, daemon=True).start()
    try:
        creds = services.create_fulfillment_service(
            name="Signed 3PL", merchant=merchant, callback_url=bot.callback_url
        )
        bot.config.secret = creds.signing_secret
        order = make_order(merchant)
        with tenant_context(merchant):
            services.prepare_fulfillment_orders(order)
            fo = order.fulfillment_orders.get()
            actor = services.Actor(services.Side.MERCHANT, "m", "user")
            with transaction.atomic():
                services.submit_request(fo.pk, actor=actor, note="hello")
            outbox.deliver_due()
            message = OutboxMessage.objects.get(kind="fulfillment.callback")
        assert message.status == OutboxStatus.SENT
        received = bot.events.get(timeout=5)
        assert received == {
            "kind": "fulfillment_request",
            "fulfillment_order": fo.pk,
            "merchant": merchant.pk,
            "message": "hello",
        }
        assert bot.seen_deliveries == {message.idempotency_key}  # X-Keelson-Delivery
        assert callback_body(received) == callback_body(message.payload["body"])

        # A service whose secret changed (or an impostor's) is refused: the outbox fails it.
        bot.config.secret = "rotated"
        with tenant_context(merchant):
            fo2 = order.fulfillment_orders.get(pk=fo.pk)
            with transaction.atomic():
                services.cancel_request(fo2.pk, actor=actor)
            outbox.deliver_due()
            refused = OutboxMessage.objects.filter(kind="fulfillment.callback").latest("id")
        assert refused.status == OutboxStatus.FAILED and refused.last_error_code == "http_401"
    finally:
        bot.server.shutdown()
        bot.server.server_close()
