"""``python manage.py run_shopify_sandbox --port P [--no-throttling] [--domain D]``

Serves the Shopify Admin GraphQL emulator on 127.0.0.1, with its webhook dispatcher. The first
line on stdout is one JSON object with a ready default store (base_url, graphql_url, domain,
access_token, client_secret, api_version); then it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sandbox.serving import serve_until_stopped
from sandbox.shopify.models import ShopifyStore
from sandbox.shopify.server import ShopifySandboxServer

DEFAULT_DOMAIN = "keelson-sandbox.myshopify.com"
# Fixed and public: they exist only in the emulator.
DEFAULT_TOKEN = "shpat_keelson_sandbox_default_store_token"  # noqa: S105
DEFAULT_SECRET = "shpss_keelson_sandbox_default_client_secret"  # noqa: S105


class Command(BaseCommand):
    help = "Run the stateful Shopify Admin GraphQL emulator (Shopify sandbox) on loopback."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="the default store")
        parser.add_argument("--no-throttling", action="store_true", help="turn the cost bucket off")
        parser.add_argument("--log-requests", action="store_true", help="log each request")

    def handle(self, *args, **options) -> None:
        server = ShopifySandboxServer(
            options["host"], options["port"], log_requests=options["log_requests"]
        )
        domain = options["domain"].lower()
        store = ShopifyStore.objects.filter(domain=domain).first()
        if store is None:
            store = ShopifyStore.objects.create(
                domain=domain,
                name="Keelson Sandbox Store",
                access_token=DEFAULT_TOKEN if domain == DEFAULT_DOMAIN else f"shpat_{domain}",
                client_secret=DEFAULT_SECRET,
            )
        ShopifyStore.objects.filter(pk=store.pk).update(
            throttling_enabled=not options["no_throttling"]
        )
        store.refresh_from_db()
        line = server.app.store_json(store)
        serve_until_stopped(server, line, lambda: self.stderr.write("Shopify sandbox stopped."))
