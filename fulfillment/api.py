"""Fulfillment orders and fulfillments in the partner API (api.md).

Merchant and agency keys request fulfillment, cancel, revert, add notes and fulfil orders;
a fulfillment service's key (``fulfillment_service`` owner) sees only its own fulfillment
orders and answers requests, cancellation requests and reports shipments. A key on the wrong
side gets ``403 permission_denied`` with who may do it; another tenant's (or another
service's) fulfillment order is ``404``. Every rule is the services' (fulfillment/services.py);
these views validate input, call one service and shape the answer.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from foundation.api.filters import IntegerFilter, StrictFilterSet
from foundation.api.idempotency import idempotent
from foundation.api.inputs import (
    InputSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from foundation.i18n import localize
from fulfillment import errors, selectors, services, workflow
from fulfillment.models import FulfillmentOrder, FulfillmentOrderStatus, RequestStatus
from fulfillment.serializers import (
    FulfillmentOrderDetailSerializer,
    FulfillmentOrderSerializer,
    FulfillmentSerializer,
)
from fulfillment.services import Actor, ShipmentInput
from orders import selectors as order_selectors
from orders.api import OrderEventSerializer
from orders.models import Order
from tenants.api_auth import HasScope
from tenants.models import ApiScope

NOTE_MAX = 2000
LINES_ERRORS = {"min_length": _("Give at least one line, or leave `lines` out for all.")}


# --- input -----------------------------------------------------------------------------------


class NoteInput(InputSerializer):
    note = StrictCharField(
        required=False, allow_blank=True, max_length=NOTE_MAX, default="", trim_whitespace=True
    )


class MessageInput(InputSerializer):
    message = StrictCharField(
        required=False, allow_blank=True, max_length=NOTE_MAX, default="", trim_whitespace=True
    )


class NoteRequiredInput(InputSerializer):
    message = StrictCharField(max_length=NOTE_MAX, trim_whitespace=True)


class LineQuantityInput(InputSerializer):
    line = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    quantity = StrictIntegerField(min_value=1, max_value=1_000_000)


class OptionalQuantityInput(LineQuantityInput):
    quantity = StrictIntegerField(
        min_value=1, max_value=1_000_000, required=False, help_text="All that remains if omitted."
    )


class ShipmentFields(InputSerializer):
    tracking_number = StrictCharField(required=False, allow_blank=True, max_length=100, default="")
    carrier = StrictCharField(required=False, allow_blank=True, max_length=100, default="")
    ship_date = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Now if omitted."
    )

    def shipment(self) -> ShipmentInput:
        data = self.validated_data
        return ShipmentInput(
            tracking_number=data["tracking_number"],
            carrier=data["carrier"],
            ship_date=data["ship_date"],
            notify_customer=data.get("notify_customer", False),
        )


def _lines(data: dict, key: str = "lines") -> list[tuple[int, int | None]] | None:
    if data.get(key) is None:
        return None
    return [(item["line"], item.get("quantity")) for item in data[key]]


class ShipmentReportInput(ShipmentFields):
    lines = LineQuantityInput(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        min_length=1,
        max_length=500,
        error_messages=LINES_ERRORS,
        help_text="Fulfillment-order lines (`lines[].id` of the fulfillment order) and "
        "quantities in this package; everything that remains if omitted (F7: partial allowed).",
    )


class OrderFulfillmentInput(ShipmentFields):
    lines = LineQuantityInput(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        min_length=1,
        max_length=500,
        error_messages=LINES_ERRORS,
        help_text="Order lines (`lines[].id` of the order) and quantities; every unfulfilled "
        "quantity if omitted.",
    )
    notify_customer = StrictBooleanField(
        required=False,
        default=False,
        help_text="Ask for a shipping notification to the customer; never sent for Amazon "
        "orders (R4): Amazon notifies its buyers.",
    )


class RevertInput(NoteInput):
    lines = OptionalQuantityInput(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        min_length=1,
        max_length=500,
        error_messages=LINES_ERRORS,
        help_text="Fulfillment-order lines to take back (all that remains of each if no "
        "quantity); the whole fulfillment order if omitted.",
    )


class RevertResultSerializer(FulfillmentOrderDetailSerializer):
    notice = serializers.SerializerMethodField()

    class Meta(FulfillmentOrderDetailSerializer.Meta):
        fields = [*FulfillmentOrderDetailSerializer.Meta.fields, "notice"]
        read_only_fields = fields

    def get_notice(self, fo) -> str:
        return localize(services.INVENTORY_REMINDER)


# --- lists and detail ------------------------------------------------------------------------


class FulfillmentOrderFilter(StrictFilterSet):
    merchant = IntegerFilter(field_name="merchant_id")
    status = django_filters.ChoiceFilter(choices=FulfillmentOrderStatus.choices)
    request_status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    service = IntegerFilter(field_name="service_id")
    order = IntegerFilter(field_name="order_id")

    class Meta:
        model = FulfillmentOrder
        fields: list[str] = []


def _side_of(request) -> workflow.Side:
    return (
        workflow.Side.SERVICE if selectors.is_service_key(request.auth) else workflow.Side.MERCHANT
    )


class FulfillmentOrderList(generics.ListAPIView):
    """Fulfillment orders of the merchants this key may see, newest first; a fulfillment
    service's key sees only its own."""

    serializer_class = FulfillmentOrderSerializer
    filterset_class = FulfillmentOrderFilter
    permission_classes = [HasScope]
    required_scope = ApiScope.FULFILLMENTS_READ

    def get_queryset(self):
        return selectors.fulfillment_orders(self.request.auth)


