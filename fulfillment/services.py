"""Write use cases of the fulfillment app (rules F1-F12, R3, R4, R5, A1, A5-A7).

Each public function is one use case: one transaction, the order and the fulfillment order
locked (``select_for_update``, always the order first), the transition decided by
``fulfillment/workflow.py`` and the order's state by ``orders/policy.py`` (the same decisions
the portal and the API show), a timeline event for everything that happens (F12), and outbox
messages for every external effect: signed callbacks to the service (requests and cancellation
requests) and shipment confirmations to Amazon (R3). Domain errors carry api.md's codes.

Who acts is an ``Actor``: the merchant's side (a portal user, a merchant or agency key), the
fulfillment service (its own key), or Keelson itself (the automatic request of F2).
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from foundation import clock
from fulfillment import errors, selectors, workflow
from fulfillment.models import (
    AmazonConfirmation,
    Fulfillment,
    FulfillmentLine,
    FulfillmentLocation,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentService,
)
from fulfillment.workflow import Action, Facts, Side
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.services import enqueue, retry_message
from orders import bulk, policy
from orders import selectors as order_selectors
from orders.models import (
    ActorType,
    AmazonOrderStatus,
    Channel,
    EventKind,
    FulfillmentChannel,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentConfirmation,
)
from orders.services import recompute_deadlines
from tenants.models import (
    API_KEY_PREFIX_LENGTH,
    Agency,
    ApiKey,
    ApiKeyOwner,
    ApiScope,
    Merchant,
    hash_api_key,
)

CALLBACK_KIND = "fulfillment.callback"
AMAZON_CONFIRM_KIND = "amazon.confirm_shipment"
SERVICE_KEY_SCOPES = (ApiScope.FULFILLMENTS_READ, ApiScope.FULFILLMENTS_WRITE)
INVENTORY_REMINDER = (
    "Check your inventory: the items are no longer with the fulfillment service's request, "
    "and its stock may differ from what Keelson shows."
)
R4_NOTE = "No customer notification was sent: Amazon notifies its buyers itself (R4)."


# --- who acts --------------------------------------------------------------------------------


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


# --- setting up services ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceCredentials:
    """Shown once: the service's API key and its signing secret."""

    service: FulfillmentService
    api_key: str | None
    signing_secret: str


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_fulfillment_service(
    *,
    name: str,
    workflow: str = workflow.Workflow.FULFILLMENT_ORDER,
    merchant: Merchant | None = None,
    agency: Agency | None = None,
    callback_url: str = "",
    issue_api_key: bool = True,
    signing_secret: str | None = None,
) -> ServiceCredentials:
    """A service owned by a merchant (which it then serves, as its default location) or by an
    agency (it serves the merchants given a location with ``add_location``)."""
    if (merchant is None) == (agency is None):
        raise errors.InvalidFulfillmentInput(
            "A fulfillment service belongs to exactly one merchant or one agency."
        )
    secret = signing_secret or new_signing_secret()
    service = FulfillmentService.objects.create(
        name=name,
        workflow=workflow,
        merchant=merchant,
        agency=agency,
        callback_url=callback_url,
        signing_secret=secret,
    )
    if merchant is not None:
        add_location(service=service, merchant=merchant, is_default=True)
    raw = issue_service_api_key(service=service) if issue_api_key else None
    service.refresh_from_db()
    return ServiceCredentials(service, raw, secret)


