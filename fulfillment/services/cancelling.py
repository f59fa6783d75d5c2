"""Cancelling a request that is with the service (F8, F9), shared by the merchant's own
cancellation (``requests.cancel_request``) and the one Keelson sends when Amazon cancels the
order (F1: the service is told, and the merchant too).

Callers hold the order's and the fulfillment order's locks.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from foundation.text import N_
from fulfillment import workflow
from fulfillment.models import FulfillmentOrder
from fulfillment.services import notices
from fulfillment.services.base import Actor, _apply, _callback, _event, _with
from fulfillment.workflow import Action
from orders.models import EventKind, Order, OrderEvent

# The timeline event that records Amazon's cancellation for one fulfillment order: found again,
# it makes a second announcement of the same cancellation do nothing (no second callback).
CLOSED_WITH_REQUEST = "order_closed_with_request"


def _cancel(
    order: Order, fo: FulfillmentOrder, decision: workflow.Decision, actor: Actor, note: str
) -> None:
    """Apply an allowed CANCEL decision: F8 withdraws the request at once, F9 asks the service
    (the note goes to the service, never to the buyer). Both send the signed callback."""
    if decision.rule == "F8":
        _apply(fo, decision, cancellation_note=note)
        _event(
            order,
            EventKind.CANCELLATION_ACCEPTED,
            _with(
                N_(
                    "Fulfillment request to %(service)s cancelled before it was accepted; "
                    "the order is unfulfilled again.",
                    service=fo.service.name,
                ),
                N_("Note"),
                note,
            ),
            actor,
            {"fulfillment_order": fo.pk, "rule": "F8"},
        )
        _callback(
            order,
            fo,
            "cancellation_request",
            note or "The merchant withdrew this request before you accepted it.",
        )
    else:
        _apply(fo, decision, cancellation_note=note, cancellation_response="")
        _event(
            order,
            EventKind.CANCELLATION_REQUESTED,
            _with(
                N_("Asked %(service)s to cancel the fulfillment.", service=fo.service.name),
                N_("Note to the service"),
                note,
            ),
            actor,
            {"fulfillment_order": fo.pk, "rule": "F9"},
        )
        _callback(order, fo, "cancellation_request", note)


def _told_of_closing(order: Order, fo: FulfillmentOrder) -> bool:
    return OrderEvent.objects.filter(
        order=order, data__fulfillment_order=fo.pk, data__warning=CLOSED_WITH_REQUEST
    ).exists()


def stop_request_of_closed_order(order: Order, fo: FulfillmentOrder) -> bool:
    """F1: Amazon cancelled (or cannot fulfil) the locked ``order`` while ``fo``'s request is
    with the service. Once per fulfillment order (a second announcement does nothing): the
    service is sent a cancellation request as if the merchant had asked (F8 before it accepted,
    F9 after), unless the merchant already asked, or the service is a legacy one (F4: the
    merchant must contact it); the timeline says what happened and the merchant is notified.
    Returns whether anything was done."""
    if not fo.is_active_request or _told_of_closing(order, fo):
        return False
    names = {"service": fo.service.name, "order": order.external_id, "status": order.status}
    actor = Actor.system(_("Keelson (Amazon cancelled the order)"))
    decision = workflow.decide(
        Action.CANCEL, actor.side, fo.workflow, fo.state, service_name=fo.service.name
    )
    if decision.allowed and decision.rule == "F8":
        done = N_(
            "%(service)s had not accepted the request yet: Keelson withdrew it and told "
            "%(service)s not to ship the order."
        )
    elif decision.allowed:
        done = N_(
            "Keelson asked %(service)s to cancel the fulfillment; you will be told its answer."
        )
    elif fo.state == workflow.CANCELLATION_REQUESTED:
        done = N_(
            "You had already asked %(service)s to cancel the fulfillment; you will be told its "
            "answer."
        )
    else:  # F4: a legacy request cannot be cancelled from Keelson
        done = N_(
            "%(service)s cannot be asked to cancel from Keelson: contact it to stop the "
            "shipment, then revert the order to unfulfilled (F10)."
        )
    done = done.bind(**names)
    _event(
        order,
        EventKind.NOTE,
        N_(
            "Amazon reports this order %(status)s while %(service)s has its fulfillment "
            "request. %(done)s",
            done=done,
            **names,
        ),
        actor,
        {"fulfillment_order": fo.pk, "warning": CLOSED_WITH_REQUEST, "rule": "F1"},
    )
    if decision.allowed:
        note = _("Amazon cancelled order %(order)s: do not ship it.") % names
        _cancel(order, fo, decision, actor, note)
    notices.cancelled_by_amazon(order, fo, done)
    return True
