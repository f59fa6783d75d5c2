"""Partner API v1 routes (api.md), included at /api/v1/ with the namespace "api".

Domain apps register their viewsets on `router` or add paths to `urlpatterns`. Every route here
is walked by tests/api/test_isolation.py (tenant isolation, scopes, auth) and fuzzed through the
OpenAPI schema by tests/api/test_fuzz.py, without touching those tests.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from fulfillment import api as fulfillment_api
from orders import api as orders_api
from portal.api.views import RedocView, SchemaView, SwaggerView
from refunds import api as refunds_api

app_name = "api"

router = SimpleRouter()
router.register("merchants", orders_api.MerchantViewSet, basename="merchant")

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
    path("orders/", orders_api.OrderList.as_view(), name="order-list"),
    path("orders/<int:pk>/", orders_api.OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/events/", orders_api.OrderEventList.as_view(), name="order-events"),
    path(
        "orders/<int:pk>/fulfillments/",
        fulfillment_api.OrderFulfillments.as_view(),
        name="order-fulfillments",
    ),
    path("orders/<int:pk>/refunds/", refunds_api.OrderRefunds.as_view(), name="order-refunds"),
    path("orders/<int:pk>/cancel/", refunds_api.CancelOrder.as_view(), name="order-cancel"),
    path("refunds/<int:pk>/", refunds_api.RefundDetail.as_view(), name="refund-detail"),
    path(
        "fulfillment-orders/",
        fulfillment_api.FulfillmentOrderList.as_view(),
        name="fulfillment-order-list",
    ),
    path(
        "fulfillment-orders/<int:pk>/",
        fulfillment_api.FulfillmentOrderDetail.as_view(),
        name="fulfillment-order-detail",
    ),
    *(
        path(
            f"fulfillment-orders/<int:pk>/{name}/", view.as_view(), name=f"fulfillment-order-{name}"
        )
        for name, view in (
            ("submit-request", fulfillment_api.SubmitRequest),
            ("cancel-request", fulfillment_api.CancelRequest),
            ("accept-request", fulfillment_api.AcceptRequest),
            ("reject-request", fulfillment_api.RejectRequest),
            ("accept-cancellation", fulfillment_api.AcceptCancellation),
            ("reject-cancellation", fulfillment_api.RejectCancellation),
            ("fulfillments", fulfillment_api.ReportShipment),
            ("revert-to-unfulfilled", fulfillment_api.RevertToUnfulfilled),
            ("notes", fulfillment_api.AddNote),
        )
    ),
    *router.urls,
]
