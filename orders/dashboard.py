"""The orders' part of the portal dashboard, for the merchants in the request's scope:

- the numbers (rules A3, A9, B1, A1), each linking to the matching order list;
- two charts counted by day in SQL: orders placed per day (last 30 days) and the A8 confirm-by
  deadlines of open, unconfirmed orders over the coming 14 days (A9's week inside it), each day
  linking to its orders;
- the Amazon sync of each account in scope (issue #3: backfill progress, live, auth failed).

Days are the merchant's own (its ``time_zone``): an order placed at 23:30 in Berlin counts on
the Berlin day even where UTC has moved on. With merchants in several time zones ("All my
merchants"), each order counts on its merchant's day and the axis follows the most common
zone. "Now" is the product's clock (``foundation.clock.now()``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from foundation import clock
from orders.attention import (
    OVERDUE,
    attention_conditions,
    axis_zone,
    local_days_filter,
    merchant_zones,
    overdue_deadline_filter,
    upcoming_deadline_filter,
)
from orders.models import Order
from orders.selectors import amazon_sync_statuses
from tenants.models import AccountStatus, Merchant

ORDERS_CHART_DAYS = 30
DEADLINES_CHART_DAYS = 14


def _counts(request: HttpRequest) -> dict[str, int]:
    """All five numbers in one query, once per request."""
    cached = getattr(request, "_order_card_counts", None)
    if cached is not None:
        return cached
    conditions = attention_conditions(clock.now())
    counts = Order.objects.aggregate(
        **{key: Count("id", filter=condition) for key, condition in conditions.items()}
    )
    request._order_card_counts = counts
    return counts


def _has_orders(request: HttpRequest) -> bool:
    cached = getattr(request, "_has_orders", None)
    if cached is None:
        cached = request._has_orders = Order.objects.exists()
    return cached


def _counter(key: str):
    def count(request: HttpRequest) -> int | None:
        # No orders at all: the card keeps its "No orders synced yet" state.
        return _counts(request)[key] if _has_orders(request) else None

    return count


def order_list_url(**params: str) -> str:
    return reverse("portal:orders_order_changelist") + "?" + urlencode(params)


def _link(**params: str):
    def link(request: HttpRequest) -> str | None:
        return order_list_url(**params)

    return link


# --- days in the merchant's time zone --------------------------------------------------------


# --- the charts' data (selectors) -------------------------------------------------------------


@dataclass(frozen=True)
class DayCounts:
    """Counts per local day, in total and per merchant, for ``days`` (oldest first)."""

    days: list[date]
    zone: str
    zones: tuple[str, ...]
    totals: dict[date, int]
    by_merchant: dict[date, dict[int, int]]
    overdue: int = 0
    overdue_by_merchant: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def _count_by_day(
    queryset, field_name: str, first: date, last: date, zones: dict[str, list[int]]
) -> tuple[dict[date, int], dict[date, dict[int, int]]]:
    """GROUP BY local day and merchant, one aggregate query per time zone in scope."""
    totals: Counter[date] = Counter()
    by_merchant: dict[date, dict[int, int]] = defaultdict(dict)
    for zone, ids in zones.items():
        rows = (
            queryset.filter(local_days_filter(field_name, first, last, {zone: ids}))
            .annotate(day=TruncDate(field_name, tzinfo=ZoneInfo(zone)))
            .values("day", "merchant_id")
            .annotate(n=Count("id"))
            .values_list("day", "merchant_id", "n")
        )
        for day, merchant_id, n in rows:
            totals[day] += n
            by_merchant[day][merchant_id] = by_merchant[day].get(merchant_id, 0) + n
    return dict(totals), dict(by_merchant)


def orders_per_day(
    merchant_ids: Iterable[int], now: datetime, days: int = ORDERS_CHART_DAYS
) -> DayCounts:
    """Orders placed per local day over the last ``days`` days, today included."""
    ids = list(merchant_ids)
    zones = merchant_zones(ids)
    zone = axis_zone(zones)
    today = now.astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    queryset = Order.objects.filter(merchant_id__in=ids)
    totals, by_merchant = _count_by_day(queryset, "purchase_date", first, today, zones)
    return DayCounts(
        days=[first + timedelta(days=i) for i in range(days)],
        zone=zone,
        zones=tuple(sorted(zones)),
        totals=totals,
        by_merchant=by_merchant,
    )


def confirm_deadlines_per_day(
    merchant_ids: Iterable[int], now: datetime, days: int = DEADLINES_CHART_DAYS
) -> DayCounts:
    """Open, unconfirmed orders by the local day of their A8 confirm-by deadline, over the
    coming ``days`` days (today's still ahead), and the ones already past it."""
    ids = list(merchant_ids)
    zones = merchant_zones(ids)
    zone = axis_zone(zones)
    today = now.astimezone(ZoneInfo(zone)).date()
    last = today + timedelta(days=days - 1)
    scoped = Order.objects.filter(merchant_id__in=ids)
    totals, by_merchant = _count_by_day(
        scoped.filter(upcoming_deadline_filter(now)), "confirm_by", today, last, zones
    )
    overdue_rows = (
        scoped.filter(overdue_deadline_filter(now))
        .values("merchant_id")
        .annotate(n=Count("id"))
        .values_list("merchant_id", "n")
    )
    overdue_by_merchant = dict(overdue_rows)
    return DayCounts(
        days=[today + timedelta(days=i) for i in range(days)],
        zone=zone,
        zones=tuple(sorted(zones)),
        totals=totals,
        by_merchant=by_merchant,
        overdue=sum(overdue_by_merchant.values()),
        overdue_by_merchant=overdue_by_merchant,
    )


# --- the charts as the template draws them ----------------------------------------------------


def _breakdown(counts: dict[int, int], names: dict[int, str]) -> str:
    parts = [f"{names.get(m, m)}: {n}" for m, n in sorted(counts.items(), key=lambda i: -i[1])]
    return " (" + ", ".join(parts) + ")" if len(names) > 1 and parts else ""


def _bars(
    data: DayCounts, names: dict[int, str], noun: tuple[str, str], link_param: str
) -> list[dict]:
    peak = max(data.totals.values(), default=0)
    bars = []
    for index, day in enumerate(data.days):
        count = data.totals.get(day, 0)
        word = noun[0] if count == 1 else noun[1]
        bars.append(
            {
                "day": day,
                "count": count,
                # Bars keep a sliver when empty, so the axis reads as days.
                "height": round(100 * count / peak) if peak and count else 0,
                "label": day.strftime("%d"),
                "weekday": formats.date_format(day, "D"),
                # A label a week apart (and on the last day, unless one is close).
                "tick": index % 7 == 0 or (index == len(data.days) - 1 and index % 7 >= 3),
                "title": _("%(day)s: %(count)s %(word)s")
                % {"day": formats.date_format(day, "D d M"), "count": count, "word": word}
                + _breakdown(data.by_merchant.get(day, {}), names),
                "link": order_list_url(**{link_param: day.isoformat()}) if count else None,
            }
        )
    return bars


def chart_context(request: HttpRequest) -> dict:
    """The two charts for the request's scope."""
    scope = sorted(getattr(request, "merchant_ids", ()) or ())
    if not scope:
        return {"order_charts": []}
    now = clock.now()
    names = dict(Merchant.objects.filter(id__in=scope).values_list("id", "name"))
    placed = orders_per_day(scope, now)
    deadlines = confirm_deadlines_per_day(scope, now)
    several_zones = len(placed.zones) > 1
    zone_note = (
        _("Each merchant's own days (axis: %(zone)s).") % {"zone": placed.zone}
        if several_zones
        else placed.zone
    )
    return {
        "order_charts": [
            {
                "key": "orders_per_day",
                "title": _("Orders per day, last %(ORDERS_CHART_DAYS)s days")
                % {"ORDERS_CHART_DAYS": ORDERS_CHART_DAYS},
                "summary": ngettext("%(count)s order", "%(count)s orders", placed.total)
                % {"count": placed.total},
                "note": zone_note,
                "bars": _bars(placed, names, (_("order"), _("orders")), "purchased_on"),
                "overdue": None,
            },
            {
                "key": "confirm_by",
                "title": _("Confirm-by deadlines, next %(days)s days (A8)")
                % {"days": DEADLINES_CHART_DAYS},
                "summary": ngettext(
                    "%(count)s open order to confirm",
                    "%(count)s open orders to confirm",
                    deadlines.total,
                )
                % {"count": deadlines.total},
                "note": zone_note,
                "bars": _bars(deadlines, names, (_("order due"), _("orders due")), "confirm_by_on"),
                "overdue": {
                    "count": deadlines.overdue,
                    "title": ngettext(
                        "%(count)s past the deadline: Amazon cancels it",
                        "%(count)s past the deadline: Amazon cancels them",
                        deadlines.overdue,
                    )
                    % {"count": deadlines.overdue}
                    + _breakdown(deadlines.overdue_by_merchant, names),
                    "link": order_list_url(confirm_by_on=OVERDUE) if deadlines.overdue else None,
                },
            },
        ]
    }


# --- the Amazon sync (issue #3) ---------------------------------------------------------------

PHASES = {
    "backfilling": (gettext_lazy("Backfilling"), "info"),
    "live": (gettext_lazy("Live"), "success"),
    "not_started": (gettext_lazy("Waiting for the first sync"), "default"),
    "paused": (gettext_lazy("Paused"), "warning"),
    "auth_failed": (gettext_lazy("Authorisation failed"), "danger"),
    "disconnected": (gettext_lazy("Disconnected"), "warning"),
}


def _duration(seconds: int) -> str:
    if seconds < 60:
        return _("less than a minute")
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("about %(count)s minute", "about %(count)s minutes", minutes) % {
            "count": minutes
        }
    hours = round(seconds / 3600, 1)
    return _("about %(hours)s hours") % {"hours": formats.number_format(hours)}


def sync_context(request: HttpRequest) -> dict:
    """One row per Amazon account in scope: where its sync stands."""

    scope = sorted(getattr(request, "merchant_ids", ()) or ())
    if not scope:
        return {"amazon_sync": []}
    names = dict(Merchant.objects.filter(id__in=scope).values_list("id", "name"))
    rows = []
    for status in amazon_sync_statuses(scope):
        label, variant = PHASES.get(status.phase, (status.phase, "default"))
        if status.consecutive_failures and status.status == AccountStatus.ACTIVE:
            label, variant = _("Retrying"), "warning"
        backfill = status.backfill
        detail = ""
        if status.phase == "backfilling" and backfill is not None:
            detail = _("%(days)s-day backfill: %(percent)s%% read, %(pages)s, %(orders)s") % {
                "days": backfill.days,
                "percent": round(backfill.progress * 100),
                "pages": ngettext("%(count)s page", "%(count)s pages", backfill.pages)
                % {"count": backfill.pages},
                "orders": ngettext("%(count)s order", "%(count)s orders", backfill.orders)
                % {"count": backfill.orders},
            }
            if backfill.eta_seconds is not None:
                detail += _("; %(duration)s left") % {"duration": _duration(backfill.eta_seconds)}
            else:
                detail += _("; estimating the time left")
        elif status.phase == "auth_failed":
            detail = _("Amazon refused our authorisation: reconnect the account to resume.")
        elif status.consecutive_failures and status.phase in ("live", "backfilling", "not_started"):
            detail = ngettext(
                "The last %(count)s run failed; Keelson keeps trying, less often each time, "
                "and loses nothing.",
                "The last %(count)s runs failed; Keelson keeps trying, less often each time, "
                "and loses nothing.",
                status.consecutive_failures,
            ) % {"count": status.consecutive_failures}
        elif status.phase == "live" and status.notifications_subscribed:
            detail = _("Amazon pushes every order change: new orders arrive within seconds.")
        elif status.phase == "live":
            detail = _("New orders arrive within a minute or two.")
        rows.append(
            {
                "account_id": status.account_id,
                "merchant": names.get(status.merchant_id, ""),
                "name": status.name,
                "phase": status.phase,
                "label": label,
                "variant": variant,
                "detail": detail,
                "progress": round(backfill.progress * 100) if backfill else None,
                "last_success_at": status.last_success_at,
                "synced_until": status.synced_until,
                "next_sync_at": status.next_sync_at,
                "error": status.last_error
                if status.phase != "live" or status.consecutive_failures
                else "",
                "failures": status.consecutive_failures,
            }
        )
    return {"amazon_sync": rows, "amazon_sync_several_merchants": len(scope) > 1}


ATTENTION_CARDS = ("unshipped", "at_risk", "late", "buyer_cancel", "pending")


def attention_counter(key: str):
    """The number on one of the dashboard's order cards, and the list it links to."""
    return _counter(key), _link(attention=key)
