"""``python manage.py run_fulfillment_bot --api URL --key KEY --port P``

A fulfillment-service bot (sandbox/bot/bot.py) that is a partner of Keelson through the public
API and signed callbacks only. The key and the signing secret may come from the environment
(``KEELSON_BOT_KEY``, ``KEELSON_BOT_SECRET``) instead of the command line. The first stdout line
is one JSON object ``{"callback_url": ...}``; then it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from sandbox.bot.bot import BotConfig, FulfillmentBot


class Command(BaseCommand):
    help = "Run a fulfillment-service bot against Keelson's partner API."
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--api", required=True, help="e.g. http://127.0.0.1:8000/api/v1")
        parser.add_argument("--key", default=os.environ.get("KEELSON_BOT_KEY", ""))
        parser.add_argument("--secret", default=os.environ.get("KEELSON_BOT_SECRET", ""))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="callbacks port; 0 picks one")
        parser.add_argument("--ship-delay", type=float, default=5.0)
        parser.add_argument("--second-package-delay", type=float, default=3.0)
        parser.add_argument("--poll-interval", type=float, default=30.0)
        parser.add_argument(
            "--known-skus", default="", help="comma-separated; empty: any SKU but UNKNOWN*"
        )
        parser.add_argument("--name", default="Keelson demo 3PL")

    def handle(self, *args, **options) -> None:
        if not options["key"] or not options["secret"]:
            raise CommandError("Give --key and --secret (or KEELSON_BOT_KEY, KEELSON_BOT_SECRET).")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s bot %(message)s")
        known = {s.strip() for s in options["known_skus"].split(",") if s.strip()}
        bot = FulfillmentBot(
            BotConfig(
                api=options["api"],
                key=options["key"],
                secret=options["secret"],
                host=options["host"],
                port=options["port"],
                ship_delay=options["ship_delay"],
                second_package_delay=options["second_package_delay"],
                poll_interval=options["poll_interval"],
                known_skus=frozenset(known) if known else None,
                name=options["name"],
            )
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        bot.start()
        sys.stdout.write(json.dumps({"callback_url": bot.callback_url}) + "\n")
        sys.stdout.flush()
        stop.wait()
        bot.stop()