class FulfillmentOrderDetail(generics.RetrieveAPIView):
    """One fulfillment order with its lines (`quantity`, `remaining_quantity`), where it ships,
    the messages of both sides, its shipments, and what the caller may do now (`actions`)."""

    serializer_class = FulfillmentOrderDetailSerializer
    permission_classes = [HasScope]
    required_scope = ApiScope.FULFILLMENTS_READ

    def get_queryset(self):
        return selectors.fulfillment_orders(self.request.auth)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "side": _side_of(self.request)}


# --- actions ---------------------------------------------------------------------------------


class FulfillmentOrderAction(generics.GenericAPIView):
    """Base of the POST actions on one fulfillment order: look it up (404 before anything
    else), check the caller's side (403), validate the body (400), call the service (409,
    422 on a broken rule), answer with the fulfillment order."""

    permission_classes = [HasScope]
    required_scope = ApiScope.FULFILLMENTS_WRITE
    serializer_class = FulfillmentOrderDetailSerializer
    action_name: workflow.Action
    input_class: type[serializers.Serializer] = NoteInput
    result_status = status.HTTP_200_OK

    def get_queryset(self):
        return selectors.fulfillment_orders(self.request.auth)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "side": _side_of(self.request)}

    @idempotent
    def post(self, request, *args, **kwargs):
        fo = self.get_object()
        actor = Actor.api_key(request.auth)
        wrong_side = workflow.side_refusal(self.action_name, actor.side)
        if wrong_side:
            raise errors.NotYourAction(wrong_side)
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        result = self.perform(fo, actor, data)
        return Response(self.present(result), status=self.result_status)

    def perform(self, fo, actor: Actor, data: serializers.Serializer):
        raise NotImplementedError

    def present(self, result) -> dict:
        fo = self.get_queryset().get(pk=result.pk)
        return self.get_serializer(fo).data


TRACKING_EXAMPLE = {"tracking_number": "1Z999AA10123456784", "carrier": "UPS"}


def _schema(
    summary: str,
    request,
    response,
    status_code: int = 200,
    description: str = "",
    example: dict | None = None,
):
    return extend_schema_view(
        post=extend_schema(
            summary=summary,
            description=description,
            request=request,
            responses={status_code: response},
            examples=[OpenApiExample(summary, value=example, request_only=True)] if example else [],
        )
    )