@transaction.atomic
def issue_service_api_key(*, service: FulfillmentService, name: str = "") -> str:
    """Issue the service's API key (fulfillments:read/write only), revoking its previous one.
    Returns the raw key, shown once. The key is owned by the service; it carries the service's
    owner (merchant or agency) for listing, and sees only the merchants the service serves."""
    service = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    if service.api_key_id is not None:
        ApiKey.objects.filter(pk=service.api_key_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    raw = ApiKey.generate_raw_key()

    key = ApiKey.objects.create(
        name=name or f"{service.name} (fulfillment service)",
        owner_type=ApiKeyOwner.FULFILLMENT_SERVICE,
        agency_id=service.agency_id,
        merchant_id=service.merchant_id,
        prefix=raw[:API_KEY_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        scopes=sorted(SERVICE_KEY_SCOPES),
    )
    service.api_key = key
    service.save(update_fields=["api_key"])
    return raw


@transaction.atomic
def add_location(
    *,
    service: FulfillmentService,
    merchant: Merchant,
    is_default: bool = False,
    skus: Sequence[str] = (),
    name: str = "",
) -> FulfillmentLocation:
    """Let ``service`` fulfil ``merchant``'s lines: the given SKUs, and (as the merchant's
    default) every line no other location is assigned. An agency's service serves only its
    agency's merchants."""
    if service.merchant_id is not None and service.merchant_id != merchant.pk:
        raise errors.InvalidFulfillmentInput("This service belongs to another merchant.")
    if service.agency_id is not None and service.agency_id != merchant.agency_id:
        raise errors.InvalidFulfillmentInput("This service belongs to another agency.")
    if is_default:
        FulfillmentLocation.objects.filter(merchant=merchant, is_default=True).exclude(
            service=service
        ).update(is_default=False)
    location, _ = FulfillmentLocation.objects.update_or_create(
        service=service,
        merchant=merchant,
        defaults={
            "is_default": is_default,
            "skus": sorted(set(skus)),
            "name": name or service.name,
            "is_active": True,
        },
    )
    return location


# --- small helpers ---------------------------------------------------------------------------


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
        raise FulfillmentOrder.DoesNotExist(f"No fulfillment order {fo_id} in scope.")
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
        raise errors.NotYourAction("This fulfillment order is assigned to another service.")
    decision = workflow.decide(
        action, actor.side, fo.workflow, fo.state, facts, service_name=fo.service.name
    )
    if not decision.allowed:
        cls = _ERRORS.get(decision.code or "", errors.InvalidTransition)
        raise cls(decision.reason or "Not allowed.", code=decision.code)
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
    raise cls(decision.reason or "This action is not allowed.", code=decision.code)


def _lines_text(pairs: Iterable[tuple[OrderLine, int]]) -> str:
    return ", ".join(f"{line.sku or line.asin or line.external_id} × {qty}" for line, qty in pairs)


def _with(text: str, label: str, extra: str) -> str:
    extra = (extra or "").strip()
    return f"{text} {label}: {extra}" if extra else text


# --- fulfillment status of the order (F7) ----------------------------------------------------


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
        # One UPDATE ... FROM a staging table, not bulk_update's CASE WHEN per row (the sync's
        # hook runs this for every order of a page).
        bulk.update(Order, changed, ["fulfillment_status", "updated_at"])
    return len(changed)


def _refresh(order: Order) -> None:
    refresh_fulfillment_status([order.pk])
    order.refresh_from_db(fields=["fulfillment_status", "shipment_confirmation", "updated_at"])


# --- fulfillment orders: making them, and the sync hook ---------------------------------------


def _fulfillable_order(order: Order) -> bool:
    if order.channel == Channel.AMAZON and order.fulfillment_channel == FulfillmentChannel.AFN:
        return False  # R5: Amazon fulfils it
    return order.status not in policy.CLOSED_STATUSES


def _ensure_fulfillment_orders(order: Order) -> list[FulfillmentOrder]:
    """Put every quantity of the (locked) order that is neither fulfilled nor in an unfinished
    fulfillment order into a new unsubmitted one, per service location (explicit SKU
    assignment first, then the merchant's default). On hold while Amazon holds the order (A1)."""
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


def sync_fulfillment_orders(order_ids: Iterable[int]) -> SyncReport:
    """After Amazon's orders were upserted (``orders.services.after_amazon_upsert``, in the
    sync's transaction and scope): the fulfillment status follows what Amazon reports shipped;
    orders of merchants with a fulfillment service get their fulfillment orders (on hold while
    Pending, A1; released once Unshipped; voided when Amazon cancels before a request), and
    with automatic fulfillment on, a new Unshipped order is requested at once (F2)."""
    report = SyncReport()
    ids = sorted(set(order_ids))
    if not ids:
        return report
    merchant_ids = set(
        Order.objects.filter(pk__in=ids).values_list("merchant_id", flat=True).distinct()
    )
    served = selectors.merchant_ids_with_locations(merchant_ids)
    with_fos = set(
        FulfillmentOrder.objects.filter(order_id__in=ids)
        .values_list("order_id", flat=True)
        .distinct()
    )
    candidates = list(
        Order.objects.filter(pk__in=ids, merchant_id__in=served).values_list("id", flat=True)
    )
    candidates = sorted(set(candidates) | with_fos)
    merchants = Merchant.objects.in_bulk(merchant_ids)
    with transaction.atomic():
        for order in Order.objects.filter(pk__in=candidates).select_for_update().order_by("pk"):
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
            elif fo.is_active_request and not _warned_cancelled(order, fo):
                _event(
                    order,
                    EventKind.NOTE,
                    f"Amazon reports this order {order.status} while {fo.service.name} has its "
                    "fulfillment request: ask the service to stop, then revert the order to "
                    "unfulfilled (F10).",
                    Actor.system(),
                    {"fulfillment_order": fo.pk, "warning": "order_closed_with_request"},
                )
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


def _warned_cancelled(order: Order, fo: FulfillmentOrder) -> bool:
    return OrderEvent.objects.filter(
        order=order, data__fulfillment_order=fo.pk, data__warning="order_closed_with_request"
    ).exists()


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


# --- the request (F1, F2, F5) ----------------------------------------------------------------


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


def _submit(order: Order, fo: FulfillmentOrder, actor: Actor, note: str, auto: bool) -> None:
    # F3/F5: another fulfillment order of the order may be in progress (lines of another
    # service); this one's lines are not.
    _ensure_order_allows(order, policy.Action.REQUEST_FULFILLMENT, request_in_progress_ok=True)
    decision = _decide(fo, Action.SUBMIT, actor)
    if not any(line.remaining_quantity for line in _fo_lines(fo)):
        raise errors.InvalidTransition("This fulfillment order has nothing left to fulfil.")
    _apply(fo, decision, request_note=note, submitted_at=_now(), auto_requested=auto)
    lines = [(fl.order_line, fl.remaining_quantity) for fl in _fo_lines(fo)]
    text = f"Fulfillment requested from {fo.service.name}: {_lines_text(lines)}."
    if auto:
        text += " Requested automatically: the order is Unshipped and automatic fulfillment is on."
    _event(
        order,
        EventKind.FULFILLMENT_REQUESTED,
        _with(text, "Note", note),
        actor,
        {"fulfillment_order": fo.pk, "service": fo.service_id, "auto": auto, "rule": "F1"},
    )
    _callback(order, fo, "fulfillment_request", note)
    _refresh(order)


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
                "No fulfillment service is set up for this merchant: add one, or fulfil the "
                "order yourself."
            )
        raise errors.InvalidTransition(
            "Nothing is left to request: every item is fulfilled or already requested."
        )
    for fo in ready:
        _submit(order, fo, actor, note, auto=False)
    return ready


# --- the service's answer (F6) ---------------------------------------------------------------


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
        _with(f"{fo.service.name} accepted the fulfillment request.", "Message", message),
        actor,
        {"fulfillment_order": fo.pk, "rule": "F6"},
    )
    _refresh(order)
    return fo


