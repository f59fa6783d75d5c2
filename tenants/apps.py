from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Merchants and access")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from tenants import rls

        post_migrate.connect(rls.grant_application_role, dispatch_uid="keelson_grant_app_role")
