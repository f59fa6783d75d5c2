"""The portal's view of the outbox: every external effect of the merchants in scope, where it
is (pending, sent, failed), its last error, and a retry action for failed ones."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from integrations.outbox.errors import UnknownMessageKind
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.registry import handler_for
from integrations.outbox.services import retry_message
from tenants.admin import TenantScopedAdminMixin, status_label

STATUS_VARIANT = {"pending": "info", "sent": "success", "failed": "danger", "cancelled": "default"}


class OutboxMessagePortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    icon = "outbox"
    list_display = [
        "__str__",
        "destination",
        "order_link",
        "status_badge",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["kind", "order__external_id", "idempotency_key"]
    list_select_related = ["order"]
    ordering = ["-id"]
    actions = ["retry_failed"]
    fields = [
        "kind",
        "destination",
        "order_link",
        "status",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "last_error_code",
        "last_error",
        "result",
        "idempotency_key",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().changeform_view(request, object_id, form_url, extra)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        # Its str ("kind #12 (status)") finds #12.
        if "#" in term:
            number = term.split("#", 1)[1].split()[0]
            if number.isdigit():
                return queryset.filter(pk=int(number)), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description="Destination")
    def destination(self, obj: OutboxMessage) -> str:
        """Where the message goes ("Amazon", "Shopify", the fulfillment service)."""
        try:
            return handler_for(obj.kind).destination
        except UnknownMessageKind:
            return "-"

    @admin.display(description="Order", ordering="order__external_id")
    def order_link(self, obj: OutboxMessage) -> str:
        if obj.order_id is None:
            return "-"
        url = reverse("portal:orders_order_change", args=[obj.order_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.order)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: OutboxMessage) -> str:
        return status_label(obj.get_status_display(), STATUS_VARIANT.get(obj.status))

    @admin.action(description="Retry the selected failed messages", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for message in queryset.filter(status=OutboxStatus.FAILED):
            retry_message(message=message)
            retried += 1
        if retried:
            self.message_user(request, f"Sending {retried} message(s) again.", messages.SUCCESS)
        else:
            self.message_user(request, "No failed message was selected.", messages.WARNING)
