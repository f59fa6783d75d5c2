"""Mirror out with a real qcluster (issue 12; R1): the worker that was creating the order in
Shopify is SIGKILLed after Shopify received the mutation and before the ack; Shopify goes on
and creates the order; when the dead worker's lease has expired the message is delivered again,
finds the order by its source identifier and makes no second one."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import ShopifyState
from orders.shopify_mirror import CREATE_ORDER_KIND
from tenants.scope import tenant_context
from tests.refunds.amazon import import_orders, place
from tests.support.processes import qcluster
from tests.support.shopify_mirror import ITEM, running_mirror

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_a_worker_killed_after_shopify_got_the_order_makes_no_second_shopify_order(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        control = mirror.shopify.control
        control.inject_fault("latency", latency_ms=4000, count=1, operations=["mutation"])
        with qcluster() as cluster:
            order = mirror.place()  # the upsert's commit queues the delivery
            wait_for(
                "the worker to send orderCreate",
                lambda: any(f["hits"] for f in control.faults()["faults"]),
            )
            os.killpg(cluster.pid, signal.SIGKILL)  # before it could record Shopify's answer
            cluster.wait(10)
        # Shopify still creates the order once its delay is over.
        wait_for("Shopify to create the order", mirror.store_orders)
        with tenant_context(mirror.merchant):
            message = OutboxMessage.objects.get(kind=CREATE_ORDER_KIND)
            assert message.status == OutboxStatus.PENDING and message.attempts == 1
            # The dead worker's lease expires; the message is delivered again.
            OutboxMessage.objects.filter(pk=message.pk).update(
                lease_until=timezone.now() - timedelta(seconds=1)
            )
        mirror.deliver()
        (created,) = mirror.store_orders()
        message = mirror.fresh(message)
        assert message.status == OutboxStatus.SENT and message.attempts == 2
        assert message.result["found_existing"] is True
        order = mirror.fresh(order)
        assert order.shopify_state == ShopifyState.SYNCED
        assert order.shopify_order_id == f"gid://shopify/Order/{created.pk}"


def test_two_clusters_and_a_small_throttled_bucket_mirror_every_order_exactly_once(
    make_merchant,
):
    """Two qclusters (two workers each) deliver one change set's orders while Shopify's cost
    bucket is small: the gateway waits for restored points, nothing is lost or doubled."""
    with running_mirror(make_merchant, throttling=True) as mirror:
        mirror.shopify.control.set_throttle(
            mirror.domain, maximum_available=80, currently_available=80, restore_rate=40
        )
        amazon_ids = [
            place(mirror.amazon, mirror.amazon.seller, [dict(ITEM, seller_sku=f"SKU-{n}")])
            for n in range(8)
        ]
        with qcluster(), qcluster():
            orders = import_orders(mirror.account, *amazon_ids)

            def all_sent():
                with tenant_context(mirror.merchant):
                    sent = OutboxMessage.objects.filter(
                        kind=CREATE_ORDER_KIND, status=OutboxStatus.SENT
                    ).count()
                return sent == len(orders)

            wait_for("every order to be mirrored", all_sent, timeout=120)
        created = mirror.store_orders()
        assert sorted(o.source_identifier for o in created) == sorted(amazon_ids)
        assert all(mirror.fresh(o).shopify_state == ShopifyState.SYNCED for o in orders)
