"""What every fulfillment use case shares: who acts (``Actor``), the outbox kinds, locking the
order and its fulfillment order (always the order first), deciding a transition
(``fulfillment/workflow.py``) and the order's policy, the timeline event (F12), and the order's
fulfillment status (F7).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, router
from django.utils import timezone
from django.utils.translation import gettext as _

from foundation import clock
from foundation.text import N_
from fulfillment import errors, selectors, workflow
from fulfillment.models import (
    FulfillmentLocation,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentService,
)
from fulfillment.workflow import Action, Facts, Side
from integrations.outbox.services import enqueue
from orders import bulk, policy
from orders import selectors as order_selectors
from orders.models import ActorType, EventKind, Order, OrderEvent, OrderLine
from tenants.models import ApiKey, ApiKeyOwner, ApiScope

CALLBACK_KIND = "fulfillment.callback"


AMAZON_CONFIRM_KIND = "amazon.confirm_shipment"


SHOPIFY_FULFILLMENT_KIND = "shopify.create_fulfillment"


SERVICE_KEY_SCOPES = (ApiScope.FULFILLMENTS_READ, ApiScope.FULFILLMENTS_WRITE)


INVENTORY_REMINDER = N_(
    "Check your inventory: the items are no longer with the fulfillment service's request, "
    "and its stock may differ from what Keelson shows."
)


R4_NOTE = "No customer notification was sent: Amazon notifies its buyers itself (R4)."


@dataclass(frozen=True)
class Actor:
    side: Side
    name: str
    actor_type: str
    user_id: int | None = None
    service_id: int | None = None

    @classmethod
    def user(cls, user) -> Actor:
        name = user.get_full_name() or user.get_username()
        return cls(Side.MERCHANT, name, ActorType.USER, user_id=user.pk)

    @classmethod
    def api_key(cls, key: ApiKey) -> Actor:
        if key.owner_type == ApiKeyOwner.FULFILLMENT_SERVICE:
            service = selectors.service_for_api_key(key)
            if service is None:  # a service key whose service is gone: may do nothing
                return cls(Side.SERVICE, f"API key {key.prefix}…", ActorType.FULFILLMENT_SERVICE)
            return cls.service(service)
        return cls(Side.MERCHANT, f"API key {key.name} ({key.prefix}…)", ActorType.API_KEY)

    @classmethod
    def service(cls, service: FulfillmentService) -> Actor:
        return cls(Side.SERVICE, service.name, ActorType.FULFILLMENT_SERVICE, service_id=service.pk)

    @classmethod
    def system(cls, name: str = "Keelson") -> Actor:
        return cls(Side.SYSTEM, name, ActorType.SYSTEM)


AUTO_REQUEST_ACTOR = Actor.system("automatic fulfillment (F2)")


AMAZON_ACTOR = Actor(Side.SYSTEM, "Amazon", ActorType.AMAZON)


def _now() -> datetime:
    return timezone.now()


def _event(
    order: Order, kind: str, message: str, actor: Actor, data: dict | None = None
) -> OrderEvent:
    return OrderEvent.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=kind,
        message=message,
        actor_type=actor.actor_type,
        actor=actor.name,
        actor_user_id=actor.user_id,
        data=data or {},
    )


def _lock(fulfillment_order: FulfillmentOrder | int) -> tuple[Order, FulfillmentOrder]:
    """Lock the order, then the fulfillment order (always in this order)."""
    fo_id = fulfillment_order if isinstance(fulfillment_order, int) else fulfillment_order.pk
    order_id = FulfillmentOrder.objects.filter(pk=fo_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise FulfillmentOrder.DoesNotExist(
            _("No fulfillment order %(fo_id)s in scope.") % {"fo_id": fo_id}
        )
    order = Order.objects.select_for_update().get(pk=order_id)
    fo = (
        FulfillmentOrder.objects.select_for_update(of=("self",))
        .select_related("service")
        .get(pk=fo_id)
    )
    return order, fo


def _lock_order(order: Order | int) -> Order:
    order_id = order if isinstance(order, int) else order.pk
    return Order.objects.select_for_update().get(pk=order_id)


_ERRORS = {
    workflow.PERMISSION_DENIED: errors.NotYourAction,
    workflow.LEGACY_REQUEST_NOT_CANCELLABLE: errors.LegacyRequestNotCancellable,
    workflow.INVALID_TRANSITION: errors.InvalidTransition,
}


def _decide(fo: FulfillmentOrder, action: Action, actor: Actor, facts: Facts = Facts()):  # noqa: B008
    if actor.side == Side.SERVICE and actor.service_id != fo.service_id:
        raise errors.NotYourAction(_("This fulfillment order is assigned to another service."))
    decision = workflow.decide(
        action, actor.side, fo.workflow, fo.state, facts, service_name=fo.service.name
    )
    if not decision.allowed:
        cls = _ERRORS.get(decision.code or "", errors.InvalidTransition)
        raise cls(decision.reason or _("Not allowed."), code=decision.code)
    return decision


def _apply(fo: FulfillmentOrder, decision: workflow.Decision, **fields) -> None:
    if decision.to is not None:
        fo.status, fo.request_status = decision.to.status, decision.to.request_status
        if decision.to in workflow.TERMINAL_STATES:
            fo.closed_at = _now()
    for name, value in fields.items():
        setattr(fo, name, value)
    fo.save()


def _policy_decision(order: Order, action: policy.Action) -> policy.Decision:
    # Amazon's timelines run on foundation.clock (the emulator's with KEELSON_CLOCK=sandbox).
    return policy.allowed_actions(order_selectors.order_times(order), clock.now())[action]


def _ensure_order_allows(
    order: Order, action: policy.Action, *, request_in_progress_ok: bool = False
) -> None:
    """Pending (A1), AFN (R5), cancelled or shipped (A6) orders: refused with the policy's code
    and reason, as the portal and ``allowed_actions`` show them."""
    decision = _policy_decision(order, action)
    if decision.allowed:
        return
    if request_in_progress_ok and decision.code == policy.FULFILLMENT_REQUEST_IN_PROGRESS:
        return
    cls = errors.BY_CODE.get(decision.code or "", errors.InvalidTransition)
    raise cls(decision.reason or _("This action is not allowed."), code=decision.code)


def _lines_text(pairs: Iterable[tuple[OrderLine, int]]) -> str:
    return ", ".join(f"{line.sku or line.asin or line.external_id} × {qty}" for line, qty in pairs)


def _with(text: str, label: str, extra: str) -> str:
    """``text``, then ``label: extra`` when there is an extra (a note, a reason)."""
    extra = (extra or "").strip()
    if not extra:
        return text
    return N_("%(text)s %(label)s: %(extra)s", text=text, label=label, extra=extra)


def refresh_fulfillment_status(order_ids: Iterable[int]) -> int:
    """Store the orders' fulfillment status, derived from their lines (F7) and whether a
    request is in progress (F3); returns how many changed. Callers hold the orders' locks."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    fulfilled = selectors.fulfilled_quantities(ids)
    active = selectors.orders_with_request_in_progress(ids)
    per_order: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line in OrderLine.objects.filter(order_id__in=ids).only(
        "id", "order_id", "quantity_ordered", "quantity_shipped"
    ):
        per_order[line.order_id].append(
            (line.quantity_ordered, selectors.done_quantity(line, fulfilled))
        )
    changed = []
    for order in Order.objects.filter(pk__in=ids).only("id", "merchant_id", "fulfillment_status"):
        status = workflow.order_fulfillment_status(per_order.get(order.pk, []), order.pk in active)
        if order.fulfillment_status != status:
            order.fulfillment_status = status
            order.updated_at = _now()
            changed.append(order)
    if changed:
        # One UPDATE ... FROM unnest, not bulk_update's CASE WHEN per row (the sync's
        # hook runs this for every order of a page).
        bulk.update(Order, changed, ["fulfillment_status", "updated_at"])
    return len(changed)


