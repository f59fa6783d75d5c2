"""Fulfillment orders: making them for an order's lines, per location (held while Amazon verifies
it, A1), and the order-change subscriber's work (F2): status from Amazon's shipped quantities,
fulfillment orders released, voided or trimmed, the automatic request, and a request with a
service stopped when Amazon cancels the order (F1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from fulfillment import selectors, workflow
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.services.base import (
    AUTO_REQUEST_ACTOR,
    Actor,
    _apply,
    _decide,
    _lock_order,
    _submit,
    refresh_fulfillment_status,
)
from fulfillment.services.cancelling import stop_request_of_closed_order
from fulfillment.services.unassign import record_unassigned, unassign_stale
from fulfillment.workflow import Action, Facts
from orders import policy
from orders.models import (
    AmazonOrderStatus,
    Channel,
    FulfillmentChannel,
    Order,
    OrderLine,
)
from tenants.models import Merchant


def _fulfillable_order(order: Order) -> bool:
    if order.channel == Channel.AMAZON and order.fulfillment_channel == FulfillmentChannel.AFN:
        return False  # R5: Amazon fulfils it
    return order.status not in policy.CLOSED_STATUSES


def _ensure_fulfillment_orders(order: Order, actor: Actor | None = None) -> list[FulfillmentOrder]:
    """Put every quantity of the (locked) order that is neither fulfilled nor in an unfinished
    fulfillment order into a new unsubmitted one, per service location (explicit SKU
    assignment first, then the merchant's default). On hold while Amazon holds the order (A1).
    What a service no longer serving the merchant was not asked for yet is taken off it first,
    and routed again (``unassign``)."""
    actor = actor or Actor.system()
    unassigned = unassign_stale(order, actor)
    made = _make_fulfillment_orders(order)
    if unassigned:
        record_unassigned(order, unassigned, made, actor)
    return made


def _make_fulfillment_orders(order: Order) -> list[FulfillmentOrder]:
    if not _fulfillable_order(order):
        return []
    locations = selectors.active_locations([order.merchant_id])
    if not locations:
        return []
    lines = list(OrderLine.objects.filter(order=order).order_by("id"))
    fulfilled = selectors.fulfilled_quantities([order.pk])
    covered = selectors.covered_quantities([order.pk])
    uncovered = {
        line.pk: selectors.unfulfilled_quantity(line, fulfilled) - covered.get(line.pk, 0)
        for line in lines
    }
    assigned = {sku: loc.pk for loc in locations for sku in loc.skus}
    default = next((loc.pk for loc in locations if loc.is_default), None)
    routed = workflow.route_lines(
        [(line.pk, line.sku) for line in lines if uncovered[line.pk] > 0], assigned, default
    )
    by_location: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        if line.pk in routed:
            by_location[routed[line.pk]].append(line)
    held = order.status in policy.PENDING_STATUSES and order.channel == Channel.AMAZON
    made = []
    location_by_id = {loc.pk: loc for loc in locations}
    for location_id, its_lines in sorted(by_location.items()):
        service = location_by_id[location_id].service
        state = workflow.ON_HOLD if held else workflow.READY
        fo = FulfillmentOrder.objects.create(
            merchant_id=order.merchant_id,
            order=order,
            service=service,
            workflow=service.workflow,
            status=state.status,
            request_status=state.request_status,
        )
        FulfillmentOrderLine.objects.bulk_create(
            [
                FulfillmentOrderLine(
                    merchant_id=order.merchant_id,
                    fulfillment_order=fo,
                    order_line=line,
                    quantity=uncovered[line.pk],
                    remaining_quantity=uncovered[line.pk],
                )
                for line in its_lines
            ]
        )
        made.append(fo)
    return made


@transaction.atomic
def prepare_fulfillment_orders(order: Order | int) -> list[FulfillmentOrder]:
    """Make the fulfillment orders an order needs now (what no unfinished one covers)."""
    order = _lock_order(order)
    made = _ensure_fulfillment_orders(order)
    return made


@dataclass
class SyncReport:
    created: int = 0
    released: int = 0
    voided: int = 0
    auto_requested: int = 0
    status_changed: int = 0


def sync_fulfillment_orders(
    order_ids: Iterable[int], *, merchant_ids: Iterable[int] | None = None
) -> SyncReport:
    """After Amazon's orders were upserted (``orders.services.after_amazon_upsert``, in the
    sync's transaction and scope): the fulfillment status follows what Amazon reports shipped;
    orders of merchants with a fulfillment service get their fulfillment orders (on hold while
    Pending, A1; released once Unshipped; voided when Amazon cancels before a request; the
    service asked to stop when Amazon cancels after one, F1), and with automatic fulfillment
    on, a new Unshipped order is requested at once (F2).

    ``merchant_ids``: the orders' merchants when the caller knows them (the sync's change set
    is one merchant's), else read. Orders of merchants without a fulfillment location that
    have no fulfillment orders cost two queries here besides the status (the sync's hook runs
    this for every page: docs/benchmarks.md, "Sync: ingest")."""
    report = SyncReport()
    ids = sorted(set(order_ids))
    if not ids:
        return report
    if merchant_ids is None:
        merchant_ids = (
            Order.objects.filter(pk__in=ids).values_list("merchant_id", flat=True).distinct()
        )
    merchant_ids = set(merchant_ids)
    served = selectors.merchant_ids_with_locations(merchant_ids)
    with_fos = set(
        FulfillmentOrder.objects.filter(order_id__in=ids)
        .values_list("order_id", flat=True)
        .distinct()
    )
    candidates = with_fos
    if served:
        candidates |= set(
            Order.objects.filter(pk__in=ids, merchant_id__in=served).values_list("id", flat=True)
        )
    if not candidates:
        report.status_changed = refresh_fulfillment_status(ids)
        return report
    merchants = Merchant.objects.in_bulk(merchant_ids)
    with transaction.atomic():
        for order in (
            Order.objects.filter(pk__in=sorted(candidates)).select_for_update().order_by("pk")
        ):
            _sync_order(order, merchants[order.merchant_id], report)
        report.status_changed = refresh_fulfillment_status(ids)
    return report


def _sync_order(order: Order, merchant: Merchant, report: SyncReport) -> None:
    fos = list(
        FulfillmentOrder.objects.filter(order=order)
        .select_for_update(of=("self",))
        .select_related("service")
        .order_by("id")
    )
    if order.status in policy.CLOSED_STATUSES:
        for fo in fos:
            if fo.state in workflow.NOT_REQUESTED_STATES:
                _apply(fo, _decide(fo, Action.VOID, Actor.system()))
                report.voided += 1
            elif fo.is_active_request:
                # F1: the service is asked to stop and the merchant told, once per request.
                stop_request_of_closed_order(order, fo)
        return
    if order.status in policy.OPEN_STATUSES:
        for fo in fos:
            if fo.state == workflow.ON_HOLD:
                _apply(fo, _decide(fo, Action.RELEASE, Actor.system()))
                report.released += 1
    _trim_unrequested(order, Actor.system())
    report.created += len(_ensure_fulfillment_orders(order))
    if (
        merchant.auto_request_fulfillment
        and order.status == AmazonOrderStatus.UNSHIPPED
        and not order.buyer_cancel_requested
        and not FulfillmentOrder.objects.filter(order=order)
        .exclude(request_status=workflow.RequestStatus.UNSUBMITTED)
        .exists()
    ):
        for fo in FulfillmentOrder.objects.filter(
            order=order, status=workflow.Status.OPEN, request_status="unsubmitted"
        ).select_related("service"):
            _submit(order, fo, AUTO_REQUEST_ACTOR, note="", auto=True)
            report.auto_requested += 1


def _trim_unrequested(order: Order, actor: Actor) -> None:
    """Unrequested fulfillment orders keep only what is still unfulfilled (the merchant shipped
    some lines itself, or Amazon reports them shipped); an emptied one is closed."""
    fulfilled = selectors.fulfilled_quantities([order.pk])
    lines = {line.pk: line for line in OrderLine.objects.filter(order=order)}
    budget = {pk: selectors.unfulfilled_quantity(line, fulfilled) for pk, line in lines.items()}
    # Requested quantities come first: they are with a service already.
    for fo_line in FulfillmentOrderLine.objects.filter(
        selectors.state_q(workflow.ACTIVE_REQUEST_STATES, prefix="fulfillment_order__"),
        fulfillment_order__order=order,
    ):
        budget[fo_line.order_line_id] = budget.get(fo_line.order_line_id, 0) - (
            fo_line.remaining_quantity
        )
    fos = (
        FulfillmentOrder.objects.filter(selectors.state_q([workflow.READY]), order=order)
        .select_for_update(of=("self",))
        .select_related("service")
        .order_by("id")
    )
    for fo in fos:
        changed = False
        remains = False
        for fo_line in fo.lines.all().order_by("id"):
            keep = max(0, min(fo_line.remaining_quantity, budget.get(fo_line.order_line_id, 0)))
            budget[fo_line.order_line_id] = budget.get(fo_line.order_line_id, 0) - keep
            if keep != fo_line.remaining_quantity:
                fo_line.remaining_quantity = keep
                fo_line.save(update_fields=["remaining_quantity"])
                changed = True
            remains = remains or keep > 0
        if changed or not remains:
            decision = _decide(fo, Action.FULFILLED_BY_MERCHANT, actor, Facts(remains=remains))
            _apply(fo, decision)
