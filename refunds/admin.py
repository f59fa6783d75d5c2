"""The portal's refunds: the refund list (status, Amazon and Shopify sync state, failures in
plain words), a refund's page, and what refunds add to the order page
(``OrderRefundsAdminMixin``, composed by the portal): the refunds with the balance left, the
refund form (per-line quantities, shipping, the suggested amount, the remaining balance), the
cancel dialog with Amazon's reasons, "Cancel as requested by buyer" and "Decline (ship anyway)"
(B4), and "Send to Amazon now" for what was held while the account was not connected (R8).

Every form calls one service (refunds/services.py) as the logged-in person; what is offered
comes from the decisions the services enforce (orders/policy.py, R6, F3), so an action refused
now is shown disabled with the rule's reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from foundation import clock
from foundation.api.errors import DomainError
from foundation.i18n import format_money, localize
from fulfillment.selectors import has_fulfillment_request_in_progress
from orders import policy as order_policy
from orders import selectors as order_selectors
from orders.admin import READ_ONLY_REASON
from orders.models import Order
from refunds import errors, policy, selectors, services
from refunds.models import AmazonSync, Refund, RefundStatus
from tenants.admin import ReadOnlyStaffAdminMixin, TenantScopedAdminMixin, status_label
from tenants.policy import Capability

STATUS_VARIANT = {"pending": "info", "succeeded": "success", "failed": "danger"}
AMAZON_VARIANT = {
    "not_applicable": "default",
    "pending": "info",
    "on_hold": "warning",
    "sending": "info",
    "submitted": "info",
    "synced": "success",
    "failed": "danger",
    "from_amazon": "warning",
}
CANCEL_REASON_LABELS = [
    (policy.ADDRESS_CHANGE, _("The buyer wants another address: cancel for a re-order (A5)")),
    *((r.value, policy.CANCEL_REASON_TEXT[r]) for r in policy.CancelReason),
]


@dataclass(frozen=True)
class Offer:
    allowed: bool
    reason: str | None = None
    url: str | None = None


def _money(amount: Decimal, currency: str) -> str:
    """An amount as the reader reads it (their language's conventions, the currency's digits)."""
    return format_money(amount, currency)


def _order_url(order_id: int, anchor: str = "refunds") -> str:
    return reverse("portal:orders_order_change", args=[order_id]) + f"#{anchor}"


def _decisions(order: Order, now: datetime) -> dict:
    """The order's policy decisions (R6 included), as the order API's ``allowed_actions``."""
    return order_selectors.assess_order(order, now).actions


def _blocked(order: Order) -> str | None:
    """F3 by the fulfillment app's own record (the order's status may lag a moment)."""
    if has_fulfillment_request_in_progress(order):
        return "A fulfillment request is in progress: cancel it first (F3)."
    return None


def offers(order: Order, *, can_change: bool, now: datetime | None = None) -> dict[str, Offer]:
    """What the merchant may do about refunds on this order now, with the reason if not."""
    now = now or clock.now()
    decisions = _decisions(order, now)
    money = selectors.order_money(order)
    blocked = _blocked(order)
    pending_cancel = selectors.pending_cancellation(order)
    out = {}
    for key, action, url_name in (
        ("refund", order_policy.Action.REFUND, "portal:refunds_refund_new"),
        ("cancel", order_policy.Action.CANCEL, "portal:refunds_refund_cancel"),
        ("cancel_as_requested", order_policy.Action.CANCEL_AS_REQUESTED, ""),
    ):
        decision = decisions[action]
        reason = None if decision.allowed else decision.reason
        reason = reason or blocked
        if reason is None and key != "refund" and pending_cancel is not None:
            reason = "A cancellation is being sent to Amazon: wait for its outcome."
        if reason is None and money.balance <= 0:
            reason = _("Nothing is left to refund on this order.")
        if reason is None and not can_change:
            reason = READ_ONLY_REASON
        url = reverse(url_name or "portal:refunds_refund_cancel", args=[order.pk])
        if key == "cancel_as_requested":
            url += "?buyer=1"
        out[key] = Offer(reason is None, reason, url)
    return out


@dataclass
class RefundRow:
    refund: Refund
    status_badge: str
    amazon_badge: str
    lines_text: str
    send_again_url: str | None


def refund_rows(order: Order, *, can_change: bool) -> list[RefundRow]:
    rows = []
    for refund in selectors.order_refunds(order):
        resendable = (
            can_change
            and refund.status == RefundStatus.PENDING
            and refund.amazon_sync in (AmazonSync.ON_HOLD, AmazonSync.SUBMITTED)
            and (refund.amazon_sync == AmazonSync.ON_HOLD or bool(refund.failure_code))
        )
        rows.append(
            RefundRow(
                refund=refund,
                status_badge=status_label(
                    refund.get_status_display(), STATUS_VARIANT.get(refund.status)
                ),
                amazon_badge=status_label(
                    refund.get_amazon_sync_display(), AMAZON_VARIANT.get(refund.amazon_sync)
                ),
                lines_text=", ".join(
                    f"{line.order_line.sku if line.order_line else line.external_item_id}"
                    f" × {line.quantity}"
                    for line in refund.lines.all()
                    if line.quantity
                ),
                send_again_url=reverse("portal:refunds_refund_send_again", args=[refund.pk])
                if resendable
                else None,
            )
        )
    return rows


def refund_panel(order: Order, *, can_change: bool, now: datetime | None = None) -> dict:
    """The order page's refunds section (and what resolves the buyer-cancel banner)."""
    money = selectors.order_money(order)
    cur = order.currency
    return {
        "refund_panel": {
            "rows": refund_rows(order, can_change=can_change),
            "paid": _money(money.paid_total, cur),
            "refunded": _money(money.refunded_total, cur),
            "balance": _money(money.balance, cur),
            "offers": offers(order, can_change=can_change, now=now),
            "suggested_cancel": _money(policy.suggested_cancellation_refund(money, None), cur),
            "decline_url": reverse("portal:refunds_refund_decline", args=[order.pk]),
            "can_change": can_change,
        },
        "buyer_cancel_resolution": selectors.buyer_cancel_resolution(order),
    }


