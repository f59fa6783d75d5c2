"""The portal's fulfillment pages: fulfillment orders (a list, and the actions on one), and what
fulfillment adds to the order admin (``OrderFulfillmentAdminMixin``, composed by the portal):
the fulfillment panel of the order page, "Request fulfillment" and "Mark as fulfilled", the
Amazon confirmation column and filter, and the A7 bulk shipment confirmation.

Every button calls one service (fulfillment/services.py) as the logged-in person; what is
offered comes from the same decisions the services enforce (the transition table and the order
policy), so a button is absent when the action does not apply, or shown disabled with the
reason when a rule refuses it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import admin, messages
from django.db import router, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from foundation import clock
from foundation.api.errors import DomainError
from foundation.i18n import localize
from fulfillment import selectors, services, workflow
from fulfillment.models import (
    AmazonConfirmation,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentService,
)
from fulfillment.service_admin import FulfillmentServicePortalAdmin
from fulfillment.services import Actor
from fulfillment.workflow import Action, Side
from orders import policy
from orders import selectors as order_selectors
from orders.admin import READ_ONLY_REASON
from orders.models import Order
from tenants.admin import (
    UNSCOPED_RELATED_MODELS,
    ReadOnlyStaffAdminMixin,
    TenantScopedAdminMixin,
    status_label,
)
from tenants.policy import Capability

# Services are a tenancy table; a list filter on them shows only those of the rows listed.
UNSCOPED_RELATED_MODELS.add(FulfillmentService)

STATUS_VARIANT = {
    "open": "info",
    "on_hold": "warning",
    "in_progress": "primary",
    "closed": "success",
    "incomplete": "warning",
    "cancelled": "default",
}
REQUEST_VARIANT = {
    "unsubmitted": "default",
    "submitted": "info",
    "accepted": "primary",
    "rejected": "danger",
    "cancellation_requested": "warning",
    "cancellation_accepted": "default",
    "cancellation_rejected": "warning",
    "closed": "success",
}


@dataclass
class Button:
    action: str
    label: str
    url: str
    allowed: bool
    reason: str | None = None
    note_label: str | None = None
    danger: bool = False
    confirm: str | None = None  # a checkbox the person must tick (F10)
    lines: list = field(default_factory=list)  # per-line choice (F10)


@dataclass
class FulfillmentOrderPanel:
    fo: FulfillmentOrder
    lines: list
    status_badge: str
    request_badge: str
    waiting: str | None
    buttons: list[Button]
    fulfillments: list


def _act_url(fo: FulfillmentOrder, action: str) -> str:
    return reverse("portal:fulfillment_fulfillmentorder_act", args=[fo.pk, action])


def _side_decision(fo: FulfillmentOrder, action: Action, shipped: bool) -> workflow.Decision:
    return workflow.decide(
        action,
        Side.MERCHANT,
        fo.workflow,
        fo.state,
        workflow.Facts(shipped=shipped, remains=True),
        service_name=fo.service.name,
    )


def fulfillment_panels(
    order: Order, *, can_change: bool, read_only_reason: str, now: datetime | None = None
) -> list[FulfillmentOrderPanel]:
    """The order's fulfillment orders with what the merchant may do on each now."""
    now = now or clock.now()
    request_decision = policy.allowed_actions(order_selectors.order_times(order), now)[
        policy.Action.REQUEST_FULFILLMENT
    ]
    panels = []
    for fo in selectors.order_fulfillment_orders(order):
        shipped = fo.fulfillments.exists()
        buttons: list[Button] = []
        state = fo.state
        if state in workflow.NOT_REQUESTED_STATES:
            decision = _side_decision(fo, Action.SUBMIT, shipped)
            allowed, reason = decision.allowed, decision.reason
            if allowed and not request_decision.allowed:
                if request_decision.code != policy.FULFILLMENT_REQUEST_IN_PROGRESS:
                    allowed, reason = False, request_decision.reason
            buttons.append(
                Button(
                    "submit_request",
                    _("Request fulfillment from %(service)s") % {"service": fo.service.name},
                    _act_url(fo, "submit_request"),
                    allowed,
                    reason,
                    note_label=_("Note to the service (optional)"),
                )
            )
        if state in workflow.ACTIVE_REQUEST_STATES:
            decision = _side_decision(fo, Action.CANCEL, shipped)
            label = (
                _("Cancel the request")
                if state in (workflow.SUBMITTED, workflow.SUBMITTED_LEGACY)
                else _("Ask the service to cancel")
            )
            reason = decision.reason
            if state == workflow.CANCELLATION_REQUESTED:
                reason = _("Waiting for %(service)s to answer the cancellation request.") % {
                    "service": fo.service.name
                }
            buttons.append(
                Button(
                    "cancel_request",
                    label,
                    _act_url(fo, "cancel_request"),
                    decision.allowed,
                    reason,
                    note_label=_("Note to the service, never to the buyer (optional)"),
                    danger=True,
                )
            )
            revert = _side_decision(fo, Action.REVERT, shipped)
            buttons.append(
                Button(
                    "revert_to_unfulfilled",
                    _("Revert to unfulfilled"),
                    _act_url(fo, "revert_to_unfulfilled"),
                    revert.allowed,
                    revert.reason,
                    note_label=_("Note (optional)"),
                    danger=True,
                    confirm=(
                        f"I confirmed with {fo.service.name} that it cancelled these items "
                        "(F10). Check your inventory afterwards."
                    ),
                    lines=[line for line in fo.lines.all() if line.remaining_quantity],
                )
            )
        if can_change:
            buttons.append(
                Button("note", _("Add a note"), _act_url(fo, "note"), True, note_label="Note")
            )
        else:
            for button in buttons:
                button.allowed, button.reason = False, read_only_reason
        waiting = None
        if state == workflow.SUBMITTED:
            waiting = _("Waiting for %(service)s to accept or reject the request.") % {
                "service": fo.service.name
            }
        elif state == workflow.CANCELLATION_REQUESTED:
            waiting = _("Waiting for %(service)s to answer the cancellation request.") % {
                "service": fo.service.name
            }
        elif state == workflow.ON_HOLD:
            waiting = _("On hold while Amazon verifies the order (A1).")
        panels.append(
            FulfillmentOrderPanel(
                fo=fo,
                lines=list(fo.lines.all()),
                status_badge=status_label(fo.get_status_display(), STATUS_VARIANT.get(fo.status)),
                request_badge=status_label(
                    fo.get_request_status_display(), REQUEST_VARIANT.get(fo.request_status)
                ),
                waiting=waiting,
                buttons=buttons,
                fulfillments=list(fo.fulfillments.all()),
            )
        )
    return panels


