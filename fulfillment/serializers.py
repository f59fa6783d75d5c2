"""Output shapes of fulfillment orders and fulfillments in the partner API (also embedded in
the order detail, ``GET /orders/{id}/``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from foundation.api.serializers import FieldsBuiltOnce
from fulfillment import workflow
from fulfillment.models import (
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentService,
)


class ServiceRefSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = FulfillmentService
        fields = ["id", "name", "workflow"]
        read_only_fields = fields


class FulfillmentOrderLineSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id", read_only=True)
    order_item_id = serializers.CharField(source="order_line.external_id", read_only=True)
    sku = serializers.CharField(source="order_line.sku", read_only=True)
    asin = serializers.CharField(source="order_line.asin", read_only=True)
    title = serializers.CharField(source="order_line.title", read_only=True)

    class Meta:
        model = FulfillmentOrderLine
        fields = [
            "id",
            "line",
            "order_item_id",
            "sku",
            "asin",
            "title",
            "quantity",
            "remaining_quantity",
        ]
        read_only_fields = fields


class FulfillmentLineSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id", read_only=True)
    fulfillment_order_line = serializers.IntegerField(
        source="fulfillment_order_line_id", read_only=True, allow_null=True
    )
    sku = serializers.CharField(source="order_line.sku", read_only=True)

    class Meta:
        model = FulfillmentLine
        fields = ["line", "fulfillment_order_line", "sku", "quantity"]
        read_only_fields = fields


class FulfillmentSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """One shipment (package), with its confirmation to Amazon (R3)."""

    merchant = serializers.IntegerField(source="merchant_id", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True)
    fulfillment_order = serializers.IntegerField(
        source="fulfillment_order_id", read_only=True, allow_null=True
    )
    service = serializers.IntegerField(source="service_id", read_only=True, allow_null=True)
    lines = FulfillmentLineSerializer(many=True, read_only=True)

    class Meta:
        model = Fulfillment
        fields = [
            "id",
            "merchant",
            "order",
            "fulfillment_order",
            "service",
            "status",
            "tracking_number",
            "carrier",
            "ship_date",
            "lines",
            "notify_customer",
            "customer_notified",
            "amazon_confirmation",
            "amazon_confirmed_at",
            "amazon_error",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class FulfillmentOrderSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True)
    order_number = serializers.CharField(source="order.external_id", read_only=True)
    service = ServiceRefSerializer(read_only=True)

    class Meta:
        model = FulfillmentOrder
        fields = [
            "id",
            "merchant",
            "order",
            "order_number",
            "service",
            "workflow",
            "status",
            "request_status",
            "auto_requested",
            "submitted_at",
            "accepted_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DestinationSerializer(serializers.Serializer):
    """Where the order ships (A5: only to the address on the order), as far as the channel
    shares it."""

    name = serializers.CharField(allow_blank=True)
    address = serializers.DictField(child=serializers.CharField())
    marketplace_id = serializers.CharField(allow_blank=True)
    ship_service_level = serializers.CharField(allow_blank=True)
    latest_ship_date = serializers.DateTimeField(allow_null=True)


class FulfillmentOrderDetailSerializer(FulfillmentOrderSerializer):
    """A fulfillment order with its lines (`remaining_quantity` is what is still to ship), the
    messages of both sides, its shipments, and `actions`: what the caller may do now."""

    lines = FulfillmentOrderLineSerializer(many=True, read_only=True)
    destination = serializers.SerializerMethodField()
    fulfillments = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta(FulfillmentOrderSerializer.Meta):
        fields = [
            *FulfillmentOrderSerializer.Meta.fields,
            "request_note",
            "response_message",
            "cancellation_note",
            "cancellation_response",
            "destination",
            "lines",
            "fulfillments",
            "actions",
        ]
        read_only_fields = fields

    @extend_schema_field(DestinationSerializer)
    def get_destination(self, fo: FulfillmentOrder) -> dict:
        order = fo.order
        return DestinationSerializer(
            {
                "name": order.buyer_name,
                "address": {k: str(v) for k, v in (order.shipping_address or {}).items()},
                "marketplace_id": order.marketplace_id,
                "ship_service_level": order.ship_service_level,
                "latest_ship_date": order.latest_ship_date,
            }
        ).data

    @extend_schema_field(FulfillmentSerializer(many=True))
    def get_fulfillments(self, fo: FulfillmentOrder) -> list[dict]:
        rows = fo.fulfillments.prefetch_related("lines__order_line").order_by("id")
        return FulfillmentSerializer(rows, many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, fo: FulfillmentOrder) -> list[str]:
        """The actions the caller's side may take now, by the transition table."""
        side = self.context.get("side")
        if side is None:
            return []
        facts = workflow.Facts(shipped=fo.fulfillments.exists(), remains=True)
        return [
            str(action)
            for action in API_ACTIONS
            if workflow.decide(action, side, fo.workflow, fo.state, facts).allowed
        ]


API_ACTIONS = (
    workflow.Action.SUBMIT,
    workflow.Action.CANCEL,
    workflow.Action.ACCEPT,
    workflow.Action.REJECT,
    workflow.Action.ACCEPT_CANCELLATION,
    workflow.Action.REJECT_CANCELLATION,
    workflow.Action.REPORT_SHIPMENT,
    workflow.Action.REVERT,
)