def _refresh(order: Order) -> None:
    refresh_fulfillment_status([order.pk])
    order.refresh_from_db(fields=["fulfillment_status", "shipment_confirmation", "updated_at"])


def _callback(order: Order, fo: FulfillmentOrder, kind: str, message: str) -> None:
    """A signed POST to the service (api.md, "Outbound calls to fulfillment services")."""
    if not fo.service.callback_url:
        return  # the service polls the API
    enqueue(
        merchant_id=order.merchant_id,
        kind=CALLBACK_KIND,
        payload={
            "service": fo.service_id,
            "body": {
                "kind": kind,
                "fulfillment_order": fo.pk,
                "merchant": order.merchant_id,
                "message": message,
            },
        },
        # X-Keelson-Delivery: unique per callback, the same on every retry.
        idempotency_key=f"callback-{uuid.uuid4()}",
        order_id=order.pk,
    )


def _fo_lines(fo: FulfillmentOrder) -> list[FulfillmentOrderLine]:
    return list(fo.lines.select_related("order_line").order_by("id"))


def _ensure_service_takes_requests(order: Order, fo: FulfillmentOrder) -> None:
    """F1: a request goes only to an active service that serves the merchant (its key sees
    nothing else, so a request sent elsewhere would be stranded). The service's row is held
    FOR KEY SHARE until commit: requests share it, while deactivating the service (FOR UPDATE,
    ``connections``) waits for them and they for it, so it never misses a request in flight."""
    table = FulfillmentService._meta.db_table
    using = router.db_for_write(FulfillmentService)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT is_active FROM {table} WHERE id = %s FOR KEY SHARE", [fo.service_id]
        )
        row = cursor.fetchone()
    if (
        row
        and row[0]
        and FulfillmentLocation.objects.filter(
            service_id=fo.service_id, merchant_id=order.merchant_id, is_active=True
        ).exists()
    ):
        return
    raise errors.ServiceInactive(
        _(
            "%(service)s no longer takes requests for this merchant (it was deactivated, or "
            "stopped serving it): use “Request fulfillment” on the order to send these items "
            "to the merchant's other services."
        )
        % {"service": fo.service.name}
    )


