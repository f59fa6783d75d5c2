"""The request to the service and its answers: request (F1, F2, F5), accept or reject (F6), cancel
(F4, F8, F9), revert to unfulfilled (F10), and notes (F12). The merchant is told of each answer
of the service (F1, ``notices``), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from foundation.text import N_
from fulfillment import errors, selectors, workflow
from fulfillment.models import FulfillmentOrder
from fulfillment.services import notices
from fulfillment.services.base import (
    INVENTORY_REMINDER,
    Actor,
    _apply,
    _decide,
    _ensure_order_allows,
    _event,
    _fo_lines,
    _lines_text,
    _lock,
    _lock_order,
    _now,
    _refresh,
    _requested_lines,
    _shipped_any,
    _submit,
    _with,
)
from fulfillment.services.cancelling import _cancel
from fulfillment.services.fulfillment_orders import _ensure_fulfillment_orders
from fulfillment.workflow import Action, Facts, Side
from orders import policy
from orders.models import EventKind, Order, OrderEvent


@transaction.atomic
def submit_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, note: str = ""
) -> FulfillmentOrder:
    """F1, F5: ask the service to fulfil; the order is then "in progress" and can no longer be
    edited or refunded (F3)."""
    order, fo = _lock(fulfillment_order)
    _submit(order, fo, actor, note, auto=False)
    return fo


@transaction.atomic
def request_fulfillment(
    order: Order | int, *, actor: Actor, note: str = ""
) -> list[FulfillmentOrder]:
    """The portal's "Request fulfillment": make what fulfillment orders the order needs and
    submit every one that is ready."""
    order = _lock_order(order)
    _ensure_order_allows(order, policy.Action.REQUEST_FULFILLMENT, request_in_progress_ok=True)
    _ensure_fulfillment_orders(order)
    ready = list(
        FulfillmentOrder.objects.filter(
            order=order, status=workflow.Status.OPEN, request_status="unsubmitted"
        )
        .select_for_update(of=("self",))
        .select_related("service")
        .order_by("id")
    )
    if not ready:
        if not selectors.active_locations([order.merchant_id]):
            raise errors.NoServiceAssigned(
                _(
                    "No fulfillment service is set up for this merchant: add one, or fulfil the "
                    "order yourself."
                )
            )
        raise errors.InvalidTransition(
            _("Nothing is left to request: every item is fulfilled or already requested.")
        )
    for fo in ready:
        _submit(order, fo, actor, note, auto=False)
    return ready


@transaction.atomic
def accept_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str = ""
) -> FulfillmentOrder:
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.ACCEPT, actor)
    _apply(fo, decision, response_message=message, accepted_at=_now())
    _event(
        order,
        EventKind.FULFILLMENT_ACCEPTED,
        _with(
            N_("%(service)s accepted the fulfillment request.", service=fo.service.name),
            N_("Message"),
            message,
        ),
        actor,
        {"fulfillment_order": fo.pk, "rule": "F6"},
    )
    _refresh(order)
    notices.request_accepted(order, fo, message)
    return fo


@transaction.atomic
def reject_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str = ""
) -> FulfillmentOrder:
    """F6: the order returns to unfulfilled; its lines go to a new, unsubmitted FO."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.REJECT, actor)
    _apply(fo, decision, response_message=message)
    text = N_("%(service)s rejected the fulfillment request.", service=fo.service.name)
    _event(
        order,
        EventKind.FULFILLMENT_REJECTED,
        N_(
            "%(text)s The order is unfulfilled again.",
            text=_with(text, N_("Reason"), message),
        ),
        actor,
        {"fulfillment_order": fo.pk, "rule": "F6", "message": message},
    )
    _ensure_fulfillment_orders(order)
    _refresh(order)
    notices.request_rejected(order, fo, message)
    return fo


@transaction.atomic
def cancel_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, note: str = ""
) -> FulfillmentOrder:
    """F8: a request not yet accepted is withdrawn at once; F9: for an accepted one, the
    service is asked to cancel (the note goes to the service, never to the buyer); F4: a
    legacy service's request cannot be cancelled from here."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.CANCEL, actor)
    _cancel(order, fo, decision, actor, note)
    if decision.rule == "F8":
        _ensure_fulfillment_orders(order)
    _refresh(order)
    return fo


@transaction.atomic
def accept_cancellation(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str = ""
) -> FulfillmentOrder:
    """F9: the service cancelled; what it had not shipped is unfulfilled again."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.ACCEPT_CANCELLATION, actor, Facts(shipped=_shipped_any(fo)))
    _apply(fo, decision, cancellation_response=message)
    _event(
        order,
        EventKind.CANCELLATION_ACCEPTED,
        N_(
            "%(text)s What it had not shipped is unfulfilled again.",
            text=_with(
                N_("%(service)s accepted the cancellation.", service=fo.service.name),
                N_("Message"),
                message,
            ),
        ),
        actor,
        {"fulfillment_order": fo.pk, "rule": "F9"},
    )
    _ensure_fulfillment_orders(order)
    _refresh(order)
    notices.cancellation_accepted(order, fo, message)
    return fo


