"""The portal's orders: the list (filters, search) and the order page, read-only: lines,
addresses, deadlines, the R2 reminder to read buyer messages in Seller Central, why a Pending
order can't be acted on (A1, A2), and the timeline (F12).

The apps above orders add their parts to this admin through mixins (fulfillment: its panel, the
fulfil and request actions, the A7 bulk confirmation; refunds: the refunds panel and the buyer's
cancellation request), and the portal composes and registers the result (portal/admin.py).
Each part adds a template to ``order_sections`` in ``order_context``, shown between the lines
and the timeline in the order they were added.

The list exports as CSV exactly as filtered ("Export CSV", ``export_csv_view``, orders/exports.py);
``changelist_without_results`` gives the apps above the list's filtered rows and filters without
reading a page (the portal's saved views use it).

Also here: the Amazon account's "Sync now" and "Re-run backfill" actions (the sync is orders'),
mixed into tenants' Amazon account admin by the portal.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.views import ChangeList

from foundation import clock
from foundation.i18n import format_money
from orders import exports, policy, selectors, sync
from orders.admin_filters import AttentionFilter, ConfirmByOnFilter, PurchasedOnFilter
from orders.models import Order
from tenants.admin import TenantScopedAdminMixin, status_label
from tenants.policy import Capability

READ_ONLY_REASON = _("Your role on this merchant is read-only.")

FULFILLMENT_VARIANT = {
    "unfulfilled": "default",
    "in_progress": "info",
    "partially_fulfilled": "warning",
    "fulfilled": "success",
}


class ChangeListWithoutResults(ChangeList):
    """The changelist's filters, search and ordering applied, no page read (no count either):
    for the CSV export and for checking a saved view's parameters."""

    def get_results(self, request: HttpRequest) -> None:
        self.result_list, self.result_count, self.full_result_count = [], 0, 0
        self.can_show_all, self.multi_page, self.show_all = False, False, False


_WITHOUT_RESULTS = "_keelson_changelist_without_results"


class OrderPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    icon = "receipt_long"
    change_list_template = "orders/portal/order_change_list.html"
    list_display = [
        "external_id",
        "purchase_date",
        "status",
        "fulfillment_badge",
        "buyer_name",
        "total",
        "buyer_cancel_requested",
    ]
    list_filter = [
        AttentionFilter,
        "status",
        "fulfillment_status",
        "buyer_cancel_requested",
        "channel",
        # The dashboard charts' days (shown only while one is chosen).
        PurchasedOnFilter,
        ConfirmByOnFilter,
    ]
    search_fields = ["external_id"]
    search_help_text = _("Order number, buyer name, or an exact SKU.")
    ordering = ["-purchase_date", "-id"]
    list_per_page = 50
    readonly_fields = [
        "external_id",
        "channel",
        "marketplace_id",
        "status",
        "fulfillment_channel",
        "fulfillment_badge",
        "financial_status",
        "shipment_confirmation",
        "purchase_date",
        "latest_ship_date",
        "ship_service_level",
        "buyer_name",
        "total",
        "buyer_cancel_requested",
        "buyer_cancel_reason",
    ]
    fieldsets = [
        (None, {"fields": ["external_id", "channel", "marketplace_id", "purchase_date"]}),
        (
            _("Status"),
            {
                "fields": [
                    "status",
                    "fulfillment_channel",
                    "fulfillment_badge",
                    "financial_status",
                    "shipment_confirmation",
                    "latest_ship_date",
                    "ship_service_level",
                ]
            },
        ),
        (
            _("Buyer"),
            {"fields": ["buyer_name", "total", "buyer_cancel_requested", "buyer_cancel_reason"]},
        ),
    ]
    change_form_outer_before_template = "orders/portal/order_notices.html"
    change_form_outer_after_template = "orders/portal/order_detail.html"

    # -- list -----------------------------------------------------------------------------------

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # orders come from the channels

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        text = search_term.strip()
        if not text:
            return queryset, False
        return selectors.search_orders(queryset, text), False

    def get_changelist(self, request: HttpRequest, **kwargs):
        if getattr(request, _WITHOUT_RESULTS, False):
            return ChangeListWithoutResults
        return super().get_changelist(request, **kwargs)

    def changelist_without_results(self, request: HttpRequest) -> ChangeListWithoutResults:
        """The changelist of ``request.GET`` (its ``queryset``: every filtered, searched and
        ordered row; its ``filter_specs``), without reading a page. May raise
        ``IncorrectLookupParameters`` (or ``SuspiciousOperation``) as the list would."""
        setattr(request, _WITHOUT_RESULTS, True)
        try:
            return self.get_changelist_instance(request)
        finally:
            delattr(request, _WITHOUT_RESULTS)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = dict(extra_context or {})
        if self.has_view_permission(request):
            query = request.GET.copy()
            for ignored in ("p", "e"):
                query.pop(ignored, None)
            extra["export_csv_url"] = reverse("portal:orders_order_export_csv") + (
                "?" + query.urlencode() if query else ""
            )
        return super().changelist_view(request, extra)

    def get_urls(self):
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv_view),
                name="orders_order_export_csv",
            ),
            *super().get_urls(),
        ]

    def export_csv_view(self, request: HttpRequest):
        """The list as CSV, as filtered: every row of the merchants in scope that the list's
        filters, search and ordering (the same query string) select; streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.changelist_without_results(request).queryset
        except IncorrectLookupParameters:
            messages.error(request, _("These filters cannot be exported: choose them again."))
            return HttpResponseRedirect(reverse("portal:orders_order_changelist") + "?e=1")
        now = clock.now()
        response = StreamingHttpResponse(
            exports.order_csv(queryset, self.scope_ids(request), now=now),
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description=_("Fulfillment"), ordering="fulfillment_status")
    def fulfillment_badge(self, obj: Order) -> str:
        return status_label(
            obj.get_fulfillment_status_display(), FULFILLMENT_VARIANT.get(obj.fulfillment_status)
        )

    @admin.display(description=_("Total"), ordering="total_amount")
    def total(self, obj: Order) -> str:
        return format_money(obj.total_amount, obj.currency)

    # -- the order page -------------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        order = self.get_object(request, object_id) if object_id else None
        if order is not None:
            extra.update(self.order_context(request, order))
        return super().changeform_view(request, object_id, form_url, extra)

    def order_context(self, request: HttpRequest, order: Order) -> dict:
        """The order page's variables. A mixin adds its own (calling ``super()`` first) and
        appends its template to ``order_sections``."""
        now = clock.now()
        assessment = selectors.assess_order(order, now)
        pending = assessment.actions[policy.Action.FULFIL]
        return {
            "order": order,
            "now": now,
            "assessment": assessment,
            "lines": list(order.lines.order_by("id")),
            "events": list(selectors.order_events(order)),
            "pending_reason": pending.reason if pending.code == policy.ORDER_PENDING else None,
            "pending_rule": pending.rule if pending.code == policy.ORDER_PENDING else None,
            "can_change": self.portal_can(request, Capability.CHANGE, order),
            "order_sections": [],
        }

    @staticmethod
    def decision(decision: policy.Decision, can_change: bool) -> dict:
        """A button's state: allowed, or disabled with the reason (the role's or the rule's)."""
        if not can_change:
            return {"allowed": False, "reason": READ_ONLY_REASON}
        return {"allowed": decision.allowed, "reason": decision.reason}

    def acting_on(self, request: HttpRequest, object_id: str) -> Order | None:
        """The order a POST acts on, if the user may change it (else a message, and None)."""
        order = self.get_object(request, object_id)
        if order is None:
            raise Http404(_("No such order."))
        if not self.portal_can(request, Capability.CHANGE, order):
            messages.error(request, READ_ONLY_REASON)
            return None
        return order

    def back_to_order(self, object_id: str, anchor: str) -> HttpResponseRedirect:
        order_id = int(object_id) if object_id.isdigit() else 0
        return HttpResponseRedirect(
            reverse("portal:orders_order_change", args=[order_id]) + "#" + anchor
        )


class AmazonAccountSyncActionsMixin:
    """ "Sync now" and "Re-run backfill" on the portal's Amazon accounts (orders/sync.py)."""

    @admin.action(description=_("Sync now"), permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        for account in queryset.order_by("name", "id"):
            label = str(account)
            try:
                result = sync.sync_now(account)
            except sync.SyncNotPossible as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            text = {
                "queued": _(
                    "%(account)s: sync started. New and changed orders appear within a minute "
                    "or two."
                ),
                "running": _("%(account)s is syncing right now: its new orders appear shortly."),
                "scheduled": _("%(account)s: sync requested; it starts within a minute."),
            }[result.outcome] % {"account": label}
            self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Re-run backfill"), permissions=["change"])
    def rerun_backfill(self, request: HttpRequest, queryset: QuerySet):
        """Asks for the number of days first, then restarts each selected account's backfill."""
        accounts = list(queryset.order_by("name", "id"))
        default_days = sync.default_backfill_days()
        if request.POST.get("apply") == "yes":
            try:
                days = int(request.POST.get("days") or default_days)
            except ValueError:
                days = 0
            for account in accounts:
                try:
                    sync.rerun_backfill(account, days)
                except sync.SyncNotPossible as exc:
                    self.message_user(request, str(exc), messages.WARNING)
                    continue
                self.message_user(
                    request,
                    f"{account}: re-reading the orders Amazon changed in the last {days} "
                    "days. New orders keep arriving meanwhile; follow the progress on the "
                    "dashboard.",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Re-run the Amazon backfill",
            "opts": self.opts,
            "accounts": accounts,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action": "rerun_backfill",
            "days": default_days,
            "max_days": sync.MAX_BACKFILL_DAYS,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "portal/amazon_backfill.html", context)