def _lines_from_post(request: HttpRequest) -> list[tuple[int, int | None]] | None:
    """Per-line choice (``line`` checkboxes, optional ``quantity_<id>``); None when none."""
    chosen = request.POST.getlist("line")
    if not chosen:
        return None
    out = []
    for raw in chosen:
        if not raw.isdigit():
            continue
        quantity = request.POST.get(f"quantity_{raw}", "")
        out.append((int(raw), int(quantity) if quantity.isdigit() and int(quantity) else None))
    return out or None


def shipment_from_post(request: HttpRequest) -> services.ShipmentInput:
    ship_date = parse_datetime(request.POST.get("ship_date", "") or "")
    if ship_date is not None and timezone.is_naive(ship_date):
        ship_date = timezone.make_aware(ship_date, timezone.get_current_timezone())
    return services.ShipmentInput(
        tracking_number=request.POST.get("tracking_number", "").strip(),
        carrier=request.POST.get("carrier", "").strip(),
        ship_date=ship_date,
        notify_customer=request.POST.get("notify_customer") == "on",
    )


def report(request: HttpRequest, run, success: str) -> bool:
    """Run a service call; show its outcome (or the rule that refused it) as a message."""
    try:
        result = run()
    except DomainError as exc:
        messages.error(request, localize(exc.message))
        return False
    messages.success(request, success if not callable(success) else success(result))
    return True


class FulfillmentOrderPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    """Fulfillment orders of the merchants in scope. Actions happen on the order page (or
    here, on one fulfillment order); both post to ``act``."""

    icon = "local_shipping"
    list_display = [
        "__str__",
        "order_link",
        "service",
        "status_badge",
        "request_badge",
        "submitted_at",
        "updated_at",
    ]
    list_filter = ["status", "request_status", "service"]
    search_fields = ["order__external_id", "service__name"]
    list_select_related = ["order", "service"]
    ordering = ["-id"]
    readonly_fields = [
        "order_link",
        "service",
        "workflow",
        "status",
        "request_status",
        "request_note",
        "response_message",
        "cancellation_note",
        "cancellation_response",
        "auto_requested",
        "submitted_at",
        "accepted_at",
        "closed_at",
        "created_at",
    ]
    fields = readonly_fields
    change_form_outer_after_template = "fulfillment/portal/fulfillment_order_panel.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        # "Fulfillment order #12" (its str) finds #12; an order number finds its FOs.
        term = search_term.strip().removeprefix("Fulfillment order #").strip()
        if term.isdigit():
            return queryset.filter(pk=int(term)) | queryset.filter(
                order__external_id__istartswith=term
            ), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("Order"), ordering="order__external_id")
    def order_link(self, obj: FulfillmentOrder) -> str:
        from django.utils.html import format_html

        url = reverse("portal:orders_order_change", args=[obj.order_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.order)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: FulfillmentOrder) -> str:
        return status_label(obj.get_status_display(), STATUS_VARIANT.get(obj.status))

    @admin.display(description=_("Request"), ordering="request_status")
    def request_badge(self, obj: FulfillmentOrder) -> str:
        return status_label(
            obj.get_request_status_display(), REQUEST_VARIANT.get(obj.request_status)
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        if object_id:
            fo = self.get_object(request, object_id)
            if fo is not None:
                can_change = self.portal_can(request, Capability.CHANGE, fo)
                extra["fulfillment_panels"] = [
                    panel
                    for panel in fulfillment_panels(
                        fo.order,
                        can_change=can_change,
                        read_only_reason=READ_ONLY_REASON,
                    )
                    if panel.fo.pk == fo.pk
                ]
        return super().changeform_view(request, object_id, form_url, extra)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/act/<str:action>/",
                self.admin_site.admin_view(require_POST(self.act)),
                name="fulfillment_fulfillmentorder_act",
            ),
            *super().get_urls(),
        ]

    def act(self, request: HttpRequest, object_id: str, action: str) -> HttpResponseRedirect:
        fo = self.get_object(request, object_id)
        if fo is None:
            raise Http404(_("No such fulfillment order."))
        back = request.POST.get("next") or (
            reverse("portal:orders_order_change", args=[fo.order_id]) + "#fulfillment"
        )
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        if not self.portal_can(request, Capability.CHANGE, fo):
            messages.error(request, READ_ONLY_REASON)
            return HttpResponseRedirect(back)
        actor = Actor.user(request.user)
        note = request.POST.get("note", "").strip()[:2000]
        name = fo.service.name
        if action == "submit_request":
            report(
                request,
                lambda: services.submit_request(fo.pk, actor=actor, note=note),
                _("Fulfillment requested from %(name)s.") % {"name": name},
            )
        elif action == "cancel_request":
            report(
                request,
                lambda: services.cancel_request(fo.pk, actor=actor, note=note),
                lambda result: (
                    _("Asked %(name)s to cancel: waiting for its answer.") % {"name": name}
                    if result.request_status == "cancellation_requested"
                    else _("Request cancelled: the order is unfulfilled again.")
                ),
            )
        elif action == "revert_to_unfulfilled":
            if request.POST.get("confirmed") != "on":
                messages.error(
                    request,
                    _("Confirm with %(name)s that it cancelled first, then tick the box.")
                    % {"name": name},
                )
            else:
                report(
                    request,
                    lambda: services.revert_to_unfulfilled(
                        fo.pk, actor=actor, lines=_lines_from_post(request), note=note
                    ),
                    lambda result: (
                        _("Reverted to unfulfilled. %(reminder)s")
                        % {"reminder": localize(result[1])}
                    ),
                )
        elif action == "note":
            report(
                request,
                lambda: services.add_note(fo.pk, actor=actor, message=note),
                _("Note added to the timeline."),
            )
        else:
            raise Http404(_("No such action."))
        return HttpResponseRedirect(back)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The merchant too: its column is shown in a multi-merchant scope, and a queryset that
        # already joins something gets no list_select_related from the changelist.
        return super().get_queryset(request).select_related("order", "service", "merchant")


