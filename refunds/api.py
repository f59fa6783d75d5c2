"""Refunds and cancellations in the partner API (api.md).

- ``POST /orders/{id}/refunds/`` (refunds:write): refund lines (a quantity, whose amount is
  suggested from the price, or an amount) and shipping; totals are computed here, never taken
  from the client. ``GET /orders/{id}/refunds/`` and ``GET /refunds/{id}/`` (refunds:read): with
  ``status`` (pending, succeeded, failed), ``failure_code`` and the Amazon and Shopify sync state.
- ``POST /orders/{id}/cancel/`` (orders:write): cancel what has not shipped, with ``reason``
  (Amazon's CancelReason, ``buyer_requested`` for B4, ``address_change`` for A5) and ``refund``
  (R7: more than 0).

Every rule is the services' (refunds/services.py); these views validate input, call one
service and shape the answer. Money is a decimal string in the order's currency.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from foundation.api.idempotency import HEADER, idempotent
from foundation.api.inputs import (
    InputSerializer,
    StrictCharField,
    StrictIntegerField,
    StrictRegexField,
)
from foundation.api.serializers import FieldsBuiltOnce
from orders import selectors as order_selectors
from refunds import policy, selectors, services
from refunds.models import (
    ADJUSTMENT_REASON_CHOICES,
    CANCEL_REASON_CHOICES,
    AmazonSync,
    Refund,
    RefundLine,
    RefundStatus,
    ShopifySync,
)
from tenants.api_auth import HasScope
from tenants.models import ApiScope

NOTE_MAX = 2000
MONEY_PATTERN = r"^\d{1,12}(\.\d{1,9})?$"
CANCEL_REASONS = [
    policy.BUYER_REQUESTED,
    policy.ADDRESS_CHANGE,
    *(r.value for r in policy.CancelReason),
]


# --- money -----------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "decimal", "example": "12.50"})
class MoneyField(serializers.Field):
    """A decimal string in the currency of the object (or of its refund): ``"12.50"`` USD,
    ``"1980"`` JPY."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        currency = getattr(instance, "currency", None) or instance.refund.currency
        return super().get_attribute(instance), currency

    def to_representation(self, value):
        amount, currency = value
        return f"{policy.quantize(amount, currency):f}"


def money_input(**kwargs) -> StrictRegexField:
    return StrictRegexField(
        MONEY_PATTERN,
        max_length=24,
        error_messages={"invalid": _('Use a decimal string, like "12.50".')},
        **kwargs,
    )


# --- output ----------------------------------------------------------------------------------


class RefundLineSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    line = serializers.IntegerField(source="order_line_id", read_only=True, allow_null=True)
    sku = serializers.SerializerMethodField()
    amount = MoneyField(help_text="Item price (and tax where it is added on top).")
    shipping_amount = MoneyField()
    principal = MoneyField()
    tax = MoneyField()
    shipping = MoneyField()
    shipping_tax = MoneyField()

    class Meta:
        model = RefundLine
        fields = [
            "id",
            "line",
            "external_item_id",
            "sku",
            "quantity",
            "amount",
            "shipping_amount",
            "principal",
            "tax",
            "shipping",
            "shipping_tax",
        ]

    def get_sku(self, obj: RefundLine) -> str:
        return obj.order_line.sku if obj.order_line else ""


class ActorOutput(FieldsBuiltOnce, serializers.Serializer):
    type = serializers.CharField()
    name = serializers.CharField()


class RefundSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """A refund, or a cancellation with the refund it implies (``kind``)."""

    merchant = serializers.IntegerField(source="merchant_id", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True)
    lines = RefundLineSerializer(many=True, read_only=True)
    items_amount = MoneyField()
    shipping_amount = MoneyField()
    total = MoneyField()
    created_by = serializers.SerializerMethodField()
    amazon_sync_state = serializers.ChoiceField(
        source="amazon_sync", choices=AmazonSync.choices, read_only=True
    )
    amazon_sync_detail = serializers.CharField(source="get_amazon_sync_display", read_only=True)
    shopify_sync_state = serializers.ChoiceField(
        source="shopify_sync", choices=ShopifySync.choices, read_only=True
    )
    status = serializers.ChoiceField(choices=RefundStatus.choices, read_only=True)
    # Declared for `allow_blank`: a read-only model field loses it, and the schema then left
    # out the "" these fields hold (no reason for a refund made in Seller Central, no cancel
    # reason for a refund).
    reason = serializers.ChoiceField(
        choices=ADJUSTMENT_REASON_CHOICES,
        allow_blank=True,
        read_only=True,
        help_text="Amazon's AdjustmentReason; empty for a refund made in Seller Central (R6).",
    )
    cancel_reason = serializers.ChoiceField(
        choices=CANCEL_REASON_CHOICES,
        allow_blank=True,
        read_only=True,
        help_text="Amazon's CancelReason for a cancellation; empty for a refund.",
    )

    class Meta:
        model = Refund
        fields = [
            "id",
            "merchant",
            "order",
            "kind",
            "origin",
            "status",
            "failure_code",
            "failure_message",
            "reason",
            "cancel_reason",
            "requested_reason",
            "buyer_requested",
            "note",
            "currency",
            "lines",
            "items_amount",
            "shipping_amount",
            "total",
            "created_by",
            "amazon_sync_state",
            "amazon_sync_detail",
            "amazon_feed_id",
            "shopify_sync_state",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ActorOutput)
    def get_created_by(self, obj: Refund) -> dict:
        return {"type": obj.created_by_type, "name": obj.created_by_name}


# --- input -----------------------------------------------------------------------------------


class RefundLineInput(InputSerializer):
    line = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    quantity = StrictIntegerField(min_value=0, max_value=1_000_000, required=False, default=0)
    amount = money_input(
        required=False,
        allow_null=True,
        default=None,
        help_text="What to refund for this line; suggested from the price and quantity if omitted.",
    )


class RefundInput(InputSerializer):
    lines = RefundLineInput(many=True, required=False, default=list, max_length=500)
    shipping_amount = money_input(required=False, allow_null=True, default=None)
    reason = serializers.ChoiceField(
        choices=[r.value for r in policy.AdjustmentReason],
        required=False,
        default=policy.AdjustmentReason.CUSTOMER_RETURN.value,
        help_text="Amazon's AdjustmentReason.",
    )
    note = StrictCharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")


class CancelLineInput(InputSerializer):
    line = StrictIntegerField(min_value=1, max_value=2**63 - 1)


class CancelInput(InputSerializer):
    reason = serializers.ChoiceField(
        choices=CANCEL_REASONS,
        help_text="Amazon's CancelReason; `buyer_requested` answers the buyer's request with "
        "the buyer-cancel reason (B4); `address_change`: the buyer wants another address, so "
        "the order is cancelled for the buyer to re-order (A5). `NoInventory` counts against "
        "the pre-fulfillment cancel rate (A4).",
    )
    refund = money_input(
        required=False,
        allow_null=True,
        default=None,
        help_text="The refund the cancellation implies: more than 0 (R7), at most what the "
        "cancelled items and their shipping cost. Defaults to all of it for `buyer_requested`.",
    )
    note = StrictCharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")
    lines = CancelLineInput(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        min_length=1,
        max_length=500,
        error_messages={"min_length": _("Give at least one line, or leave `lines` out for all.")},
        help_text="Order lines whose open quantity to cancel; all of them if omitted (for "
        "`buyer_requested`: the items the buyer asked to cancel).",
    )


def _request_key(request) -> str:
    raw = request.headers.get(HEADER)
    return f"api:{request.auth.pk}:{raw}" if raw else ""