@transaction.atomic
def reject_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, message: str = ""
) -> FulfillmentOrder:
    """F6: the order returns to unfulfilled; its lines go to a new, unsubmitted FO."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.REJECT, actor)
    _apply(fo, decision, response_message=message)
    text = f"{fo.service.name} rejected the fulfillment request."
    _event(
        order,
        EventKind.FULFILLMENT_REJECTED,
        _with(text, "Reason", message) + " The order is unfulfilled again.",
        actor,
        {"fulfillment_order": fo.pk, "rule": "F6", "message": message},
    )
    _ensure_fulfillment_orders(order)
    _refresh(order)
    return fo


# --- cancelling (F4, F8, F9) -----------------------------------------------------------------


@transaction.atomic
def cancel_request(
    fulfillment_order: FulfillmentOrder | int, *, actor: Actor, note: str = ""
) -> FulfillmentOrder:
    """F8: a request not yet accepted is withdrawn at once; F9: for an accepted one, the
    service is asked to cancel (the note goes to the service, never to the buyer); F4: a
    legacy service's request cannot be cancelled from here."""
    order, fo = _lock(fulfillment_order)
    decision = _decide(fo, Action.CANCEL, actor)
    if decision.rule == "F8":
        _apply(fo, decision, cancellation_note=note)
        _event(
            order,
            EventKind.CANCELLATION_ACCEPTED,
            _with(
                f"Fulfillment request to {fo.service.name} cancelled before it was accepted; "
                "the order is unfulfilled again.",
                "Note",
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
        _ensure_fulfillment_orders(order)
    else:
        _apply(fo, decision, cancellation_note=note, cancellation_response="")
        _event(
            order,
            EventKind.CANCELLATION_REQUESTED,
            _with(
                f"Asked {fo.service.name} to cancel the fulfillment.", "Note to the service", note
            ),
            actor,
            {"fulfillment_order": fo.pk, "rule": "F9"},
        )
        _callback(order, fo, "cancellation_request", note)
    _refresh(order)
    return fo


def _shipped_any(fo: FulfillmentOrder) -> bool:
    return fo.fulfillments.exists()


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
        _with(f"{fo.service.name} accepted the cancellation.", "Message", message)
        + " What it had not shipped is unfulfilled again.",
        actor,
        {"fulfillment_order": fo.pk, "rule": "F9"},
    )
    _ensure_fulfillment_orders(order)
    _refresh(order)
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
        _with(f"{fo.service.name} rejected the cancellation.", "Reason", message)
        + " Fulfillment continues.",
        actor,
        {"fulfillment_order": fo.pk, "rule": "F9", "message": message},
    )
    _refresh(order)
    return fo


