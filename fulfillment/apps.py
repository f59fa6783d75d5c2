from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self) -> None:
        # AppConfig.ready is the one place an app imports its own modules lazily: the registries
        # below fulfillment are filled once the models are loaded (docs/architecture.md).
        from fulfillment import contributions

        contributions.register()
