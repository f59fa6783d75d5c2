"""The portal's dashboard: order cards and, per merchant in scope, its connections.

The order cards are the places later issues fill (rules A3, A9, B1, A1): each card has a
``counter`` that returns the number for the current scope, or ``None`` while nothing computes
it; a card without a number shows its empty state, never a made-up value. The portal sits on
top of the apps that own the rules, so it assembles the dashboard from their pieces
(``assemble``, called once from ``PortalConfig.ready``): the apps do not know the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from integrations.shopify.health import store_mirror_health
from orders import dashboard as orders_dashboard
from refunds import dashboard as refunds_dashboard
from tenants.models import AccountStatus
from tenants.selectors import active_api_key_counts, amazon_accounts_by_merchant, merchants_by_ids

Counter = Callable[[HttpRequest], int | None]

NO_ORDERS_YET = _("No orders synced yet")


@dataclass
class OrderCard:
    key: str
    title: str
    description: str
    icon: str
    counter: Counter | None = None
    link: Callable[[HttpRequest], str | None] | None = field(default=None, repr=False)


ORDER_CARDS: list[OrderCard] = [
    OrderCard("unshipped", _("Unshipped"), _("Ship or cancel these (rule A4)."), "local_shipping"),
    OrderCard(
        "at_risk", _("At risk"), _("Confirmation deadline within days (rule A9)."), "warning"
    ),
    OrderCard(
        "late",
        _("Late"),
        _("Not shipped by the ship-by date: hurts the late-shipment rate."),
        "schedule",
    ),
    OrderCard(
        "buyer_cancel", _("Buyer-cancel requests"), _("Buyers asked to cancel (rule B1)."), "block"
    ),
    OrderCard(
        "pending", _("Pending"), _("Amazon is still verifying these (rule A1)."), "hourglass"
    ),
]


def register_counter(
    key: str, counter: Counter, link: Callable[[HttpRequest], str | None] | None = None
) -> None:
    """Give a dashboard card its number (and optionally the list it links to)."""
    for card in ORDER_CARDS:
        if card.key == key:
            card.counter = counter
            card.link = link
            return
    raise KeyError(f"no dashboard card {key!r}; known: {[c.key for c in ORDER_CARDS]}")


Section = Callable[[HttpRequest], dict[str, Any]]
SECTIONS: dict[str, Section] = {}


def register_section(name: str, section: Section) -> None:
    """Add to the dashboard's context (charts, the Amazon sync): ``section(request)`` returns
    the template variables, computed for the request's scope."""
    SECTIONS[name] = section


def assemble() -> None:
    """Wire the apps' numbers and sections into the dashboard (idempotent)."""
    for key in orders_dashboard.ATTENTION_CARDS:
        register_counter(key, *orders_dashboard.attention_counter(key))
    register_section("order_charts", orders_dashboard.chart_context)
    register_section("amazon_sync", orders_dashboard.sync_context)
    register_section("shopify_mirror", shopify_mirror_context)
    key, title, description, icon = refunds_dashboard.CARD
    if not any(card.key == key for card in ORDER_CARDS):
        ORDER_CARDS.append(OrderCard(key, title, description, icon))
    register_counter(key, refunds_dashboard.count, refunds_dashboard.link)


STATUS_VARIANT = {
    AccountStatus.ACTIVE: "success",
    AccountStatus.PAUSED: "info",
    AccountStatus.AUTH_FAILED: "danger",
    AccountStatus.DISCONNECTED: "warning",
}


def shopify_mirror_context(request: HttpRequest) -> dict[str, Any]:
    """One row per connected Shopify store in scope: is the mirror keeping up (issue 12)."""
    scope = sorted(getattr(request, "merchant_ids", ()) or ())
    rows = store_mirror_health(scope)
    names = {m.pk: m.name for m in merchants_by_ids(frozenset(r.merchant_id for r in rows))}
    outbox = reverse("portal:integrations_outboxmessage_changelist")
    out = []
    for row in rows:
        if row.status == AccountStatus.AUTH_FAILED:
            label, variant = _("Paused: reconnect"), "danger"
            detail = _(
                "Shopify refused Keelson's access token. Writes wait here and are sent once the "
                "store is connected again with a new token."
            )
        elif row.failed:
            label, variant = _("Errors"), "danger"
            detail = _("Some writes were given up: retry them from the outbox once fixed.")
        elif row.backlog and row.last_error:
            label, variant = _("Retrying"), "warning"
            detail = _("Shopify did not take the last write; it is retried with back-off.")
        else:
            label, variant = _("Mirroring"), "success"
            detail = _("Amazon orders, fulfillments and refunds are written as they happen.")
        out.append(
            {
                "store_id": row.store_id,
                "merchant": names.get(row.merchant_id, ""),
                "shop_domain": row.shop_domain,
                "label": label,
                "variant": variant,
                "detail": detail,
                "last_success_at": row.last_success_at,
                "backlog": row.backlog,
                "oldest_waiting_at": row.oldest_waiting_at,
                "failed": row.failed,
                "failed_link": outbox
                + "?"
                + urlencode({"status__exact": "failed", "kind__startswith": "shopify."}),
                "error": row.last_error,
            }
        )
    return {"shopify_mirror": out, "shopify_mirror_several_merchants": len(scope) > 1}


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    scope_ids = frozenset(getattr(request, "merchant_ids", ()) or ())
    cards = []
    for card in ORDER_CARDS:
        value = card.counter(request) if card.counter else None
        cards.append(
            {
                "key": card.key,
                "title": card.title,
                "description": card.description,
                "icon": card.icon,
                "value": value,
                "empty_text": NO_ORDERS_YET,
                "link": card.link(request) if (card.link and value is not None) else None,
            }
        )
    accounts = amazon_accounts_by_merchant()
    key_counts = active_api_key_counts(scope_ids)
    merchants = []
    for merchant in merchants_by_ids(scope_ids):
        merchant_accounts = accounts.get(merchant.pk, [])
        merchants.append(
            {
                "merchant": merchant,
                "amazon_accounts": [
                    {
                        "account": account,
                        "status": account.get_status_display(),
                        "variant": STATUS_VARIANT.get(account.status, "default"),
                    }
                    for account in merchant_accounts
                ],
                "api_keys": key_counts.get(merchant.pk, 0),
            }
        )
    context: dict[str, Any] = {}
    for section in SECTIONS.values():
        context.update(section(request))
    return {**context, "order_cards": cards, "merchant_panels": merchants, "subtitle": None}
