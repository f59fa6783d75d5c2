"""Root URLs: the portal at /, the staff admin at /admin/, the partner API at /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from portal.site import portal_site

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("", portal_site.urls),
]
