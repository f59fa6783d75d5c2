"""List filters of the portal's order list."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from foundation import clock
from orders.attention import (
    OVERDUE,
    attention_conditions,
    local_days_filter,
    merchant_zones,
    overdue_deadline_filter,
    upcoming_deadline_filter,
)
from tenants.request_scope import request_scope


class AttentionFilter(admin.SimpleListFilter):
    """Orders that need the merchant: the dashboard's cards link here (A3, A9, B1, A1)."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("unshipped", _("Unshipped (ship or cancel)")),
            ("at_risk", _("At risk: confirm shipment soon")),
            ("late", _("Late: past the ship-by date")),
            ("buyer_cancel", _("Buyer asked to cancel")),
            ("pending", _("Pending at Amazon")),
        ]

    def queryset(self, request, queryset):
        condition = attention_conditions(clock.now()).get(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset


class _LocalDayFilter(admin.SimpleListFilter):
    """A day of the dashboard's charts (``?<parameter>=YYYY-MM-DD``), in each order's merchant's
    own time zone, exactly as the chart counted it (orders.dashboard). Listed only while set,
    so the list says which day it shows and the filter can be cleared."""

    field_name = ""
    extra: tuple[tuple[str, str], ...] = ()

    def day(self):
        from datetime import date

        try:
            return date.fromisoformat(self.value() or "")
        except ValueError:
            return None

    def describe(self, day) -> str:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        value = self.value()
        if value in dict(self.extra):
            return list(self.extra)
        day = self.day()
        return [(value, self.describe(day))] if day is not None else []

    def condition(self, request, day) -> Q:
        zones = merchant_zones(request_scope(request))
        return local_days_filter(self.field_name, day, day, zones)

    def queryset(self, request, queryset):
        day = self.day()
        if day is None:
            return queryset
        return queryset.filter(self.condition(request, day))


class PurchasedOnFilter(_LocalDayFilter):
    """Orders placed on a day (the dashboard's "Orders per day" bars)."""

    title = _("placed on")
    parameter_name = "purchased_on"
    field_name = "purchase_date"

    def describe(self, day) -> str:
        return day.strftime("%a %d %b %Y")


class ConfirmByOnFilter(_LocalDayFilter):
    """Open, unconfirmed orders whose A8 confirm-by deadline falls on a day and is still ahead,
    or ``overdue``: already past it (the dashboard's deadline chart)."""

    title = _("confirm shipment by")
    parameter_name = "confirm_by_on"
    field_name = "confirm_by"
    extra = (("overdue", _("Past the deadline (Amazon cancels)")),)

    def describe(self, day) -> str:
        return day.strftime("%a %d %b %Y")

    def queryset(self, request, queryset):
        if self.value() == OVERDUE:
            return queryset.filter(overdue_deadline_filter(clock.now()))
        day = self.day()
        if day is None:
            return queryset
        upcoming = upcoming_deadline_filter(clock.now())
        return queryset.filter(upcoming & self.condition(request, day))
