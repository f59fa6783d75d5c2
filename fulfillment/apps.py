from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self) -> None:
        # AppConfig.ready is the one place an app imports its own modules lazily: the registries
        # below fulfillment are filled once the models are loaded (docs/architecture.md).
        from fulfillment import contributions

        contributions.register()