# --- shipments (F7, F11, R3, R4) -------------------------------------------------------------

# Amazon's carrier codes for the carriers people type most; anything else is "Other" with the
# name (Amazon requires carrierName then).
AMAZON_CARRIER_CODES = {
    c.lower(): c
    for c in (
        "UPS",
        "USPS",
        "FedEx",
        "DHL",
        "DHL eCommerce",
        "OnTrac",
        "Amazon Shipping",
        "Royal Mail",
        "Parcelforce",
        "DPD",
        "Hermes",
        "Evri",
        "GLS",
        "Canada Post",
        "Japan Post",
        "Yamato Transport",
        "Deutsche Post",
        "La Poste",
        "Australia Post",
    )
}


def amazon_carrier(carrier: str) -> tuple[str, str]:
    """(carrierCode, carrierName) for confirmShipment."""
    code = AMAZON_CARRIER_CODES.get(carrier.strip().lower())
    return (code, "") if code else ("Other", carrier.strip())


@dataclass(frozen=True)
class ShipmentInput:
    tracking_number: str = ""
    carrier: str = ""
    ship_date: datetime | None = None
    notify_customer: bool = False


def _needs_amazon_confirmation(order: Order) -> bool:
    return order.channel == Channel.AMAZON and order.fulfillment_channel != FulfillmentChannel.AFN


