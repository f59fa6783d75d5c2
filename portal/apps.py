from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = _("Keelson portal")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from foundation import clock
        from portal import dashboard
        from portal.schedules import on_post_migrate
        from sandbox.amazon.clock import current_offset

        # KEELSON_CLOCK=sandbox reads the Amazon emulator's clock; the base cannot import it.
        clock.use_sandbox_offset(current_offset)
        dashboard.assemble()

        post_migrate.connect(on_post_migrate, dispatch_uid="keelson_schedules")


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the staff site (superusers only, unfold-styled) as
    ``admin.site``; installed in place of "django.contrib.admin" (see portal.site)."""

    default = False
    default_site = "portal.site.StaffAdminSite"
