"""Amazon's answers to the shipment confirmations (R3), and the bulk confirmation of the order list
(A7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from foundation.text import N_
from fulfillment import errors, selectors
from fulfillment.models import AmazonConfirmation, Fulfillment
from fulfillment.services.base import (
    AMAZON_CONFIRM_KIND,
    Actor,
    _event,
    _lock_order,
    _now,
    refresh_fulfillment_status,
)
from fulfillment.services.shipments import ShipmentInput, _needs_amazon_confirmation, fulfil_order
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.services import retry_message
from orders.models import Channel, EventKind, Order, OrderLine, ShipmentConfirmation
from orders.services import recompute_deadlines


def record_amazon_confirmation(fulfillment_id: int, *, ok: bool, error: str = "") -> None:
    """The outbox's answer for one package (inside its transaction): the fulfillment's state,
    the order's confirmation state, and the deadlines that depend on it (A8)."""

    fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).only("order_id").first()
    if fulfillment is None:
        return
    order = _lock_order(fulfillment.order_id)
    fulfillment = Fulfillment.objects.select_for_update().get(pk=fulfillment_id)
    if ok:
        fulfillment.amazon_confirmation = AmazonConfirmation.CONFIRMED
        fulfillment.amazon_confirmed_at = _now()
        fulfillment.amazon_error = ""
    else:
        fulfillment.amazon_confirmation = AmazonConfirmation.FAILED
        fulfillment.amazon_error = error[:2000]
    fulfillment.save(update_fields=["amazon_confirmation", "amazon_confirmed_at", "amazon_error"])
    states = set(
        Fulfillment.objects.filter(order=order)
        .exclude(amazon_confirmation=AmazonConfirmation.NOT_REQUIRED)
        .values_list("amazon_confirmation", flat=True)
    )
    refresh_fulfillment_status([order.pk])
    order.refresh_from_db(fields=["fulfillment_status", "shipment_confirmation"])
    if states == {AmazonConfirmation.CONFIRMED} and order.fulfillment_status == "fulfilled":
        wanted = ShipmentConfirmation.CONFIRMED
    elif states & {AmazonConfirmation.CONFIRMED, AmazonConfirmation.PENDING}:
        wanted = ShipmentConfirmation.SENT
    else:
        wanted = ShipmentConfirmation.NONE
    if order.shipment_confirmation != wanted:
        order.shipment_confirmation = wanted
        order.save(update_fields=["shipment_confirmation", "updated_at"])
        recompute_deadlines([order.pk])


@dataclass
class BulkConfirmation:
    """What a bulk confirmation did (A7): counts, and why orders were skipped."""

    queued: int = 0  # new confirmations (orders fulfilled now)
    retried: int = 0  # failed confirmations sent again
    already: int = 0  # confirmations queued or confirmed before
    skipped: dict[str, str] = field(default_factory=dict)  # order number -> reason

    @property
    def total(self) -> int:
        return self.queued + self.retried + self.already + len(self.skipped)


def confirm_shipments(
    order_ids: Iterable[int], *, actor: Actor, shipment: ShipmentInput | None = None
) -> BulkConfirmation:
    """A7: confirm shipment on Amazon for many orders at once. Per order (one transaction
    each, so one refusal does not undo the others): a failed confirmation is sent again; an
    order not fulfilled yet is fulfilled with ``shipment`` (tracking and carrier, which Amazon
    requires) and confirmed; one whose confirmations are queued or done is left as it is.
    Progress: ``selectors.confirmation_progress(order_ids)``."""
    result = BulkConfirmation()
    for order in Order.objects.filter(pk__in=list(order_ids)).order_by("id"):
        try:
            _confirm_one(order, actor, shipment, result)
        except errors.DomainError as exc:
            result.skipped[order.external_id] = exc.message
    return result


@transaction.atomic
def _confirm_one(
    order: Order, actor: Actor, shipment: ShipmentInput | None, result: BulkConfirmation
) -> None:
    order = _lock_order(order)
    if not _needs_amazon_confirmation(order):
        raise errors.InvalidTransition(
            _("Not a seller-fulfilled Amazon order: nothing to confirm on Amazon (R5).")
            if order.channel == Channel.AMAZON
            else _("Only Amazon orders are confirmed to Amazon.")
        )
    failed = list(
        OutboxMessage.objects.filter(
            order=order, kind=AMAZON_CONFIRM_KIND, status=OutboxStatus.FAILED
        )
    )
    for message in failed:
        retry_message(message=message)
        Fulfillment.objects.filter(pk=message.payload.get("fulfillment")).update(
            amazon_confirmation=AmazonConfirmation.PENDING, amazon_error=""
        )
        _event(
            order,
            EventKind.OUTBOX,
            N_("Shipment confirmation sent to Amazon again (bulk confirmation, A7)."),
            actor,
            {"outbox_message": message.pk, "fulfillment": message.payload.get("fulfillment")},
        )
    result.retried += len(failed)
    fulfilled = selectors.fulfilled_quantities([order.pk])
    lines = list(OrderLine.objects.filter(order=order))
    open_quantity = sum(selectors.unfulfilled_quantity(line, fulfilled) for line in lines)
    if open_quantity:
        if shipment is None:
            if failed:
                return
            raise errors.InvalidTransition(
                _("Not fulfilled yet: give a tracking number and carrier to fulfil and confirm it.")
            )
        fulfil_order(order, actor=actor, shipment=shipment)
        result.queued += 1
    elif not failed:
        result.already += 1
