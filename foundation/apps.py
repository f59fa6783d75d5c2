from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FoundationConfig(AppConfig):
    """The shared base every app builds on: problem+json errors, cursor pagination, strict
    filters, ``@idempotent`` and the product clock. It imports no app of ours."""

    name = "foundation"
    verbose_name = _("Keelson base")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from foundation import text, worker_stop
        from foundation.i18n import localize_html

        # Each django-q2 worker ends its long task early when its cluster stops.
        post_spawn.connect(worker_stop.install_in_worker, dispatch_uid="foundation.worker_stop")
        # Rule messages (foundation.text.Text) render in the reader's language in templates.
        text.install_html_translator(localize_html)
