from django.apps import AppConfig


class FoundationConfig(AppConfig):
    """The shared base every app builds on: problem+json errors, cursor pagination, strict
    filters, ``@idempotent`` and the product clock. It imports no app of ours."""

    name = "foundation"
    verbose_name = "Keelson base"
