"""Taking a service off what it was not asked for yet, once it no longer serves the merchant
(deactivated, or its location removed): the part goes back to be routed again (F1), on the
order's timeline (F12). A request already with the service is never taken off: deactivating
or removing a location waits until it ends (``connections``).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from fulfillment import selectors, workflow
from fulfillment.models import FulfillmentLocation, FulfillmentOrder
from fulfillment.services.base import Actor, _apply, _decide, _event, _fo_lines, _lines_text
from fulfillment.workflow import Action
from orders.models import EventKind, Order

Unassigned = list[tuple[FulfillmentOrder, str]]


def unassign_stale(order: Order, actor: Actor) -> Unassigned:
    """Void (``Action.UNASSIGN``) the order's not-requested fulfillment orders whose service no
    longer serves its merchant; returns them with the text of what they held. The order is
    locked by the caller."""
    serving = FulfillmentLocation.objects.filter(
        service=OuterRef("service"), merchant_id=order.merchant_id, is_active=True
    )
    stale = (
        FulfillmentOrder.objects.filter(
            selectors.state_q(workflow.NOT_REQUESTED_STATES), order=order
        )
        .filter(Q(service__is_active=False) | ~Exists(serving))
        .select_for_update(of=("self",))
        .select_related("service")
        .order_by("id")
    )
    out = []
    for fo in stale:
        held = _lines_text((fl.order_line, fl.remaining_quantity) for fl in _fo_lines(fo))
        _apply(fo, _decide(fo, Action.UNASSIGN, actor))
        out.append((fo, held))
    return out


def record_unassigned(
    order: Order, unassigned: Unassigned, made: list[FulfillmentOrder], actor: Actor
) -> None:
    """One timeline entry per service taken off: what it held and where that went now."""
    now_with = sorted({fo.service.name for fo in made})
    for fo, held in unassigned:
        text = _(
            "%(service)s no longer serves this merchant (deactivated, or its location was "
            "removed) and had not been asked yet: %(lines)s taken off it."
        ) % {"service": fo.service.name, "lines": held or _("nothing left")}
        if now_with:
            text += " " + _("Now with %(services)s: request fulfillment when ready.") % {
                "services": ", ".join(now_with)
            }
        else:
            text += " " + _(
                "No other fulfillment service takes these items: choose a default service for "
                "the merchant and request fulfillment, or fulfil the order yourself."
            )
        _event(
            order,
            EventKind.NOTE,
            text,
            actor,
            {
                "fulfillment_order": fo.pk,
                "service": fo.service_id,
                "unassigned": True,
                "rule": "F1",
            },
        )
