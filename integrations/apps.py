from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app registers its outbox handlers in an `outbox_handlers` module.
        autodiscover_modules("outbox_handlers")