@_schema(
    "Request fulfillment (merchant)",
    NoteInput,
    FulfillmentOrderDetailSerializer,
    description="F1, F5: the service gets a signed callback; the order is then in progress and "
    "can be neither edited nor refunded (F3). Refused for Pending (`order_pending`), cancelled "
    "or shipped (`order_not_shippable`) and FBA (`order_read_only`) orders.",
    example={"note": "Gift-wrap, please."},
)
class SubmitRequest(FulfillmentOrderAction):
    action_name = workflow.Action.SUBMIT

    def perform(self, fo, actor, data):
        return services.submit_request(fo.pk, actor=actor, note=data.validated_data["note"])


@_schema(
    "Cancel a request (merchant)",
    NoteInput,
    FulfillmentOrderDetailSerializer,
    description="F8: a request the service has not accepted is cancelled at once. F9: for an "
    "accepted one the service is asked to cancel (`cancellation_requested`; the note goes to "
    "the service, never to the buyer). F4: a legacy service's request cannot be cancelled "
    "here (`legacy_request_not_cancellable`): contact the service.",
    example={"note": "The buyer changed their mind."},
)
class CancelRequest(FulfillmentOrderAction):
    action_name = workflow.Action.CANCEL

    def perform(self, fo, actor, data):
        return services.cancel_request(fo.pk, actor=actor, note=data.validated_data["note"])


@_schema(
    "Accept a request (service)",
    MessageInput,
    FulfillmentOrderDetailSerializer,
    example={"message": "Ships tomorrow."},
)
class AcceptRequest(FulfillmentOrderAction):
    action_name = workflow.Action.ACCEPT
    input_class = MessageInput

    def perform(self, fo, actor, data):
        return services.accept_request(fo.pk, actor=actor, message=data.validated_data["message"])


@_schema(
    "Reject a request (service)",
    MessageInput,
    FulfillmentOrderDetailSerializer,
    description="F6: the order returns to unfulfilled; the message (why) goes on its timeline.",
    example={"message": "Out of stock until next week."},
)
class RejectRequest(FulfillmentOrderAction):
    action_name = workflow.Action.REJECT
    input_class = MessageInput

    def perform(self, fo, actor, data):
        return services.reject_request(fo.pk, actor=actor, message=data.validated_data["message"])


@_schema(
    "Accept a cancellation request (service)",
    MessageInput,
    FulfillmentOrderDetailSerializer,
    example={"message": "Stopped before packing."},
)
class AcceptCancellation(FulfillmentOrderAction):
    action_name = workflow.Action.ACCEPT_CANCELLATION
    input_class = MessageInput

    def perform(self, fo, actor, data):
        return services.accept_cancellation(
            fo.pk, actor=actor, message=data.validated_data["message"]
        )


@_schema(
    "Reject a cancellation request (service)",
    MessageInput,
    FulfillmentOrderDetailSerializer,
    example={"message": "Already handed to the carrier."},
)
class RejectCancellation(FulfillmentOrderAction):
    action_name = workflow.Action.REJECT_CANCELLATION
    input_class = MessageInput

    def perform(self, fo, actor, data):
        return services.reject_cancellation(
            fo.pk, actor=actor, message=data.validated_data["message"]
        )


@_schema(
    "Report a shipment (service)",
    ShipmentReportInput,
    FulfillmentSerializer,
    status_code=201,
    description="F7: a package with some or all of what remains. Amazon orders need "
    "`tracking_number` and `carrier` (Amazon requires both); the package is confirmed on "
    "Amazon with the same ship date (R3).",
    example={**TRACKING_EXAMPLE, "lines": [{"line": 1, "quantity": 1}]},
)
class ReportShipment(FulfillmentOrderAction):
    action_name = workflow.Action.REPORT_SHIPMENT
    input_class = ShipmentReportInput
    result_status = status.HTTP_201_CREATED

    def perform(self, fo, actor, data):
        return services.report_shipment(
            fo.pk, actor=actor, lines=_lines(data.validated_data), shipment=data.shipment()
        )

    def present(self, result) -> dict:
        return FulfillmentSerializer(result).data


