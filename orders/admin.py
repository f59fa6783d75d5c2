"""The portal's orders: the list (filters, search, the bulk shipment confirmation of rule A7)
and the order page, read-only: lines, addresses, deadlines, the R2 reminder to read buyer
messages in Seller Central, why a Pending order can't be acted on (A1, A2), its fulfillment
orders with the actions the rules allow now (fulfillment/admin.py), and the timeline (F12)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from foundation import clock
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from fulfillment.admin import (
    FULFILLMENT_VARIANT,
    fulfillment_panels,
    report,
    shipment_from_post,
)
from fulfillment.models import AmazonConfirmation, Fulfillment
from orders import policy, selectors
from orders.admin_filters import AttentionFilter, ConfirmByOnFilter, PurchasedOnFilter
from orders.models import Order
from portal.site import portal_site
from tenants.admin import TenantScopedAdminMixin, status_label
from tenants.policy import Capability

READ_ONLY_REASON = "Your role on this merchant is read-only."


class AmazonConfirmationFilter(admin.SimpleListFilter):
    """Where the orders' shipment confirmations to Amazon are (A7's progress)."""

    title = "Amazon confirmation"
    parameter_name = "amazon_confirmation"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Queued"),
            ("failed", "Failed"),
            ("confirmed", "Confirmed"),
            ("none", "Nothing sent"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in ("pending", "failed", "confirmed"):
            return queryset.filter(
                Exists(Fulfillment.objects.filter(order=OuterRef("pk"), amazon_confirmation=value))
            )
        if value == "none":
            return queryset.filter(channel="amazon").exclude(
                Exists(
                    Fulfillment.objects.filter(order=OuterRef("pk")).exclude(
                        amazon_confirmation=AmazonConfirmation.NOT_REQUIRED
                    )
                )
            )
        return queryset


@admin.register(Order, site=portal_site)
class OrderPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    icon = "receipt_long"
    list_display = [
        "external_id",
        "purchase_date",
        "status",
        "fulfillment_badge",
        "buyer_name",
        "total",
        "buyer_cancel_requested",
        "amazon_confirmations",
    ]
    list_filter = [
        AttentionFilter,
        "status",
        "fulfillment_status",
        "buyer_cancel_requested",
        AmazonConfirmationFilter,
        "channel",
        # The dashboard charts' days (shown only while one is chosen).
        PurchasedOnFilter,
        ConfirmByOnFilter,
    ]
    search_fields = ["external_id"]
    search_help_text = "Order number, buyer name, or an exact SKU."
    ordering = ["-purchase_date", "-id"]
    list_per_page = 50
    actions = ["confirm_shipments_on_amazon"]
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
            "Status",
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
            "Buyer",
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

    @admin.display(description="Fulfillment", ordering="fulfillment_status")
    def fulfillment_badge(self, obj: Order) -> str:
        return status_label(
            obj.get_fulfillment_status_display(), FULFILLMENT_VARIANT.get(obj.fulfillment_status)
        )

    @admin.display(description="Total", ordering="total_amount")
    def total(self, obj: Order) -> str:
        return f"{obj.total_amount} {obj.currency}"

    @admin.display(description="Amazon confirmation")
    def amazon_confirmations(self, obj: Order) -> str:
        counts = {
            state: getattr(obj, f"confirm_{state}", 0) or 0
            for state in ("pending", "confirmed", "failed")
        }
        if not any(counts.values()):
            return "-"
        labels = {"pending": "queued", "confirmed": "confirmed", "failed": "failed"}
        text = ", ".join(f"{n} {labels[state]}" for state, n in counts.items() if n)
        variant = "danger" if counts["failed"] else "info" if counts["pending"] else "success"
        return status_label(text, variant)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        def count(state: str) -> Subquery:
            return Subquery(
                Fulfillment.objects.filter(order=OuterRef("pk"), amazon_confirmation=state)
                .values("order")
                .annotate(n=Count("id"))
                .values("n")[:1]
            )

        return (
            super()
            .get_queryset(request)
            .annotate(
                confirm_pending=count("pending"),
                confirm_confirmed=count("confirmed"),
                confirm_failed=count("failed"),
            )
        )

    # -- the order page -------------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        order = self.get_object(request, object_id) if object_id else None
        if order is not None:
            extra.update(self.order_context(request, order))
        return super().changeform_view(request, object_id, form_url, extra)

    def order_context(self, request: HttpRequest, order: Order) -> dict:
        now = clock.now()
        assessment = selectors.assess_order(order, now)
        can_change = self.portal_can(request, Capability.CHANGE, order)
        actions = assessment.actions
        pending = actions[policy.Action.FULFIL]
        return {
            "order": order,
            "assessment": assessment,
            "lines": list(order.lines.order_by("id")),
            "events": list(selectors.order_events(order)),
            "pending_reason": pending.reason if pending.code == policy.ORDER_PENDING else None,
            "pending_rule": pending.rule if pending.code == policy.ORDER_PENDING else None,
            "fulfillment_panels": fulfillment_panels(
                order, can_change=can_change, read_only_reason=READ_ONLY_REASON, now=now
            ),
            "fulfillments": fulfillment_selectors.order_fulfillments(order),
            "can_change": can_change,
            "request_decision": self._decision(
                actions[policy.Action.REQUEST_FULFILLMENT], can_change
            ),
            "fulfil_decision": self._decision(actions[policy.Action.MARK_FULFILLED], can_change),
            "has_services": bool(fulfillment_selectors.active_locations([order.merchant_id])),
            "request_url": reverse("portal:orders_order_request_fulfillment", args=[order.pk]),
            "fulfil_url": reverse("portal:orders_order_mark_fulfilled", args=[order.pk]),
            **self._refund_context(order, can_change, now),
        }

    @staticmethod
    def _refund_context(order: Order, can_change: bool, now) -> dict:
        """The refunds section and the buyer-cancel answer (refunds/admin.py)."""
        from refunds.admin import refund_panel

        return refund_panel(order, can_change=can_change, now=now)

    @staticmethod
    def _decision(decision: policy.Decision, can_change: bool) -> dict:
        if not can_change:
            return {"allowed": False, "reason": READ_ONLY_REASON}
        return {"allowed": decision.allowed, "reason": decision.reason}

    def get_urls(self):
        return [
            path(
                "<path:object_id>/request-fulfillment/",
                self.admin_site.admin_view(require_POST(self.request_fulfillment_view)),
                name="orders_order_request_fulfillment",
            ),
            path(
                "<path:object_id>/mark-fulfilled/",
                self.admin_site.admin_view(require_POST(self.mark_fulfilled_view)),
                name="orders_order_mark_fulfilled",
            ),
            *super().get_urls(),
        ]

    def _acting_on(self, request: HttpRequest, object_id: str) -> Order | None:
        order = self.get_object(request, object_id)
        if order is None:
            raise Http404("No such order.")
        if not self.portal_can(request, Capability.CHANGE, order):
            messages.error(request, READ_ONLY_REASON)
            return None
        return order

    def _back(self, order_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("portal:orders_order_change", args=[order_id]) + "#fulfillment"
        )

    def request_fulfillment_view(self, request: HttpRequest, object_id: str):
        order = self._acting_on(request, object_id)
        if order is not None:
            actor = fulfillment_services.Actor.user(request.user)
            note = request.POST.get("note", "").strip()[:2000]
            report(
                request,
                lambda: fulfillment_services.request_fulfillment(order.pk, actor=actor, note=note),
                lambda fos: (
                    "Fulfillment requested from "
                    + ", ".join(sorted({fo.service.name for fo in fos}))
                    + "."
                ),
            )
        return self._back(int(object_id) if object_id.isdigit() else 0)

    def mark_fulfilled_view(self, request: HttpRequest, object_id: str):
        """F11: mark fulfilled (the whole order), optionally with tracking; R4 for Amazon."""
        order = self._acting_on(request, object_id)
        if order is not None:
            actor = fulfillment_services.Actor.user(request.user)
            shipment = shipment_from_post(request)
            suffix = (
                " No notification was sent to the buyer: Amazon notifies its buyers (R4)."
                if order.is_amazon
                else ""
            )
            report(
                request,
                lambda: fulfillment_services.fulfil_order(order.pk, actor=actor, shipment=shipment),
                "Marked as fulfilled"
                + (" and queued for confirmation on Amazon." if order.is_amazon else ".")
                + suffix,
            )
        return self._back(int(object_id) if object_id.isdigit() else 0)

    # -- the bulk shipment confirmation (A7) ----------------------------------------------------

    @admin.action(description="Confirm shipment on Amazon (A7)", permissions=["change"])
    def confirm_shipments_on_amazon(self, request: HttpRequest, queryset: QuerySet):
        """Failed confirmations are sent again; orders not fulfilled yet are fulfilled with the
        tracking number and carrier given on the next page, and confirmed."""
        orders = list(queryset.order_by("-purchase_date")[:500])
        ids = [o.pk for o in orders]
        if request.POST.get("apply") == "yes":
            shipment = shipment_from_post(request)
            result = fulfillment_services.confirm_shipments(
                ids,
                actor=fulfillment_services.Actor.user(request.user),
                shipment=shipment if shipment.tracking_number else None,
            )
            progress = fulfillment_selectors.confirmation_progress(ids)
            self.message_user(
                request,
                f"{result.queued} order(s) fulfilled and queued for Amazon, {result.retried} "
                f"failed confirmation(s) sent again, {result.already} already queued or "
                f"confirmed, {len(result.skipped)} skipped. Amazon confirmations now: "
                f"{progress['pending']} queued, {progress['confirmed']} confirmed, "
                f"{progress['failed']} failed (filter the list by Amazon confirmation to "
                "follow them).",
                messages.SUCCESS if not result.skipped else messages.WARNING,
            )
            for number, reason in list(result.skipped.items())[:20]:
                self.message_user(request, f"{number}: {reason}", messages.WARNING)
            return None
        fulfilled = fulfillment_selectors.fulfilled_quantities(ids)
        rows = []
        for order in orders:
            lines = list(order.lines.all())
            open_quantity = sum(
                fulfillment_selectors.unfulfilled_quantity(line, fulfilled) for line in lines
            )
            rows.append({"order": order, "open_quantity": open_quantity})
        context = {
            **self.admin_site.each_context(request),
            "title": "Confirm shipment on Amazon",
            "opts": self.opts,
            "rows": rows,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action": "confirm_shipments_on_amazon",
            "needs_tracking": any(r["open_quantity"] for r in rows),
            "progress": fulfillment_selectors.confirmation_progress(ids),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "orders/portal/confirm_shipments.html", context)