def _validate_shipment(order: Order, shipment: ShipmentInput) -> datetime:
    # The ship date is a business date on Amazon's calendar (R3: the same date on Amazon), so
    # it is on the product's clock, like the deadlines it meets (A8).
    today = clock.now()
    ship_date = (shipment.ship_date or today).replace(microsecond=0)
    problems: dict[str, list[str]] = {}
    if ship_date < order.purchase_date.replace(microsecond=0):
        problems["ship_date"] = ["The ship date is before the order date."]
    elif ship_date > today + timedelta(days=1):
        problems["ship_date"] = ["The ship date is more than a day ahead."]
    if _needs_amazon_confirmation(order):
        # Amazon's confirmShipment requires both (R3: every Amazon shipment is confirmed).
        if not shipment.tracking_number.strip():
            problems["tracking_number"] = [
                "Amazon requires a tracking number to confirm the shipment (R3)."
            ]
        if not shipment.carrier.strip():
            problems["carrier"] = ["Amazon requires the carrier to confirm the shipment (R3)."]
    if problems:
        first = next(iter(problems.values()))[0]
        raise errors.InvalidFulfillmentInput(first, errors=problems)
    return ship_date


def _record_fulfillment(
    order: Order,
    pairs: list[tuple[OrderLine, int, FulfillmentOrderLine | None]],
    shipment: ShipmentInput,
    ship_date: datetime,
    actor: Actor,
    fo: FulfillmentOrder | None,
) -> Fulfillment:
    amazon = _needs_amazon_confirmation(order)
    fulfillment = Fulfillment.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        fulfillment_order=fo,
        service_id=fo.service_id if fo else None,
        tracking_number=shipment.tracking_number.strip(),
        carrier=shipment.carrier.strip(),
        ship_date=ship_date,
        notify_customer=shipment.notify_customer,
        customer_notified=False,
        amazon_confirmation=AmazonConfirmation.PENDING if amazon else "not_required",
        created_by=actor.name,
    )
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(
                merchant_id=order.merchant_id,
                fulfillment=fulfillment,
                order_line=line,
                fulfillment_order_line=fo_line,
                quantity=qty,
            )
            for line, qty, fo_line in pairs
        ]
    )
    who = fo.service.name if fo else actor.name
    text = f"{who} fulfilled {_lines_text((line, qty) for line, qty, _ in pairs)}"
    if fulfillment.tracking_number:
        text += f", {fulfillment.carrier or 'carrier not given'} {fulfillment.tracking_number}"
    text += f", shipped {ship_date:%Y-%m-%d %H:%M} UTC."
    data = {
        "fulfillment": fulfillment.pk,
        "fulfillment_order": fo.pk if fo else None,
        "lines": [{"line": line.pk, "quantity": qty} for line, qty, _ in pairs],
        "tracking_number": fulfillment.tracking_number,
        "carrier": fulfillment.carrier,
        "ship_date": ship_date.isoformat(),
        "rule": "F7" if fo else "F11",
    }
    if order.channel == Channel.AMAZON:
        # R4: never a message to an Amazon buyer, whatever was asked.
        text += " " + R4_NOTE
        data["customer_notification"] = (
            "suppressed (R4)" if shipment.notify_customer else "not requested"
        )
    _event(order, EventKind.FULFILLED, text, actor, data)
    if amazon:
        _enqueue_amazon_confirmation(order, fulfillment, pairs)
    return fulfillment


def _enqueue_amazon_confirmation(
    order: Order,
    fulfillment: Fulfillment,
    pairs: Sequence[tuple[OrderLine, int, FulfillmentOrderLine | None]],
) -> None:
    """R3: confirm this package on Amazon with the same ship date, carrier and tracking."""
    if order.amazon_account_id is None:
        fulfillment.amazon_confirmation = AmazonConfirmation.FAILED
        fulfillment.amazon_error = "No Amazon account is linked to this order."
        fulfillment.save(update_fields=["amazon_confirmation", "amazon_error"])
        _event(
            order,
            EventKind.OUTBOX,
            "Shipment not confirmed on Amazon: no Amazon account is linked to this order.",
            Actor.system(),
            {"fulfillment": fulfillment.pk, "outcome": "failed"},
        )
        return
    code, name = amazon_carrier(fulfillment.carrier)
    items: dict[str, int] = defaultdict(int)
    for line, qty, _ in pairs:
        items[line.external_id] += qty
    enqueue(
        merchant_id=order.merchant_id,
        kind=AMAZON_CONFIRM_KIND,
        payload={
            "fulfillment": fulfillment.pk,
            "account": order.amazon_account_id,
            "amazon_order_id": order.external_id,
            "marketplace_id": order.marketplace_id,
            "package_reference_id": fulfillment.package_reference,
            "carrier_code": code,
            "carrier_name": name,
            "tracking_number": fulfillment.tracking_number,
            "ship_date": fulfillment.ship_date.isoformat(),
            "items": sorted(items.items()),
        },
        idempotency_key=amazon_confirmation_key(fulfillment.pk),
        order_id=order.pk,
    )
    if order.shipment_confirmation == ShipmentConfirmation.NONE:
        order.shipment_confirmation = ShipmentConfirmation.SENT
        order.save(update_fields=["shipment_confirmation", "updated_at"])


