"""A fulfillment service's connection: "Test connection" (a signed test callback, then its
outcome stored as the service's connection state), the outcome of real callbacks, deactivating
and reactivating a service, and a service no longer serving one merchant (its location removed).

Work is never dropped (F1, F3, F8-F10). While a request is with the service, it can neither be
deactivated nor stop serving that merchant (``ServiceHasOpenRequests``): the service could no
longer answer it or report its shipments, so the request must end first (shipped, answered,
cancelled F8/F9, or reverted F10). What was not requested yet is taken off the service and
routed to the merchant's other services, on the order's timeline (``unassign``).

Locks: the orders with unfinished work of the service first (as every fulfillment use case:
the order first), then the service (FOR UPDATE, which waits for requests in flight: they hold
it FOR KEY SHARE, ``base._ensure_service_takes_requests``), then its locations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import callbacks, errors, selectors
from fulfillment.models import (
    ConnectionStatus,
    FulfillmentLocation,
    FulfillmentOrder,
    FulfillmentService,
)
from fulfillment.services.base import Actor
from fulfillment.services.fulfillment_orders import _ensure_fulfillment_orders
from fulfillment.services.setup import issue_service_api_key
from orders.models import Order
from tenants.scope import tenant_context
from tenants.services import revoke_api_key

# How many order numbers a refusal names before "and N more".
NAMED_ORDERS = 5


@dataclass(frozen=True)
class ConnectionCheck:
    """What "Test connection" found. ``ok`` is None when there was nothing to test."""

    ok: bool | None
    message: str
    code: str = ""


@dataclass
class Withdrawal:
    """What deactivating a service (or removing a location) did with its unfinished work."""

    service: FulfillmentService
    moved: list[str] = field(default_factory=list)  # orders now with another service
    waiting: list[str] = field(default_factory=list)  # orders no other service takes
    defaults_cleared: list[str] = field(default_factory=list)  # merchants without a default now
    changed: bool = True


# --- testing and recording the connection ----------------------------------------------------


def send_test_callback(service: FulfillmentService, *, require_https: bool) -> ConnectionCheck:
    """Send a signed test callback to the service's callback URL now (signed like the real
    ones; no transaction is open while it waits), then store what happened as its connection
    state. Call it outside a transaction."""
    service = FulfillmentService.objects.get(pk=service.pk)
    name = service.name
    if not service.is_active:
        return ConnectionCheck(
            None, _("%(name)s is deactivated: reactivate it to test it.") % {"name": name}
        )
    url = service.callback_url
    if not url:
        return ConnectionCheck(
            None,
            _(
                "%(name)s has no callback URL: it polls the API for its work, so there is no "
                "callback to test."
            )
            % {"name": name},
        )
    check = _send_test(service, url, require_https=require_https)
    record_connection(service.pk, ok=bool(check.ok), error=check.message, tested_url=url)
    return check


def _send_test(service: FulfillmentService, url: str, *, require_https: bool) -> ConnectionCheck:
    problem = callbacks.callback_url_problem(url, require_https=require_https)
    if problem:
        return ConnectionCheck(False, problem, "not_https")
    body = {
        "kind": callbacks.TEST_KIND,
        "fulfillment_order": None,
        "merchant": service.merchant_id,
        "message": _(
            "A test from Keelson: verify the signature and answer 2xx. There is nothing to do."
        ),
    }
    try:
        # No redirects: a real callback's POST would not survive one either.
        response = callbacks.post_signed(
            url, service.signing_secret, body, f"test-{uuid.uuid4()}", allow_redirects=False
        )
    except requests.RequestException as exc:
        code, text = callbacks.network_problem(exc, url, callbacks.CALLBACK_TIMEOUT)
        return ConnectionCheck(False, text, code)
    if 200 <= response.status_code < 300:
        return ConnectionCheck(
            True,
            _("Connected: %(url)s answered HTTP %(status)s to a signed test callback.")
            % {"url": url, "status": response.status_code},
        )
    return ConnectionCheck(False, callbacks.http_problem(response), f"http_{response.status_code}")


def record_connection(
    service_id: int, *, ok: bool, error: str = "", tested_url: str | None = None
) -> bool:
    """Store a test's or a real callback's outcome as the service's connection state: connected,
    or failing with the error and the time. A deactivated service stays disconnected, and a
    test of a URL changed meanwhile is not about the service any more. Returns whether stored."""
    rows = FulfillmentService.objects.filter(pk=service_id, is_active=True)
    if tested_url is not None:
        rows = rows.filter(callback_url=tested_url)
    # A plain UPDATE (no FOR UPDATE): real callbacks record their outcome concurrently.
    return bool(
        rows.update(
            connection_status=ConnectionStatus.CONNECTED if ok else ConnectionStatus.FAILING,
            connection_error="" if ok else error[:2000],
            connection_checked_at=timezone.now(),
        )
    )


# --- deactivating, reactivating, removing a location -----------------------------------------


def _lock_orders_with_unfinished_work(
    service: FulfillmentService, merchant_ids: Iterable[int]
) -> list[Order]:
    order_ids = (
        FulfillmentOrder.objects.filter(
            selectors.state_q(selectors.NOT_TERMINAL_STATES),
            service=service,
            merchant_id__in=list(merchant_ids),
        )
        .values_list("order_id", flat=True)
        .distinct()
    )
    return list(Order.objects.filter(pk__in=list(order_ids)).select_for_update().order_by("pk"))


def _refuse_open_requests(
    service: FulfillmentService, merchant_ids: Iterable[int], *, doing: str
) -> None:
    numbers = list(
        Order.objects.filter(
            fulfillment_orders__in=FulfillmentOrder.objects.filter(
                selectors.ACTIVE_REQUEST_Q, service=service, merchant_id__in=list(merchant_ids)
            )
        )
        .order_by("external_id")
        .values_list("external_id", flat=True)
        .distinct()
    )
    if not numbers:
        return
    named = ", ".join(numbers[:NAMED_ORDERS])
    if len(numbers) > NAMED_ORDERS:
        named += " " + _("and %(count)s more") % {"count": len(numbers) - NAMED_ORDERS}
    raise errors.ServiceHasOpenRequests(
        _(
            "%(name)s still has fulfillment requests in progress (orders %(orders)s): "
            "%(doing)s now would strand them, as it could no longer answer them or report "
            "their shipments. Wait until they are shipped, or cancel them on the order page "
            "(F8, F9); a legacy request cannot be cancelled from Keelson (F4): ask the service, "
            "then revert the order to unfulfilled (F10). Then try again."
        )
        % {"name": service.name, "orders": named, "doing": doing}
    )


def _reroute(orders: list[Order], actor: Actor, withdrawal: Withdrawal) -> None:
    for order in orders:
        made = _ensure_fulfillment_orders(order, actor)
        (withdrawal.moved if made else withdrawal.waiting).append(order.external_id)


@transaction.atomic
def deactivate_fulfillment_service(service: FulfillmentService, *, actor: Actor) -> Withdrawal:
    """No more requests go to the service and its API key is revoked; refused while requests
    are with it. What it was not asked for yet goes to the merchants' other services, and a
    merchant whose default it was has no default until one is chosen. Idempotent."""
    merchant_ids = set(
        FulfillmentLocation.objects.filter(service=service).values_list("merchant_id", flat=True)
    )
    with tenant_context(merchant_ids):
        orders = _lock_orders_with_unfinished_work(service, merchant_ids)
        locked = FulfillmentService.objects.select_for_update().get(pk=service.pk)
        if not locked.is_active:
            return Withdrawal(locked, changed=False)
        _refuse_open_requests(locked, merchant_ids, doing=_("deactivating it"))
        withdrawal = Withdrawal(locked)
        defaults = list(
            FulfillmentLocation.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .filter(service=locked, is_default=True)
        )
        withdrawal.defaults_cleared = sorted(loc.merchant.name for loc in defaults)
        FulfillmentLocation.objects.filter(pk__in=[loc.pk for loc in defaults]).update(
            is_default=False
        )
        locked.is_active = False
        locked.connection_status = ConnectionStatus.DISCONNECTED
        locked.connection_error = ""
        locked.connection_checked_at = timezone.now()
        locked.save(
            update_fields=[
                "is_active",
                "connection_status",
                "connection_error",
                "connection_checked_at",
            ]
        )
        if locked.api_key_id is not None:
            revoke_api_key(api_key=locked.api_key)
        _reroute(orders, actor, withdrawal)
    return withdrawal


@transaction.atomic
def reactivate_fulfillment_service(service: FulfillmentService) -> str:
    """Requests may go to it again, with a new API key (its old one was revoked): returns the
    raw key, shown once. It is nobody's default until chosen again; untested until tested."""
    locked = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    if not locked.is_active:
        locked.is_active = True
        locked.connection_status = ConnectionStatus.NOT_TESTED
        locked.connection_error = ""
        locked.connection_checked_at = None
        locked.save(
            update_fields=[
                "is_active",
                "connection_status",
                "connection_error",
                "connection_checked_at",
            ]
        )
    return issue_service_api_key(service=locked)


@transaction.atomic
def remove_location(location: FulfillmentLocation, *, actor: Actor) -> Withdrawal:
    """The service no longer serves this merchant (its key no longer sees it); refused while
    requests of this merchant are with it. What it was not asked for yet goes to the merchant's
    other services. The location stays, inactive, for the record; adding it again revives it."""
    merchant_ids = {location.merchant_id}
    with tenant_context(merchant_ids):
        orders = _lock_orders_with_unfinished_work(location.service, merchant_ids)
        service = FulfillmentService.objects.select_for_update().get(pk=location.service_id)
        locked = (
            FulfillmentLocation.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .get(pk=location.pk)
        )
        withdrawal = Withdrawal(service)
        if not locked.is_active:
            withdrawal.changed = False
            return withdrawal
        _refuse_open_requests(
            service,
            merchant_ids,
            doing=_("no longer serving %(merchant)s") % {"merchant": locked.merchant.name},
        )
        if locked.is_default:
            withdrawal.defaults_cleared = [locked.merchant.name]
        locked.is_active = False
        locked.is_default = False
        locked.save(update_fields=["is_active", "is_default"])
        _reroute(orders, actor, withdrawal)
    return withdrawal