@transaction.atomic
def reject_cancellation(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str = ""
) -> FulfillmentOrder:
    """F9: fulfillment continues normally; the reason is recorded."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.REJECT_CANCELLATION, actor)
    _apply(fo, decision, cancellation_response=message)
    _event(
        order,
        EventKind.CANCELLATION_REJECTED,
        N_(
            "%(text)s Fulfillment continues.",
            text=_with(
                N_("%(service)s rejected the cancellation.", service=fo.service.name),
                N_("Reason"),
                message,
            ),
        ),
        actor,
        {"fulfillment_order": fo.pk, "rule": "F9", "message": message},
    )
    _refresh(order)
    notices.cancellation_rejected(order, fo, message)
    return fo


@transaction.atomic
def revert_to_unfulfilled(
    fulfillment_order: FulfillmentOrder | int,
    *,
    actor: Actor,
    lines: Sequence[tuple[int, int | None]] | None = None,
    note: str = "",
) -> tuple[FulfillmentOrder, str]:
    """F10: the service cancelled but could not tell us: after confirming with it, the merchant
    takes the whole request (or some lines) back. What was not shipped is unfulfilled again;
    the merchant is reminded to check inventory. Returns the FO and that reminder."""
    order, fo = _lock(fulfillment_order)
    fo_lines = {fl.pk: fl for fl in _fo_lines(fo)}
    _decide(fo, Action.REVERT, actor, Facts(shipped=_shipped_any(fo)))
    wanted = _requested_lines(
        lines, {pk: fl.remaining_quantity for pk, fl in fo_lines.items()}, _("fulfillment order")
    )
    for pk, qty in wanted:
        fo_lines[pk].remaining_quantity -= qty
        fo_lines[pk].save(update_fields=["remaining_quantity"])
    remains = any(fl.remaining_quantity > 0 for fl in fo_lines.values())
    decision = _decide(fo, Action.REVERT, actor, Facts(shipped=_shipped_any(fo), remains=remains))
    _apply(fo, decision)
    pairs = [(fo_lines[pk].order_line, qty) for pk, qty in wanted]
    text = (
        N_(
            "The order reverted to unfulfilled (%(lines)s), taken back from %(service)s's "
            "request. %(reminder)s"
        )
        if not remains
        else N_(
            "Some items reverted to unfulfilled (%(lines)s), taken back from %(service)s's "
            "request. %(reminder)s"
        )
    ).bind(lines=_lines_text(pairs), service=fo.service.name, reminder=INVENTORY_REMINDER)
    _event(
        order,
        EventKind.REVERTED,
        _with(text, N_("Note"), note),
        actor,
        {
            "fulfillment_order": fo.pk,
            "lines": [{"line": line.pk, "quantity": qty} for line, qty in pairs],
            "rule": "F10",
        },
    )
    _ensure_fulfillment_orders(order)
    _refresh(order)
    return fo, INVENTORY_REMINDER


@transaction.atomic
def add_note(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str
) -> OrderEvent:
    """F5, F12: a note from either side on the order's timeline."""
    order, fo = _lock(fulfillment_order)
    if actor.side == Side.SERVICE and actor.service_id != fo.service_id:
        raise errors.NotYourAction(_("This fulfillment order is assigned to another service."))
    message = (message or "").strip()
    if not message:
        raise errors.InvalidFulfillmentInput(
            _("A note needs a message."), errors={"message": [_("This field may not be blank.")]}
        )
    who = f"{fo.service.name}" if actor.side == Side.SERVICE else actor.name
    return _event(
        order,
        EventKind.NOTE,
        N_(
            "Note from %(who)s (fulfillment order #%(fo)s): %(message)s",
            who=who,
            fo=fo.pk,
            message=message,
        ),
        actor,
        {"fulfillment_order": fo.pk, "side": str(actor.side)},
    )
