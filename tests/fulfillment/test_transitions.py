"""Every row of the transition table (fulfillment/workflow.py), walked through the services:
each allowed row from each of its source states lands where the table says, and every
API-facing action refused in a state is refused by the service with the table's code."""

from __future__ import annotations

import itertools

import pytest

from foundation.api.errors import DomainError
from fulfillment import services, workflow
from fulfillment.models import FulfillmentOrder
from fulfillment.workflow import TABLE, Action, Facts, Workflow
from orders.models import Order
from tenants.scope import tenant_context
from tests.fulfillment.conftest import SHIPMENT

pytestmark = pytest.mark.django_db

# Actions the services expose to people and partners (the others are the sync's).
API_ACTIONS = [
    Action.SUBMIT,
    Action.ACCEPT,
    Action.REJECT,
    Action.CANCEL,
    Action.ACCEPT_CANCELLATION,
    Action.REJECT_CANCELLATION,
    Action.REPORT_SHIPMENT,
    Action.REVERT,
]


def allowed_cases():
    for row in TABLE:
        if row.refusal:
            continue
        for wf, source in itertools.product(sorted(row.workflows), sorted(row.sources)):
            shipped = bool(row.shipped)
            if shipped and source in workflow.NOT_REQUESTED_STATES:
                continue  # nothing ships before a request
            yield pytest.param(
                row,
                wf,
                source,
                id=f"{row.action}-{wf}-{source}-{row.rule}-"
                f"shipped={row.shipped}-remains={row.remains}",
            )


def put_in_state(shop, order: Order, state: workflow.State, *, shipped: bool) -> FulfillmentOrder:
    """Test set-up: an FO of ``order`` in ``state``; with ``shipped``, 1 of its 3 items has
    been shipped by the service first."""
    fo = shop.fo(order)
    with tenant_context(shop.merchant):
        if shipped:
            ships_from = (
                workflow.ACCEPTED
                if fo.workflow == "fulfillment_order"
                else (workflow.SUBMITTED_LEGACY)
            )
            FulfillmentOrder.objects.filter(pk=fo.pk).update(
                status=ships_from.status, request_status=ships_from.request_status
            )
            services.report_shipment(
                fo.pk,
                actor=shop.service_actor,
                lines=[(fo.lines.get().pk, 1)],
                shipment=SHIPMENT,
            )
        FulfillmentOrder.objects.filter(pk=fo.pk).update(
            status=state.status, request_status=state.request_status
        )
        if state == workflow.ON_HOLD:
            Order.objects.filter(pk=order.pk).update(status="Pending")
        services.refresh_fulfillment_status([order.pk])
        return FulfillmentOrder.objects.get(pk=fo.pk)


def perform(shop, order: Order, fo: FulfillmentOrder, action: Action, remains: bool | None):
    m, s = shop.merchant_actor, shop.service_actor
    with tenant_context(shop.merchant):
        fo_line = fo.lines.get()
        one = [(fo_line.pk, 1)] if remains else None
        if action == Action.SUBMIT:
            services.submit_request(fo.pk, actor=m, note="please ship")
        elif action == Action.ACCEPT:
            services.accept_request(fo.pk, actor=s, message="on it")
        elif action == Action.REJECT:
            services.reject_request(fo.pk, actor=s, message="out of stock")
        elif action == Action.CANCEL:
            services.cancel_request(fo.pk, actor=m, note="buyer changed their mind")
        elif action == Action.ACCEPT_CANCELLATION:
            services.accept_cancellation(fo.pk, actor=s, message="stopped")
        elif action == Action.REJECT_CANCELLATION:
            services.reject_cancellation(fo.pk, actor=s, message="already packed")
        elif action == Action.REPORT_SHIPMENT:
            services.report_shipment(fo.pk, actor=s, lines=one, shipment=SHIPMENT)
        elif action == Action.REVERT:
            services.revert_to_unfulfilled(fo.pk, actor=m, lines=one)
        elif action == Action.FULFILLED_BY_MERCHANT:
            line = [(fo_line.order_line_id, 1)] if remains else None
            services.fulfil_order(order.pk, actor=m, lines=line, shipment=SHIPMENT)
        elif action == Action.RELEASE:
            Order.objects.filter(pk=order.pk).update(status="Unshipped")
            services.sync_fulfillment_orders([order.pk])
        elif action == Action.VOID:
            Order.objects.filter(pk=order.pk).update(status="Canceled")
            services.sync_fulfillment_orders([order.pk])
        elif action == Action.UNASSIGN:
            services.deactivate_fulfillment_service(shop.service, actor=m)
        return FulfillmentOrder.objects.get(pk=fo.pk)


@pytest.mark.parametrize(("row", "wf", "source"), list(allowed_cases()))
def test_every_allowed_row_lands_where_the_table_says(row, wf, source, make_shop):
    shop = make_shop(workflow=wf)
    order = shop.order(lines=(("SKU-1", 3, "30.00"),))
    fo = put_in_state(shop, order, source, shipped=bool(row.shipped))
    after = perform(shop, order, fo, row.action, row.remains)
    assert after.state == (row.to or source)


@pytest.mark.parametrize("wf", list(Workflow))
def test_every_refused_api_action_is_refused_by_the_service_with_the_tables_code(wf, make_shop):
    shop = make_shop(workflow=wf)
    order = shop.order(lines=(("SKU-1", 3, "30.00"),))
    checked = 0
    for shipped in (False, True):
        if shipped:
            put_in_state(shop, order, workflow.ACCEPTED, shipped=True)
        for state, action in itertools.product(sorted(workflow.ALL_STATES), API_ACTIONS):
            if shipped and state in workflow.NOT_REQUESTED_STATES:
                continue
            side = sorted(workflow.SIDES[action])[0]
            facts = Facts(shipped=shipped, remains=True)
            decision = workflow.decide(action, side, wf, state, facts)
            if decision.allowed:
                continue
            with tenant_context(shop.merchant):
                FulfillmentOrder.objects.filter(order=order).update(
                    status=state.status, request_status=state.request_status
                )
                fo = shop.fo(order)
            with pytest.raises(DomainError) as refused:
                perform(shop, order, fo, action, remains=True)
            assert refused.value.code == decision.code, (action, wf, state, refused.value)
            assert shop.fo(order).state == state  # nothing changed
            checked += 1
    assert checked > 100
