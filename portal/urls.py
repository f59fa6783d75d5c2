"""Root URLs: the portal at /, the staff admin at /admin/, the partner API at /api/v1/, and
Shopify's webhooks at /webhooks/shopify/<store>/."""

from django.contrib import admin
from django.urls import include, path, re_path

from integrations.shopify.views import receive_webhook
from portal.api import views as api_views
from portal.site import portal_site

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    # Any other path under /api/ (a missing trailing slash too): a problem+json 404.
    re_path(r"^api/", api_views.not_found),
    path("webhooks/shopify/<int:store_id>/", receive_webhook, name="shopify-webhook"),
    path("", portal_site.urls),
]

# problem+json for errors raised outside DRF views under /api/; Django's pages elsewhere.
handler400 = api_views.handler400
handler500 = api_views.handler500