def amazon_confirmation_key(fulfillment_id: int) -> str:
    return f"amazon-confirm-shipment-{fulfillment_id}"


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
            raise errors.OrderNotShippable(f"Nothing is left to fulfil on this {what}.")
        return pairs
    if not requested:
        raise errors.InvalidFulfillmentInput(
            "Give at least one line, or leave `lines` out for all.",
            errors={"lines": ["Give at least one line, or leave `lines` out for all."]},
        )
    merged: dict[int, int] = defaultdict(int)
    problems: dict[str, list[str]] = {}
    for i, (line_id, qty) in enumerate(requested):
        if line_id not in available:
            problems[f"lines[{i}].line"] = [f"Line {line_id} is not a line of this {what}."]
            continue
        merged[line_id] += available[line_id] if qty is None else qty
    if problems:
        raise errors.InvalidFulfillmentInput(next(iter(problems.values()))[0], errors=problems)
    over = {pk: qty for pk, qty in merged.items() if qty > available[pk]}
    if over:
        detail = "; ".join(
            f"line {pk}: {qty} asked, {available[pk]} left" for pk, qty in sorted(over.items())
        )
        raise errors.QuantityExceeded(f"More than is left to fulfil ({detail}).")
    return [(pk, qty) for pk, qty in merged.items() if qty > 0]


@transaction.atomic
def report_shipment(
    fulfillment_order: FulfillmentOrder | int,
    *,
    actor: Actor,
    lines: Sequence[tuple[int, int | None]] | None = None,
    shipment: ShipmentInput = ShipmentInput(),
) -> Fulfillment:
    """F7: the service shipped a package: some or all of the fulfillment order's remaining
    lines (``lines`` are fulfillment-order line ids; all remaining when None). The order is
    fulfilled when every line is; the package is confirmed on Amazon (R3)."""
    order, fo = _lock(fulfillment_order)
    fo_lines = {fl.pk: fl for fl in _fo_lines(fo)}
    fulfilled = selectors.fulfilled_quantities([order.pk])
    available = {
        pk: min(fl.remaining_quantity, selectors.unfulfilled_quantity(fl.order_line, fulfilled))
        for pk, fl in fo_lines.items()
    }
    # Who may report, and in which state, before the body (403, then 409).
    _decide(fo, Action.REPORT_SHIPMENT, actor, Facts(shipped=_shipped_any(fo)))
    _ensure_order_allows(order, policy.Action.FULFIL, request_in_progress_ok=True)
    wanted = _requested_lines(lines, available, "fulfillment order")
    ship_date = _validate_shipment(order, shipment)
    for pk, qty in wanted:
        fo_lines[pk].remaining_quantity -= qty
        fo_lines[pk].save(update_fields=["remaining_quantity"])
    remains = any(fl.remaining_quantity > 0 for fl in fo_lines.values())
    decision = _decide(fo, Action.REPORT_SHIPMENT, actor, Facts(shipped=True, remains=remains))
    _apply(fo, decision)
    pairs = [(fo_lines[pk].order_line, qty, fo_lines[pk]) for pk, qty in wanted]
    fulfillment = _record_fulfillment(order, pairs, shipment, ship_date, actor, fo)
    _refresh(order)
    return fulfillment