def _submit(order: Order, fo: FulfillmentOrder, actor: Actor, note: str, auto: bool) -> None:
    # F3/F5: another fulfillment order of the order may be in progress (lines of another
    # service); this one's lines are not.
    _ensure_order_allows(order, policy.Action.REQUEST_FULFILLMENT, request_in_progress_ok=True)
    decision = _decide(fo, Action.SUBMIT, actor)
    _ensure_service_takes_requests(order, fo)
    if not any(line.remaining_quantity for line in _fo_lines(fo)):
        raise errors.InvalidTransition(_("This fulfillment order has nothing left to fulfil."))
    _apply(fo, decision, request_note=note, submitted_at=_now(), auto_requested=auto)
    lines = [(fl.order_line, fl.remaining_quantity) for fl in _fo_lines(fo)]
    text = (
        N_(
            "Fulfillment requested from %(service)s: %(lines_text)s. Requested automatically: "
            "the order is Unshipped and automatic fulfillment is on."
        )
        if auto
        else N_("Fulfillment requested from %(service)s: %(lines_text)s.")
    ).bind(service=fo.service.name, lines_text=_lines_text(lines))
    _event(
        order,
        EventKind.FULFILLMENT_REQUESTED,
        _with(text, N_("Note"), note),
        actor,
        {"fulfillment_order": fo.pk, "service": fo.service_id, "auto": auto, "rule": "F1"},
    )
    _callback(order, fo, "fulfillment_request", note)
    _refresh(order)


def _shipped_any(fo: FulfillmentOrder) -> bool:
    return fo.fulfillments.exists()


def _requested_lines(
    requested: Sequence[tuple[int, int | None]] | None,
    available: dict[int, int],
    what: str,
) -> list[tuple[int, int]]:
    """(line id, quantity) pairs from the request, or everything available when it is None;
    unknown lines are a 400, quantities over what is available a 422."""
    if requested is None:
        pairs = [(pk, qty) for pk, qty in available.items() if qty > 0]
        if not pairs:
            raise errors.OrderNotShippable(
                _("Nothing is left to fulfil on this %(what)s.") % {"what": what}
            )
        return pairs
    if not requested:
        raise errors.InvalidFulfillmentInput(
            _("Give at least one line, or leave `lines` out for all."),
            errors={"lines": [_("Give at least one line, or leave `lines` out for all.")]},
        )
    merged: dict[int, int] = defaultdict(int)
    problems: dict[str, list[str]] = {}
    for i, (line_id, qty) in enumerate(requested):
        if line_id not in available:
            problems[f"lines[{i}].line"] = [
                _("Line %(line_id)s is not a line of this %(what)s.")
                % {"line_id": line_id, "what": what}
            ]
            continue
        merged[line_id] += available[line_id] if qty is None else qty
    if problems:
        raise errors.InvalidFulfillmentInput(next(iter(problems.values()))[0], errors=problems)
    over = {pk: qty for pk, qty in merged.items() if qty > available[pk]}
    if over:
        detail = "; ".join(
            _("line %(line)s: %(asked)s asked, %(left)s left")
            % {"line": pk, "asked": qty, "left": available[pk]}
            for pk, qty in sorted(over.items())
        )
        raise errors.QuantityExceeded(
            _("More than is left to fulfil (%(detail)s).") % {"detail": detail}
        )
    return [(pk, qty) for pk, qty in merged.items() if qty > 0]
