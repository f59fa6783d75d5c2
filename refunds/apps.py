from django.apps import AppConfig


class RefundsConfig(AppConfig):
    name = "refunds"

    def ready(self) -> None:
        # AppConfig.ready is the one place an app imports its own modules lazily: the registries
        # below refunds are filled once the models are loaded (docs/architecture.md).
        from refunds import contributions

        contributions.register()