@transaction.atomic
def fulfil_order(
    order: Order | int,
    *,
    actor: Actor,
    lines: Sequence[tuple[int, int | None]] | None = None,
    shipment: ShipmentInput = ShipmentInput(),
) -> Fulfillment:
    """The merchant fulfils (or marks fulfilled, F11) some or all of an order's lines
    (``lines`` are order line ids; all unfulfilled when None), with optional tracking and an
    optional customer notification (never sent for Amazon orders: R4). Refused while a
    fulfillment request is in progress: cancel it first (F11). Confirmed on Amazon (R3)."""
    if actor.side == Side.SERVICE:
        raise errors.NotYourAction(
            "Fulfillment services report shipments on their fulfillment orders: POST "
            "/fulfillment-orders/{id}/fulfillments/."
        )
    order = _lock_order(order)
    _ensure_order_allows(order, policy.Action.MARK_FULFILLED)
    if selectors.has_fulfillment_request_in_progress(order):  # F11, whatever the stored status
        raise errors.FulfillmentRequestInProgress(
            "A fulfillment request is in progress: cancel it first (F11)."
        )
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order)}
    fulfilled = selectors.fulfilled_quantities([order.pk])
    available = {
        pk: selectors.unfulfilled_quantity(line, fulfilled) for pk, line in order_lines.items()
    }
    wanted = _requested_lines(lines, available, "order")
    ship_date = _validate_shipment(order, shipment)
    pairs = [(order_lines[pk], qty, None) for pk, qty in wanted]
    fulfillment = _record_fulfillment(order, pairs, shipment, ship_date, actor, None)
    _trim_unrequested(order, actor)
    _refresh(order)
    return fulfillment


# --- revert (F10) and notes (F12) ------------------------------------------------------------


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
        lines, {pk: fl.remaining_quantity for pk, fl in fo_lines.items()}, "fulfillment order"
    )
    for pk, qty in wanted:
        fo_lines[pk].remaining_quantity -= qty
        fo_lines[pk].save(update_fields=["remaining_quantity"])
    remains = any(fl.remaining_quantity > 0 for fl in fo_lines.values())
    decision = _decide(fo, Action.REVERT, actor, Facts(shipped=_shipped_any(fo), remains=remains))
    _apply(fo, decision)
    pairs = [(fo_lines[pk].order_line, qty) for pk, qty in wanted]
    scope = "The order" if not remains else "Some items"
    text = (
        f"{scope} reverted to unfulfilled ({_lines_text(pairs)}), taken back from "
        f"{fo.service.name}'s request. {INVENTORY_REMINDER}"
    )
    _event(
        order,
        EventKind.REVERTED,
        _with(text, "Note", note),
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
        raise errors.NotYourAction("This fulfillment order is assigned to another service.")
    message = (message or "").strip()
    if not message:
        raise errors.InvalidFulfillmentInput(
            "A note needs a message.", errors={"message": ["This field may not be blank."]}
        )
    who = f"{fo.service.name}" if actor.side == Side.SERVICE else actor.name
    return _event(
        order,
        EventKind.NOTE,
        f"Note from {who} (fulfillment order #{fo.pk}): {message}",
        actor,
        {"fulfillment_order": fo.pk, "side": str(actor.side)},
    )


# --- Amazon shipment confirmations (R3, A7) --------------------------------------------------


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
            "Not a seller-fulfilled Amazon order: nothing to confirm on Amazon (R5)."
            if order.channel == Channel.AMAZON
            else "Only Amazon orders are confirmed to Amazon."
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
            "Shipment confirmation sent to Amazon again (bulk confirmation, A7).",
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
                "Not fulfilled yet: give a tracking number and carrier to fulfil and confirm it."
            )
        fulfil_order(order, actor=actor, shipment=shipment)
        result.queued += 1
    elif not failed:
        result.already += 1
