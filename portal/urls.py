"""Root URLs: the portal at /, the staff admin at /admin/, the partner API at /api/v1/."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
