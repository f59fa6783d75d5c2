from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        # AppConfig.ready is the one place an app imports its own modules lazily: the registries
        # below orders are filled once the models are loaded (docs/architecture.md).
        from orders import contributions

        contributions.register()
