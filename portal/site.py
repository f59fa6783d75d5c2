"""The portal: a second AdminSite at / for agency and merchant users (placeholder, see issue 2)."""

from django.contrib.admin import AdminSite

portal_site = AdminSite(name="portal")
