from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app registers its outbox handlers in an `outbox_handlers` module.
        autodiscover_modules("outbox_handlers")
