from django.apps import AppConfig


class FoundationConfig(AppConfig):
    """The shared base every app builds on: problem+json errors, cursor pagination, strict
    filters, ``@idempotent`` and the product clock. It imports no app of ours."""

    name = "foundation"
    verbose_name = "Keelson base"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from foundation import worker_stop

        # Each django-q2 worker ends its long task early when its cluster stops.
        post_spawn.connect(worker_stop.install_in_worker, dispatch_uid="foundation.worker_stop")
