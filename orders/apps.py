from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        # AppConfig.ready is the one place an app imports its own modules lazily: the registries
        # below orders are filled once the models are loaded (docs/architecture.md).
        from orders import contributions

        contributions.register()
