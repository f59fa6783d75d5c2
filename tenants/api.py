"""Merchants in the partner API: `GET /api/v1/merchants/` and `GET /api/v1/merchants/{id}/`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
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


class AmazonBackfillSerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="How far back the backfill reads.")
    pages = serializers.IntegerField()
    orders = serializers.IntegerField()
    progress = serializers.FloatField(
        help_text="0 to 1: the share of the backfill's time range read so far."
    )
    eta_seconds = serializers.IntegerField(
        allow_null=True, help_text="Estimated time left, from the time spent so far."
    )
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class AmazonSyncSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    name = serializers.CharField()
    status = serializers.CharField(help_text="The account: active, paused, auth_failed, ...")
    phase = serializers.CharField(
        help_text="backfilling, live, not_started, or the account's status when not active."
    )
    synced_until = serializers.DateTimeField(
        allow_null=True, help_text="Every change Amazon made before this time is here."
    )
    last_success_at = serializers.DateTimeField(allow_null=True)
    next_sync_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    backfill = AmazonBackfillSerializer(allow_null=True)
    notifications_subscribed = serializers.BooleanField(
        help_text="Amazon pushes this account's order changes (ORDER_CHANGE) to Keelson."
    )
    last_notification_at = serializers.DateTimeField(
        allow_null=True, help_text="When the last order-change notification arrived."
    )


class MerchantSerializer(serializers.ModelSerializer):
    agency = AgencyRefSerializer(read_only=True)
    settings = MerchantSettingsSerializer(source="*", read_only=True)
    amazon_sync = serializers.SerializerMethodField(
        help_text="The order sync of each Amazon account: phase and backfill progress."
    )

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
            "amazon_sync",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AmazonSyncSerializer(many=True))
    def get_amazon_sync(self, merchant: Merchant) -> list[dict]:
        # One query for the whole page of merchants (the context is shared by the list).
        by_merchant = self.context.get("_amazon_sync")
        if by_merchant is None:
            from orders.selectors import amazon_sync_statuses

            by_merchant = {}
            for status in amazon_sync_statuses():
                by_merchant.setdefault(status.merchant_id, []).append(status)
            self.context["_amazon_sync"] = by_merchant
        return AmazonSyncSerializer(by_merchant.get(merchant.pk, []), many=True).data


@extend_schema_view(
    list=extend_schema(
        summary="List the merchants this key may see",
        description=(
            "An agency key sees every active merchant of its agency; a merchant key sees its "
            "merchant. Any scope will do."
        ),
    ),
    retrieve=extend_schema(summary="Get a merchant"),
)
class MerchantViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MerchantSerializer
    required_scope = ANY_SCOPE

    def get_queryset(self):
        return merchants_in_scope()