class AmazonConfirmationFilter(admin.SimpleListFilter):
    """Where the orders' shipment confirmations to Amazon are (A7's progress)."""

    title = _("Amazon confirmation")
    parameter_name = "amazon_confirmation"

    def lookups(self, request, model_admin):
        return [
            ("pending", _("Queued")),
            ("failed", _("Failed")),
            ("confirmed", _("Confirmed")),
            ("none", _("Nothing sent")),
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


class OrderFulfillmentAdminMixin:
    """Fulfillment's part of the portal's order admin (``orders.admin.OrderPortalAdmin``)."""

    @admin.display(description=_("Amazon confirmation"))
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

    def order_context(self, request: HttpRequest, order: Order) -> dict:
        context = super().order_context(request, order)
        now, can_change = context["now"], context["can_change"]
        actions = context["assessment"].actions
        context.update(
            fulfillment_panels=fulfillment_panels(
                order, can_change=can_change, read_only_reason=READ_ONLY_REASON, now=now
            ),
            fulfillments=selectors.order_fulfillments(order),
            request_decision=self.decision(actions[policy.Action.REQUEST_FULFILLMENT], can_change),
            fulfil_decision=self.decision(actions[policy.Action.MARK_FULFILLED], can_change),
            has_services=bool(selectors.active_locations([order.merchant_id])),
            request_url=reverse("portal:orders_order_request_fulfillment", args=[order.pk]),
            fulfil_url=reverse("portal:orders_order_mark_fulfilled", args=[order.pk]),
        )
        context["order_sections"].append("fulfillment/portal/order_fulfillment.html")
        return context

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

    def request_fulfillment_view(self, request: HttpRequest, object_id: str):
        order = self.acting_on(request, object_id)
        if order is not None:
            actor = services.Actor.user(request.user)
            note = request.POST.get("note", "").strip()[:2000]
            report(
                request,
                lambda: services.request_fulfillment(order.pk, actor=actor, note=note),
                lambda fos: (
                    "Fulfillment requested from "
                    + ", ".join(sorted({fo.service.name for fo in fos}))
                    + "."
                ),
            )
        return self.back_to_order(object_id, "fulfillment")

    def mark_fulfilled_view(self, request: HttpRequest, object_id: str):
        """F11: mark fulfilled (the whole order), optionally with tracking; R4 for Amazon."""
        order = self.acting_on(request, object_id)
        if order is not None:
            actor = services.Actor.user(request.user)
            shipment = shipment_from_post(request)
            suffix = (
                " No notification was sent to the buyer: Amazon notifies its buyers (R4)."
                if order.is_amazon
                else ""
            )
            report(
                request,
                lambda: services.fulfil_order(order.pk, actor=actor, shipment=shipment),
                _("Marked as fulfilled")
                + (" and queued for confirmation on Amazon." if order.is_amazon else ".")
                + suffix,
            )
        return self.back_to_order(object_id, "fulfillment")

    # -- the bulk shipment confirmation (A7) ----------------------------------------------------

    @admin.action(description=_("Confirm shipment on Amazon (A7)"), permissions=["change"])
    def confirm_shipments_on_amazon(self, request: HttpRequest, queryset: QuerySet):
        """Failed confirmations are sent again; orders not fulfilled yet are fulfilled with the
        tracking number and carrier given on the next page, and confirmed."""
        orders = list(queryset.order_by("-purchase_date")[:500])
        ids = [o.pk for o in orders]
        if request.POST.get("apply") == "yes":
            shipment = shipment_from_post(request)
            result = services.confirm_shipments(
                ids,
                actor=services.Actor.user(request.user),
                shipment=shipment if shipment.tracking_number else None,
            )
            progress = selectors.confirmation_progress(ids)
            self.message_user(
                request,
                _(
                    "Fulfilled and queued for Amazon: %(queued)s; failed confirmations sent "
                    "again: %(retried)s; already queued or confirmed: %(already)s; skipped: "
                    "%(skipped)s. Amazon confirmations now: %(pending)s queued, %(confirmed)s "
                    "confirmed, %(failed)s failed (filter the list by Amazon confirmation to "
                    "follow them)."
                )
                % {
                    "queued": result.queued,
                    "retried": result.retried,
                    "already": result.already,
                    "skipped": len(result.skipped),
                    "pending": progress["pending"],
                    "confirmed": progress["confirmed"],
                    "failed": progress["failed"],
                },
                messages.SUCCESS if not result.skipped else messages.WARNING,
            )
            for number, reason in list(result.skipped.items())[:20]:
                self.message_user(request, f"{number}: {localize(reason)}", messages.WARNING)
            return None
        fulfilled = selectors.fulfilled_quantities(ids)
        rows = []
        for order in orders:
            lines = list(order.lines.all())
            open_quantity = sum(selectors.unfulfilled_quantity(line, fulfilled) for line in lines)
            rows.append({"order": order, "open_quantity": open_quantity})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Confirm shipment on Amazon"),
            "opts": self.opts,
            "rows": rows,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action": "confirm_shipments_on_amazon",
            "needs_tracking": any(r["open_quantity"] for r in rows),
            "progress": selectors.confirmation_progress(ids),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "fulfillment/portal/confirm_shipments.html", context)


