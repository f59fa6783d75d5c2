"""Merchants in the partner API: `GET /api/v1/merchants/` and `GET /api/v1/merchants/{id}/`,
as tenancy knows them; orders/api.py adds each merchant's Amazon order sync and the URL root
routes to that view."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from tenants.api_auth import ANY_SCOPE
from tenants.models import Agency, Merchant
from tenants.selectors import merchants_in_scope


class AgencyRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agency
        fields = ["id", "name"]
        read_only_fields = fields


class MerchantSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = Merchant
        fields = ["auto_request_fulfillment", "deadline_warning_days"]
        read_only_fields = fields


class BaseMerchantSerializer(serializers.ModelSerializer):
    """The merchant as tenancy knows it; the API's ``MerchantSerializer`` (orders/api.py) adds
    the order sync of its Amazon accounts."""

    agency = AgencyRefSerializer(read_only=True)
    settings = MerchantSettingsSerializer(source="*", read_only=True)

    class Meta:
        model = Merchant
        fields = [
            "id",
            "name",
            "slug",
            "agency",
            "time_zone",
            "default_currency",
            "settings",
            "created_at",
        ]
        read_only_fields = fields


class BaseMerchantViewSet(viewsets.ReadOnlyModelViewSet):
    """The merchants an API key may see; routed, with their order sync, as
    ``orders.api.MerchantViewSet``."""

    serializer_class = BaseMerchantSerializer
    required_scope = ANY_SCOPE

    def get_queryset(self):
        return merchants_in_scope()