@_schema(
    "Revert to unfulfilled (merchant)",
    RevertInput,
    RevertResultSerializer,
    description="F10: after confirming with the service that it cancelled, take the whole "
    "request (or some lines) back; what was not shipped is unfulfilled again. `notice` reminds "
    "to check inventory.",
    example={"note": "The service cancelled by phone.", "lines": [{"line": 1}]},
)
class RevertToUnfulfilled(FulfillmentOrderAction):
    action_name = workflow.Action.REVERT
    input_class = RevertInput

    def perform(self, fo, actor, data):
        fo, _notice = services.revert_to_unfulfilled(
            fo.pk,
            actor=actor,
            lines=_lines(data.validated_data),
            note=data.validated_data["note"],
        )
        return fo

    def present(self, result) -> dict:
        fo = self.get_queryset().get(pk=result.pk)
        return RevertResultSerializer(fo, context=self.get_serializer_context()).data


@_schema(
    "Add a note (either side)",
    NoteRequiredInput,
    OrderEventSerializer,
    status_code=201,
    description="F5, F12: a message on the order's timeline, from the merchant or the service.",
    example={"message": "Called the buyer about the address."},
)
class AddNote(FulfillmentOrderAction):
    action_name = workflow.Action.SUBMIT  # unused: either side may write a note
    input_class = NoteRequiredInput
    result_status = status.HTTP_201_CREATED

    @idempotent
    def post(self, request, *args, **kwargs):
        fo = self.get_object()
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.add_note(
            fo.pk, actor=Actor.api_key(request.auth), message=data.validated_data["message"]
        )
        return Response(OrderEventSerializer(event).data, status=self.result_status)


# --- fulfilling an order (merchant) ----------------------------------------------------------


@extend_schema_view(
    post=extend_schema(
        summary="Fulfil an order, or mark it fulfilled (merchant)",
        request=OrderFulfillmentInput,
        responses={201: FulfillmentSerializer},
        examples=[
            OpenApiExample(
                "Fulfil one unit of a line",
                value={**TRACKING_EXAMPLE, "lines": [{"line": 1, "quantity": 1}]},
                request_only=True,
            ),
            OpenApiExample("Fulfil everything", value=TRACKING_EXAMPLE, request_only=True),
        ],
    )
)
class OrderFulfillments(generics.GenericAPIView):
    """Fulfil some or all of an order's lines (F11: also "mark as fulfilled" when a service
    shipped but could not tell us), with tracking and carrier (which Amazon requires); the
    shipment is confirmed on Amazon with the same ship date (R3). Refused while a fulfillment
    request is in progress (`fulfillment_request_in_progress`: cancel it first), and for
    Pending (`order_pending`), cancelled or shipped (`order_not_shippable`) and FBA
    (`order_read_only`) orders. No customer notification is ever sent for an Amazon order (R4),
    whatever `notify_customer` says."""

    serializer_class = FulfillmentSerializer
    permission_classes = [HasScope]
    required_scope = ApiScope.FULFILLMENTS_WRITE

    def get_queryset(self):
        return order_selectors.order_list()

    @idempotent
    def post(self, request, *args, **kwargs):
        actor = Actor.api_key(request.auth)
        if actor.side != workflow.Side.MERCHANT:  # for any id: orders are not its to see
            raise errors.NotYourAction(
                "Fulfillment services report shipments on their fulfillment orders: "
                "POST /api/v1/fulfillment-orders/{id}/fulfillments/."
            )
        order: Order = self.get_object()
        data = OrderFulfillmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        fulfillment = services.fulfil_order(
            order.pk, actor=actor, lines=_lines(data.validated_data), shipment=data.shipment()
        )
        return Response(FulfillmentSerializer(fulfillment).data, status=status.HTTP_201_CREATED)