class OrderRefundsAdminMixin:
    """Refunds' part of the portal's order admin (``orders.admin.OrderPortalAdmin``): the
    refunds section and the answer to a buyer's cancellation request (B4)."""

    def order_context(self, request: HttpRequest, order: Order) -> dict:
        context = super().order_context(request, order)
        context.update(refund_panel(order, can_change=context["can_change"], now=context["now"]))
        context["order_sections"].append("refunds/portal/order_refunds.html")
        return context


# --- the ModelAdmin --------------------------------------------------------------------------


class RefundPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    icon = "currency_exchange"
    list_display = [
        "__str__",
        "order_link",
        "status_badge",
        "total_text",
        "amazon_badge",
        "shopify_sync",
        "failure",
        "created_by_name",
        "created_at",
    ]
    list_filter = ["status", "kind", "amazon_sync", "origin", "cancel_reason"]
    search_fields = ["order__external_id"]
    search_help_text = _("Order number.")
    list_select_related = ["order"]
    ordering = ["-id"]
    readonly_fields = [
        "order_link",
        "kind",
        "origin",
        "status_badge",
        "failure",
        "reason",
        "cancel_reason",
        "buyer_requested",
        "note",
        "total_text",
        "items_text",
        "shipping_text",
        "amazon_badge",
        "amazon_feed_id",
        "amazon_feed_status",
        "shopify_sync",
        "created_by_name",
        "created_at",
        "completed_at",
    ]
    fields = readonly_fields
    change_form_outer_after_template = "refunds/portal/refund_detail.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # refunds are made from the order page

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        for prefix in ("Refund #", "Cancellation #"):
            term = term.removeprefix(prefix)
        if term.isdigit():
            return queryset.filter(pk=int(term)) | queryset.filter(
                order__external_id__istartswith=term
            ), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("Order"), ordering="order__external_id")
    def order_link(self, obj: Refund) -> str:
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>', _order_url(obj.order_id), obj.order
        )

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: Refund) -> str:
        return status_label(obj.get_status_display(), STATUS_VARIANT.get(obj.status))

    @admin.display(description=_("Amazon"), ordering="amazon_sync")
    def amazon_badge(self, obj: Refund) -> str:
        return status_label(obj.get_amazon_sync_display(), AMAZON_VARIANT.get(obj.amazon_sync))

    @admin.display(description=_("Total"), ordering="total")
    def total_text(self, obj: Refund) -> str:
        return _money(obj.total, obj.currency)

    @admin.display(description=_("Items"))
    def items_text(self, obj: Refund) -> str:
        return _money(obj.items_amount, obj.currency)

    @admin.display(description=_("Shipping"))
    def shipping_text(self, obj: Refund) -> str:
        return _money(obj.shipping_amount, obj.currency)

    @admin.display(description=_("Why it failed (or waits)"))
    def failure(self, obj: Refund) -> str:
        return obj.failure_message or "-"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        if object_id:
            refund = self.get_object(request, object_id)
            if refund is not None:
                can_change = self.portal_can(request, Capability.CHANGE, refund)
                rows = [
                    r
                    for r in refund_rows(refund.order, can_change=can_change)
                    if r.refund.pk == refund.pk
                ]
                extra["refund_row"] = rows[0] if rows else None
                extra["refund_lines"] = list(refund.lines.select_related("order_line"))
                extra["refund_currency"] = refund.currency
        return super().changeform_view(request, object_id, form_url, extra)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The merchant too: its column is shown in a multi-merchant scope, and a queryset that
        # already joins something gets no list_select_related from the changelist.
        return super().get_queryset(request).select_related("order", "merchant")

    # -- views --------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("order/<int:order_id>/new/", view(self.refund_view), name="refunds_refund_new"),
            path(
                "order/<int:order_id>/cancel/", view(self.cancel_view), name="refunds_refund_cancel"
            ),
            path(
                "order/<int:order_id>/decline/",
                view(require_POST(self.decline_view)),
                name="refunds_refund_decline",
            ),
            path(
                "<path:object_id>/send-again/",
                view(require_POST(self.send_again_view)),
                name="refunds_refund_send_again",
            ),
            *super().get_urls(),
        ]

    def _order(self, request: HttpRequest, order_id: int) -> Order:
        order = (
            Order.objects.filter(pk=order_id, merchant_id__in=self.scope_ids(request))
            .select_related("amazon_account")
            .first()
        )
        if order is None:
            raise Http404(_("No such order."))
        return order

    def _render(self, request, template: str, title: str, context: dict) -> TemplateResponse:
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "title": title, "opts": self.opts, **context},
        )

    def refund_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        """The refund form: per line a quantity (its amount suggested from the price) or an
        amount, shipping, a reason and a note; the balance left to refund."""
        order = self._order(request, order_id)
        can_change = self.portal_can(request, Capability.CHANGE, order)
        offer = offers(order, can_change=can_change)["refund"]
        values = request.POST if request.method == "POST" else {}
        if request.method == "POST":
            if not can_change:
                messages.error(request, READ_ONLY_REASON)
                return HttpResponseRedirect(_order_url(order.pk))
            created = self._create_refund(request, order)
            if created is not None:
                return HttpResponseRedirect(_order_url(order.pk))
        money = selectors.order_money(order)
        per_unit = money.charged_per_shipped_unit
        cur = order.currency
        # Lines a refund cannot take from until Amazon splits their tax: ask Amazon now.
        waiting = any(state.tax_split_unknown for state in money.lines.values())
        asking = services.ask_for_tax_split(order) if waiting else False
        rows = []
        for line in order.lines.order_by("id"):
            state = money.lines[line.pk]
            left = state.refundable(per_unit, cur)
            quantity = state.refundable_quantity(per_unit)
            rows.append(
                {
                    "line": line,
                    "ordered": state.ordered,
                    "shipped": state.shipped,
                    "refundable_quantity": quantity,
                    "unit": _money(left.item / quantity, cur) if quantity else "-",
                    "left": _money(left.item, cur),
                    "quantity_value": values.get(f"quantity_{line.pk}", ""),
                    "amount_value": values.get(f"amount_{line.pk}", ""),
                    # Refunding the line waits for Amazon's split of its tax (refunds.policy).
                    "tax_split_message": (
                        policy.tax_split_pending_message(state.label, asking=asking)
                        if state.tax_split_unknown
                        else ""
                    ),
                }
            )
        shipping_left = sum(
            (s.refundable(per_unit, cur).shipping_total for s in money.lines.values()),
            Decimal(0),
        )
        suggested = sum(
            (s.refundable(per_unit, cur).total for s in money.lines.values()), Decimal(0)
        )
        return self._render(
            request,
            "refunds/portal/refund_form.html",
            _("Refund order %(external_id)s") % {"external_id": order.external_id},
            {
                "order": order,
                "offer": offer,
                "rows": rows,
                "currency": cur,
                "paid": _money(money.paid_total, cur),
                "refunded": _money(money.refunded_total, cur),
                "balance": _money(money.balance, cur),
                "shipping_left": _money(shipping_left, cur),
                "suggested": _money(min(suggested, money.balance), cur),
                "reasons": [r.value for r in policy.AdjustmentReason],
                "reason_value": values.get("reason", policy.AdjustmentReason.CUSTOMER_RETURN),
                "shipping_value": values.get("shipping_amount", ""),
                "note_value": values.get("note", ""),
                "token": values.get("token") or uuid.uuid4().hex,
                "order_url": _order_url(order.pk),
                "charged_per_shipped_unit": per_unit,
            },
        )

    def _create_refund(self, request: HttpRequest, order: Order) -> Refund | None:
        lines = []
        problems = []
        for line in order.lines.order_by("id"):
            raw_quantity = request.POST.get(f"quantity_{line.pk}", "").strip()
            raw_amount = request.POST.get(f"amount_{line.pk}", "").strip()
            if not raw_quantity and not raw_amount:
                continue
            quantity = int(raw_quantity) if raw_quantity.isdigit() else None
            if raw_quantity and quantity is None:
                problems.append(f"{line.sku}: the quantity must be a whole number.")
                continue
            amount = policy.parse_amount(raw_amount) if raw_amount else None
            if raw_amount and amount is None:
                problems.append(f'{line.sku}: the amount must be a number, like "12.50".')
                continue
            if (quantity or 0) == 0 and amount is None:
                continue
            lines.append(policy.RequestedLine(line.pk, quantity or 0, amount))
        raw_shipping = request.POST.get("shipping_amount", "").strip()
        shipping = policy.parse_amount(raw_shipping) if raw_shipping else None
        if raw_shipping and shipping is None:
            problems.append(_('Shipping: the amount must be a number, like "4.99".'))
        if problems:
            for problem in problems:
                messages.error(request, problem)
            return None
        token = request.POST.get("token", "")[:64]
        try:
            refund = services.create_refund(
                order.pk,
                actor=services.Actor.user(request.user),
                lines=lines,
                shipping_amount=shipping,
                reason=request.POST.get("reason") or policy.AdjustmentReason.CUSTOMER_RETURN,
                note=request.POST.get("note", "").strip()[:2000],
                idempotency_key=f"portal:{request.user.pk}:{token}" if token else "",
            )
        except DomainError as exc:
            messages.error(request, localize(exc.message))
            return None
        messages.success(
            request,
            _("Refund of %(money)s created") % {"money": _money(refund.total, refund.currency)}
            + (
                _(": it succeeds once Amazon accepts it.")
                if refund.amazon_sync == AmazonSync.PENDING
                else f". {refund.failure_message}"
                if refund.failure_message
                else "."
            ),
        )
        return refund

    def cancel_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        """The cancel dialog: Amazon's reasons, the items, the refund (R7, pre-filled with all
        the cancelled items and their shipping cost) and a note. ``?buyer=1``: "Cancel as
        requested by buyer" (B4), with the buyer-cancel reason and the full refund."""
        order = self._order(request, order_id)
        can_change = self.portal_can(request, Capability.CHANGE, order)
        buyer = (request.GET.get("buyer") or request.POST.get("buyer")) == "1"
        all_offers = offers(order, can_change=can_change)
        offer = all_offers["cancel_as_requested" if buyer else "cancel"]
        values = request.POST if request.method == "POST" else {}
        if request.method == "POST":
            if not can_change:
                messages.error(request, READ_ONLY_REASON)
                return HttpResponseRedirect(_order_url(order.pk))
            chosen = [int(v) for v in request.POST.getlist("line") if v.isdigit()]
            raw_refund = request.POST.get("refund", "").strip()
            refund_amount = policy.parse_amount(raw_refund) if raw_refund else None
            token = request.POST.get("token", "")[:64]
            try:
                if raw_refund and refund_amount is None:
                    raise errors.InvalidAmount(_('The refund must be a number, like "12.50".'))
                created = services.cancel_order(
                    order.pk,
                    actor=services.Actor.user(request.user),
                    reason=policy.BUYER_REQUESTED
                    if buyer
                    else request.POST.get("reason", "").strip(),
                    refund=refund_amount,
                    note=request.POST.get("note", "").strip()[:2000],
                    lines=chosen or None,
                    idempotency_key=f"portal:{request.user.pk}:{token}" if token else "",
                )
            except DomainError as exc:
                messages.error(request, localize(exc.message))
            else:
                messages.success(
                    request,
                    _("Cancellation with a refund of %(money)s recorded")
                    % {"money": _money(created.total, created.currency)}
                    + (
                        _(": it takes effect once Amazon accepts it.")
                        if created.amazon_sync == AmazonSync.PENDING
                        else f". {created.failure_message}"
                        if created.failure_message
                        else "."
                    ),
                )
                return HttpResponseRedirect(_order_url(order.pk))
        money = selectors.order_money(order)
        cur = order.currency
        open_lines = [
            {
                "line": line,
                "open": money.lines[line.pk].open_quantity,
                "value": _money(
                    money.lines[line.pk].cancellable(money.lines[line.pk].open_quantity, cur).total,
                    cur,
                ),
                "buyer_asked": line.buyer_cancel_requested,
            }
            for line in order.lines.order_by("id")
            if money.lines[line.pk].open_quantity > 0
        ]
        flagged = [row["line"].pk for row in open_lines if row["buyer_asked"]] if buyer else []
        suggested = policy.suggested_cancellation_refund(money, flagged or None)
        return self._render(
            request,
            "refunds/portal/cancel_form.html",
            ("Cancel as requested by buyer: " if buyer else "Cancel order ") + order.external_id,
            {
                "order": order,
                "offer": offer,
                "buyer": buyer,
                "reasons": CANCEL_REASON_LABELS,
                "reason_value": values.get("reason", ""),
                "open_lines": open_lines,
                "flagged": flagged,
                "currency": cur,
                "suggested": f"{suggested:f}",
                "refund_value": values.get("refund") or f"{policy.quantize(suggested, cur):f}",
                "note_value": values.get("note", ""),
                "token": values.get("token") or uuid.uuid4().hex,
                "order_url": _order_url(order.pk),
            },
        )

    def decline_view(self, request: HttpRequest, order_id: int) -> HttpResponseRedirect:
        order = self._order(request, order_id)
        if not self.portal_can(request, Capability.CHANGE, order):
            messages.error(request, READ_ONLY_REASON)
        else:
            try:
                services.decline_buyer_cancellation(
                    order.pk,
                    actor=services.Actor.user(request.user),
                    reason=request.POST.get("reason", "")[:2000],
                )
            except DomainError as exc:
                messages.error(request, localize(exc.message))
            else:
                messages.success(request, _("Declined: ship the order. The reason is recorded."))
        return HttpResponseRedirect(_order_url(order.pk))

    def send_again_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        refund = self.get_scoped_object_or_404(request, object_id)
        if not self.portal_can(request, Capability.CHANGE, refund):
            messages.error(request, READ_ONLY_REASON)
        else:
            try:
                services.send_again(refund.pk, actor=services.Actor.user(request.user))
            except DomainError as exc:
                messages.error(request, localize(exc.message))
            else:
                messages.success(
                    request, _("%(refund)s is being sent to Amazon.") % {"refund": refund}
                )
        back = request.POST.get("next") or ""
        if not back.startswith("/") or back.startswith("//"):
            back = _order_url(refund.order_id)
        return HttpResponseRedirect(back)


@admin.register(Refund)
class RefundStaffAdmin(ReadOnlyStaffAdminMixin, ModelAdmin):
    """Staff (superusers, across tenants): read-only."""

    icon = "currency_exchange"
    list_display = ["__str__", "merchant", "order", "status", "total", "currency", "amazon_sync"]
    list_filter = ["status", "kind", "amazon_sync", "origin"]
    search_fields = ["order__external_id"]
    list_select_related = ["merchant", "order"]
