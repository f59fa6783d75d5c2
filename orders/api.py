"""Orders in the partner API (api.md): list with filters, detail, and the timeline."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers

from foundation import clock
from foundation.api.filters import (
    IntegerFilter,
    StrictBooleanFilter,
    StrictFilterSet,
    TextFilter,
    UtcDateTimeFilter,
)
from foundation.api.pagination import CursorPagination
from foundation.api.serializers import DirectRepresentation, FieldsBuiltOnce
from foundation.i18n import localize
from orders import api_sections, selectors
from orders.models import (
    AmazonOrderStatus,
    Channel,
    FinancialStatus,
    FulfillmentStatus,
    Order,
    OrderEvent,
    OrderLine,
    ShopifyState,
)
from tenants import api as tenants_api
from tenants.api_auth import HasScope
from tenants.models import Merchant


class OrderLineSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "external_id",
            "sku",
            "asin",
            "title",
            "quantity_ordered",
            "quantity_shipped",
            "item_price",
            "item_tax",
            "shipping_price",
            "shipping_tax",
            "promotion_discount",
            "buyer_cancel_requested",
            "buyer_cancel_reason",
            "tax_split_pending",
        ]


class DeadlinesSerializer(FieldsBuiltOnce, serializers.Serializer):
    ship_by = serializers.DateTimeField(allow_null=True)
    confirm_by = serializers.DateTimeField(allow_null=True)
    warn_at = serializers.DateTimeField(allow_null=True)
    verify_by = serializers.DateTimeField(allow_null=True)


class FlagsSerializer(FieldsBuiltOnce, serializers.Serializer):
    in_buyer_cancel_hold = serializers.BooleanField()
    hold_ends_at = serializers.DateTimeField(allow_null=True)
    pending_too_long = serializers.BooleanField()
    is_late = serializers.BooleanField()
    is_at_risk = serializers.BooleanField()
    expected_auto_cancel = serializers.BooleanField()
    buyer_cancel_requested = serializers.BooleanField()


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    allowed = serializers.BooleanField()
    code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    rule = serializers.CharField(allow_null=True)


class OrderSerializer(FieldsBuiltOnce, DirectRepresentation, serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id", read_only=True)
    order_number = serializers.CharField(source="external_id", read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "merchant",
            "channel",
            "order_number",
            "marketplace_id",
            "sales_channel",
            "status",
            "fulfillment_channel",
            "fulfillment_status",
            "financial_status",
            "is_prime",
            "is_business_order",
            "purchase_date",
            "source_updated_at",
            "latest_ship_date",
            "currency",
            "total_amount",
            "buyer_name",
            "buyer_cancel_requested",
            "buyer_cancel_reason",
            "created_at",
            "updated_at",
        ]


class ShopifyMirrorSerializer(FieldsBuiltOnce, serializers.Serializer):
    """The order's mirror in the merchant's Shopify store (issue 12)."""

    id = serializers.CharField(
        source="shopify_order_id", allow_null=True, help_text="gid://shopify/Order/..."
    )
    name = serializers.CharField(source="shopify_order_name", allow_null=True)
    admin_url = serializers.CharField(source="shopify_admin_url", allow_null=True)
    state = serializers.ChoiceField(
        source="shopify_state",
        choices=ShopifyState.choices,
        help_text="not_applicable (no store), pending, synced or failed.",
    )
    last_error = serializers.CharField(
        source="shopify_last_error", allow_null=True, help_text="Why it failed, in plain words."
    )

    def to_representation(self, order):
        data = super().to_representation(order)
        return {key: (value if value != "" else None) for key, value in data.items()}


class OrderDetailSerializer(OrderSerializer):
    """The order with its lines, deadlines, flags and what may be done now (`allowed_actions`
    lists the allowed ones; `actions` also explains each refusal with a stable code), then its
    fulfillment orders, fulfillments and refunds (sections contributed by those apps)."""

    lines = OrderLineSerializer(many=True, read_only=True)
    deadlines = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    seller_central_url = serializers.CharField(read_only=True)
    shopify = ShopifyMirrorSerializer(source="*", read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [
            *OrderSerializer.Meta.fields,
            "earliest_ship_date",
            "earliest_delivery_date",
            "latest_delivery_date",
            "ship_service_level",
            "order_type",
            "is_premium_order",
            "buyer_cancel_requested_at",
            "shipping_address",
            "seller_central_url",
            "deadlines",
            "flags",
            "allowed_actions",
            "actions",
            "shopify",
            "lines",
        ]

    def build_fields(self):
        # Then the sections the apps above orders contribute (fulfillment orders, fulfillments,
        # refunds: orders.api_sections), registered when the apps are ready.
        return {**super().build_fields(), **api_sections.section_fields()}

    def _assessment(self, order: Order):
        cache = self.context.setdefault("_assessments", {})
        if order.pk not in cache:
            cache[order.pk] = selectors.assess_order(order, clock.now())
        return cache[order.pk]

    @extend_schema_field(DeadlinesSerializer)
    def get_deadlines(self, order: Order) -> dict:
        d = self._assessment(order).deadlines
        return DeadlinesSerializer(
            {
                "ship_by": d.ship_by,
                "confirm_by": d.confirm_by,
                "warn_at": d.warn_at,
                "verify_by": d.verify_by,
            }
        ).data

    @extend_schema_field(FlagsSerializer)
    def get_flags(self, order: Order) -> dict:
        a = self._assessment(order)
        return FlagsSerializer(
            {
                "in_buyer_cancel_hold": a.in_buyer_cancel_hold,
                "hold_ends_at": a.hold_ends_at,
                "pending_too_long": a.pending_too_long,
                "is_late": a.is_late,
                "is_at_risk": a.is_at_risk,
                "expected_auto_cancel": a.expected_auto_cancel,
                "buyer_cancel_requested": order.buyer_cancel_requested,
            }
        ).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_actions(self, order: Order) -> list[str]:
        return self._assessment(order).allowed_actions

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, order: Order) -> list[dict]:
        # The reason in the reader's language (Accept-Language); the code stays stable.
        return [
            {**d.as_dict(), "reason": localize(d.reason) if d.reason else None}
            for d in self._assessment(order).actions.values()
        ]


class OrderEventSerializer(serializers.ModelSerializer):
    # In the reader's language (Accept-Language); ``kind`` and ``data`` are the stable parts.
    message = serializers.CharField(source="display_message", read_only=True)

    class Meta:
        model = OrderEvent
        fields = ["id", "kind", "message", "actor_type", "actor", "data", "created_at"]


class OrderFilter(StrictFilterSet):
    merchant = IntegerFilter(field_name="merchant_id")
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    status = django_filters.ChoiceFilter(choices=AmazonOrderStatus.choices)
    fulfillment_status = django_filters.ChoiceFilter(choices=FulfillmentStatus.choices)
    financial_status = django_filters.ChoiceFilter(choices=FinancialStatus.choices)
    buyer_cancel_requested = StrictBooleanFilter()
    at_risk = StrictBooleanFilter(method="filter_at_risk")
    late = StrictBooleanFilter(method="filter_late")
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gt")
    search = TextFilter(method="filter_search", max_length=200)

    class Meta:
        model = Order
        fields = []

    def filter_search(self, queryset, name, value):
        return selectors.search_orders(queryset, value)

    def filter_at_risk(self, queryset, name, value):
        condition = selectors.at_risk_filter(clock.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)

    def filter_late(self, queryset, name, value):
        condition = selectors.late_filter(clock.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)


class TimelinePagination(CursorPagination):
    ordering = ("id",)


class OrderList(generics.ListAPIView):
    """Orders of the merchants this key may see, newest first."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    permission_classes = [HasScope]
    required_scope = "orders:read"

    def get_queryset(self):
        # A page reads the columns it shows as plain rows: no model instances, no merchant
        # join, no shipping address to decode (docs/benchmarks.md, "API at scale").
        return selectors.order_list().select_related(None).values(*OrderSerializer.row_columns())

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(OrderSerializer.represent_rows(page))