@admin.register(FulfillmentOrder)
class FulfillmentOrderStaffAdmin(ReadOnlyStaffAdminMixin, ModelAdmin):
    """Staff (superusers, across tenants): read-only."""

    icon = "local_shipping"
    list_display = ["__str__", "merchant", "order", "service", "status", "request_status"]
    list_filter = ["status", "request_status"]
    search_fields = ["order__external_id"]
    list_select_related = ["merchant", "order", "service"]


@admin.register(FulfillmentService)
class FulfillmentServiceStaffAdmin(ModelAdmin):
    """Staff set up services (the signing secret stays write-only; keys are issued with
    ``fulfillment.services.issue_service_api_key``)."""

    icon = "warehouse"
    list_display = [
        "name",
        "agency",
        "merchant",
        "workflow",
        "callback_url",
        "is_active",
        "connection_status",
    ]
    list_filter = ["workflow", "is_active", "connection_status"]
    search_fields = ["name"]
    fields = ["name", "agency", "merchant", "workflow", "callback_url", "is_active", "api_key"]
    # ``is_active`` changes only through the use cases: deactivating is refused while requests
    # are open and moves unassigned work on (fulfillment/services/connections.py).
    readonly_fields = ["agency", "merchant", "is_active", "api_key"]
    actions = ["deactivate"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Deactivate (refused while requests are open)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        for service in queryset.order_by("name", "id"):
            try:
                # One transaction per service: the use case locks its orders and the service.
                with transaction.atomic(using=router.db_for_write(FulfillmentService)):
                    withdrawal = services.deactivate_fulfillment_service(
                        service, actor=Actor.user(request.user)
                    )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            if not withdrawal.changed:
                text = gettext("%(name)s was already inactive.") % {"name": service.name}
            else:
                text = FulfillmentServicePortalAdmin.withdrawal_text(
                    withdrawal,
                    gettext(
                        "%(name)s is deactivated: no more requests go to it and its API key is "
                        "revoked. Its owner reactivates it in the portal, which shows the new key."
                    )
                    % {"name": service.name},
                )
            self.message_user(request, text, messages.SUCCESS)
