from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Keelson portal"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from portal.schedules import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="keelson_schedules")
