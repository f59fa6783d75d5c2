"""Partner API v1 routes (api.md), included at /api/v1/ with the namespace "api".

Domain apps register their viewsets on `router` or add paths to `urlpatterns`. Every route here
is walked by tests/api/test_isolation.py (tenant isolation, scopes, auth) and fuzzed through the
OpenAPI schema by tests/api/test_fuzz.py, without touching those tests.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from orders import api as orders_api
from portal.api.views import RedocView, SchemaView, SwaggerView
from tenants.api import MerchantViewSet

app_name = "api"

router = SimpleRouter()
router.register("merchants", MerchantViewSet, basename="merchant")

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
    path("orders/", orders_api.OrderList.as_view(), name="order-list"),
    path("orders/<int:pk>/", orders_api.OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/events/", orders_api.OrderEventList.as_view(), name="order-events"),
    *router.urls,
]