# --- views -----------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="Refunds of an order", responses={200: RefundSerializer(many=True)}),
    post=extend_schema(
        summary="Refund an order",
        request=RefundInput,
        responses={201: RefundSerializer},
        examples=[
            OpenApiExample(
                "Refund one unit",
                value={"lines": [{"line": 1, "quantity": 1}], "note": "Dented on arrival."},
                request_only=True,
            ),
            OpenApiExample(
                "Refund an amount and the shipping",
                value={
                    "lines": [{"line": 1, "amount": "5.00"}],
                    "shipping_amount": "4.99",
                    "reason": "GeneralAdjustment",
                },
                request_only=True,
            ),
        ],
        description="Refunds what shipped (an unshipped Amazon order is cancelled instead). "
        "Refused for Pending (`order_pending`) and FBA (`order_read_only`) orders, while a "
        "fulfillment request is in progress (`fulfillment_request_in_progress`, F3), once "
        "Amazon refunded the order outside Keelson (`already_refunded_on_amazon`, R6), beyond "
        "what is left (`refund_exceeds_balance`, `quantity_exceeds_remaining`), for "
        "amounts with more decimals than the currency has (`invalid_amount`), and while "
        "Amazon has not said how the tax of a line it would take from (its items, or "
        "shipping) divides between the item and its shipping (`tax_split_pending`, 409 with "
        "`Retry-After`; the order line's `tax_split_pending` is true meanwhile): Keelson asks "
        "Amazon at once, and the same request goes through once the split is known (with a "
        "new Idempotency-Key: a key keeps its refusal, as it keeps every refusal). The refund "
        "is `pending` until Amazon accepts it (`succeeded`) or refuses it (`failed`, with "
        "`failure_code` and `failure_message`).",
    ),
)
class OrderRefunds(generics.ListCreateAPIView):
    serializer_class = RefundSerializer
    permission_classes = [HasScope]
    required_scopes = {"GET": ApiScope.REFUNDS_READ, "POST": ApiScope.REFUNDS_WRITE}
    # Any other method (TRACE, PUT, ...) is answered 405, after the strictest scope's check.
    required_scope = ApiScope.REFUNDS_WRITE

    def _order(self):
        return generics.get_object_or_404(order_selectors.order_list(), pk=self.kwargs["pk"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, without a pk
            return Refund.objects.none()
        return selectors.order_refunds(self._order())

    @idempotent
    def post(self, request, *args, **kwargs):
        order = self._order()
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        refund = services.create_refund(
            order.pk,
            actor=services.Actor.api_key(request.auth),
            lines=[
                policy.RequestedLine(
                    item["line"], item["quantity"], policy.parse_amount(item["amount"])
                )
                for item in values["lines"]
            ],
            shipping_amount=policy.parse_amount(values["shipping_amount"]),
            reason=values["reason"],
            note=values["note"],
            idempotency_key=_request_key(request),
        )
        refund = selectors.refunds().get(pk=refund.pk)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class RefundDetail(generics.RetrieveAPIView):
    """One refund (or cancellation) with its lines, status, failure and sync states."""

    serializer_class = RefundSerializer
    permission_classes = [HasScope]
    required_scope = ApiScope.REFUNDS_READ

    def get_queryset(self):
        return selectors.refunds()


@extend_schema_view(
    post=extend_schema(
        summary="Cancel an order",
        request=CancelInput,
        responses={201: RefundSerializer},
        examples=[
            OpenApiExample(
                "Cancel a line, out of stock",
                value={"reason": "NoInventory", "refund": "15.50", "lines": [{"line": 1}]},
                request_only=True,
            ),
            OpenApiExample(
                "Answer the buyer's request", value={"reason": "buyer_requested"}, request_only=True
            ),
        ],
        description="Cancels what has not shipped, on Amazon (order-acknowledgement feed with "
        "the cancel reason), and records the refund the cancellation implies in the same "
        "transaction. Needs a refund of more than 0 (`refund_amount_required`, R7). Refused "
        "for shipped orders (`invalid_transition`), Pending (`order_pending`) and FBA "
        "(`order_read_only`) orders, and while a fulfillment request is in progress "
        "(`fulfillment_request_in_progress`). A fully cancelled order is closed once Amazon "
        "accepts the cancellation.",
    )
)
class CancelOrder(generics.GenericAPIView):
    serializer_class = RefundSerializer
    permission_classes = [HasScope]
    required_scope = ApiScope.ORDERS_WRITE

    def get_queryset(self):
        return order_selectors.order_list()

    @idempotent
    def post(self, request, *args, **kwargs):
        order = self.get_object()
        data = CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        lines = values["lines"]
        refund = services.cancel_order(
            order.pk,
            actor=services.Actor.api_key(request.auth),
            reason=values["reason"],
            refund=policy.parse_amount(values["refund"]),
            note=values["note"],
            lines=None if lines is None else [item["line"] for item in lines],
            idempotency_key=_request_key(request),
        )
        refund = selectors.refunds().get(pk=refund.pk)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)
