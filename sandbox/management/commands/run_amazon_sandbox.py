"""``python manage.py run_amazon_sandbox --port P [--no-rate-limits] [--seed S]``

Serves the SP-API emulator on 127.0.0.1. The first line on stdout is one JSON object with a
ready seller (endpoint, lwa_token_url, client_id, client_secret, refresh_token,
selling_partner_id, marketplace_ids); then it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox.amazon import clock, generator, services, sqs
from sandbox.amazon.models import AmazonOrder, SandboxState
from sandbox.amazon.server import AmazonSandboxServer
from sandbox.serving import serve_until_stopped


def seller_line(base_url: str) -> dict[str, Any]:
    seller = services.ensure_default_seller()
    return {
        "endpoint": base_url,
        "lwa_token_url": f"{base_url}/auth/o2/token",
        "client_id": seller.client_id,
        "client_secret": seller.client_secret,
        "refresh_token": seller.refresh_token,
        "selling_partner_id": seller.selling_partner_id,
        "marketplace_ids": list(seller.marketplace_ids),
        "notifications_queue_url": sqs.queue_url(base_url),
    }


class Command(BaseCommand):
    help = "Run the stateful SP-API emulator (Amazon sandbox) on loopback."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument(
            "--no-rate-limits", action="store_true", help="turn Amazon's usage plans off"
        )
        parser.add_argument(
            "--seed",
            default=None,
            help="generate reproducible orders for the default seller (if it has none)",
        )
        parser.add_argument("--orders", type=int, default=25, help="how many, with --seed")
        parser.add_argument("--log-requests", action="store_true", help="log each request")

    def handle(self, *args, **options) -> None:
        server = AmazonSandboxServer(
            options["host"], options["port"], log_requests=options["log_requests"]
        )
        SandboxState.load()
        SandboxState.objects.filter(pk=1).update(rate_limits_enabled=not options["no_rate_limits"])
        line = seller_line(server.base_url)
        if options["seed"] is not None:
            seller = services.ensure_default_seller()
            if not AmazonOrder.objects.filter(seller=seller).exists():
                now = clock.virtual_now()
                specs = generator.generate(
                    generator.GenerationOptions(count=options["orders"], seed=options["seed"]),
                    marketplace_ids=list(seller.marketplace_ids),
                    now=now,
                    auto_cancel_days=seller.auto_cancel_days,
                )
                services.create_orders(seller, specs, now)
        serve_until_stopped(server, line, lambda: self.stderr.write("Amazon sandbox stopped."))
