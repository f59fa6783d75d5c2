from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Merchants and access"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from tenants import rls

        post_migrate.connect(rls.grant_application_role, dispatch_uid="keelson_grant_app_role")