class OrderDetail(generics.RetrieveAPIView):
    """One order with its lines, deadlines and flags."""

    serializer_class = OrderDetailSerializer
    permission_classes = [HasScope]
    required_scope = "orders:read"

    def get_queryset(self):
        return selectors.order_detail().annotate(**api_sections.presence())

    def get_object(self):
        order = super().get_object()
        api_sections.read_sections(order)
        return order


class OrderEventList(generics.ListAPIView):
    """The order's timeline (rule F12), oldest first."""

    serializer_class = OrderEventSerializer
    permission_classes = [HasScope]
    required_scope = "orders:read"
    pagination_class = TimelinePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, without a pk
            return OrderEvent.objects.none()
        order = generics.get_object_or_404(selectors.order_list(), pk=self.kwargs["pk"])
        return selectors.order_events(order)


# --- merchants with their order sync (GET /api/v1/merchants/) ---------------------------------


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
    consecutive_failures = serializers.IntegerField(
        help_text="Failed runs in a row (0 once a run works again); retries go on, with back-off."
    )
    backfill = AmazonBackfillSerializer(allow_null=True)
    notifications_subscribed = serializers.BooleanField(
        help_text="Amazon pushes this account's order changes (ORDER_CHANGE) to Keelson."
    )
    last_notification_at = serializers.DateTimeField(
        allow_null=True, help_text="When the last order-change notification arrived."
    )


class MerchantSerializer(tenants_api.BaseMerchantSerializer):
    amazon_sync = serializers.SerializerMethodField(
        help_text="The order sync of each Amazon account: phase and backfill progress."
    )

    class Meta(tenants_api.BaseMerchantSerializer.Meta):
        fields = [*tenants_api.BaseMerchantSerializer.Meta.fields, "amazon_sync"]
        read_only_fields = fields

    @extend_schema_field(AmazonSyncSerializer(many=True))
    def get_amazon_sync(self, merchant: Merchant) -> list[dict]:
        # One query for the whole page of merchants (the context is shared by the list).
        by_merchant = self.context.get("_amazon_sync")
        if by_merchant is None:
            by_merchant = {}
            for status in selectors.amazon_sync_statuses():
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
class MerchantViewSet(tenants_api.BaseMerchantViewSet):
    serializer_class = MerchantSerializer
