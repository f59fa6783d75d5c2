"""The order list as CSV: the rows the portal's changelist shows (its filters, search and
ordering, every page), streamed a chunk at a time from a server-side cursor, so a list of 100k
orders never sits in memory.

Dates are in each order's merchant's time zone (``Merchant.time_zone``, the same clock the
dashboard and the day filters use; rules A8, A9 count on it), named in a column of their own.
"At risk" is the "needs attention" filter's condition (orders.attention, A9), so the export and
the at-risk queue always agree.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, QuerySet
from django.utils.translation import gettext_lazy as _

from integrations.amazon.marketplaces import marketplace
from orders.attention import attention_conditions
from orders.models import AmazonOrderStatus, Channel, FulfillmentChannel, FulfillmentStatus
from tenants.models import Merchant
from tenants.scope import tenant_context

DEFAULT_CHUNK_SIZE = 2000
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); text
# that comes from outside (buyer names, store names) gets a leading apostrophe instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def chunk_size() -> int:
    return int(getattr(settings, "KEELSON_EXPORT_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


@dataclass(frozen=True)
class Column:
    header: object  # a lazy translation
    value: Callable[[dict, ExportContext], object]


@dataclass(frozen=True)
class ExportContext:
    """What the rows need besides their own fields: merchant names and zones, the words."""

    merchants: dict[int, tuple[str, ZoneInfo]]
    yes: str
    no: str


def _text(value: str) -> str:
    value = value or ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _local(name: str) -> Callable[[dict, ExportContext], str]:
    def value(row: dict, context: ExportContext) -> str:
        moment: datetime | None = row[name]
        if moment is None:
            return ""
        zone = context.merchants.get(row["merchant_id"], ("", ZoneInfo("UTC")))[1]
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return value


def _yes_no(name: str) -> Callable[[dict, ExportContext], str]:
    return lambda row, context: context.yes if row[name] else context.no


def _label(name: str, choices) -> Callable[[dict, ExportContext], str]:
    labels = dict(choices)
    return lambda row, context: str(labels.get(row[name], row[name]))


def _marketplace(row: dict, context: ExportContext) -> str:
    known = marketplace(row["marketplace_id"] or "")
    return known.name if known else row["marketplace_id"]


MERCHANT_COLUMN = Column(
    _("Merchant"), lambda row, context: _text(context.merchants.get(row["merchant_id"], ("",))[0])
)
COLUMNS: list[Column] = [
    Column(_("Order ID"), lambda row, context: row["external_id"]),
    Column(_("Channel"), _label("channel", Channel.choices)),
    Column(_("Marketplace"), _marketplace),
    Column(_("Marketplace ID"), lambda row, context: row["marketplace_id"]),
    Column(_("Purchase date"), _local("purchase_date")),
    Column(_("Status"), _label("status", AmazonOrderStatus.choices)),
    Column(_("Fulfilled by"), _label("fulfillment_channel", FulfillmentChannel.choices)),
    Column(_("Fulfillment status"), _label("fulfillment_status", FulfillmentStatus.choices)),
    Column(_("Ship by"), _local("latest_ship_date")),
    Column(_("Confirm shipment by"), _local("confirm_by")),
    Column(_("At risk"), _yes_no("at_risk")),
    Column(_("Late"), _yes_no("late")),
    Column(_("Buyer asked to cancel"), _yes_no("buyer_cancel_requested")),
    Column(_("Buyer name"), lambda row, context: _text(row["buyer_name"])),
    Column(_("Total"), lambda row, context: row["total_amount"]),
    Column(_("Currency"), lambda row, context: row["currency"]),
    Column(_("Shopify order"), lambda row, context: _text(row["shopify_order_name"])),
    Column(
        _("Time zone"),
        lambda row, context: str(
            context.merchants.get(row["merchant_id"], ("", ZoneInfo("UTC")))[1]
        ),
    ),
]
FIELDS = [
    "merchant_id",
    "external_id",
    "channel",
    "marketplace_id",
    "purchase_date",
    "status",
    "fulfillment_channel",
    "fulfillment_status",
    "latest_ship_date",
    "confirm_by",
    "at_risk",
    "late",
    "buyer_cancel_requested",
    "buyer_name",
    "total_amount",
    "currency",
    "shopify_order_name",
]


def columns(several_merchants: bool) -> list[Column]:
    """The export's columns; the merchant's name first when the list shows several."""
    return [MERCHANT_COLUMN, *COLUMNS] if several_merchants else list(COLUMNS)


def export_rows(queryset: QuerySet, now: datetime) -> QuerySet:
    """The list's rows as the export's values (the list's annotations are not selected)."""
    conditions = attention_conditions(now)
    return queryset.annotate(
        at_risk=ExpressionWrapper(conditions["at_risk"], output_field=BooleanField()),
        late=ExpressionWrapper(conditions["late"], output_field=BooleanField()),
    ).values(*FIELDS)


class _Line:
    """csv.writer's file: hands back each line it writes, for streaming."""

    def write(self, value: str) -> str:
        return value


def order_csv(
    queryset: QuerySet, merchant_ids: Iterable[int], *, now: datetime, size: int | None = None
) -> Iterator[str]:
    """The CSV text, the header line first, then one piece per chunk of ``size`` orders.

    Runs under the merchants' tenant scope itself: a streamed response is read after the
    request's scope (``TenantScopeMiddleware``) has ended, and each piece may be produced in
    another thread (ASGI), so the scope is entered again around every chunk's fetch.
    Strings are resolved now, in the request's language, not when the stream is read."""
    scope = frozenset(merchant_ids)
    size = size or chunk_size()
    with tenant_context(scope):
        merchants = {
            m.pk: (m.name, ZoneInfo(m.time_zone or "UTC"))
            for m in Merchant.objects.filter(pk__in=scope)
        }
    chosen = columns(several_merchants=len(scope) > 1)
    context = ExportContext(merchants, yes=str(_("Yes")), no=str(_("No")))
    header = [str(column.header) for column in chosen]
    rows = export_rows(queryset, now).iterator(chunk_size=size)
    writer = csv.writer(_Line())

    def generate() -> Iterator[str]:
        # The byte order mark makes spreadsheet programs read the file as UTF-8.
        yield "\ufeff" + writer.writerow(header)
        while True:
            with tenant_context(scope):
                chunk = list(islice(rows, size))
            if not chunk:
                return
            yield "".join(
                writer.writerow([column.value(row, context) for column in chosen]) for row in chunk
            )

    return generate()
