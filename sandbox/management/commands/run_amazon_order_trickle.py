"""Places an order every so often for one of the given emulator sellers: live traffic for the
demo (the sync brings each one into Keelson within a minute or two)."""

from __future__ import annotations

import random
import signal
import time

from django.core.management.base import BaseCommand

from sandbox.amazon.control import AmazonSandboxClient, SandboxControlError


class Command(BaseCommand):
    help = "Place an order every --every seconds for a random seller of --sellers."

    def add_arguments(self, parser):
        parser.add_argument("--sandbox", required=True, help="the emulator's base URL")
        parser.add_argument("--sellers", required=True, help="comma-separated seller ids")
        parser.add_argument("--every", type=float, default=90.0)
        parser.add_argument("--seed", default=None)

    def handle(self, *args, **options):
        control = AmazonSandboxClient(options["sandbox"])
        sellers = [s for s in options["sellers"].split(",") if s]
        rng = random.Random(options["seed"])
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        def wait(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.5)

        wait(options["every"])  # the sellers are set up while we wait
        while not stopping:
            seller = rng.choice(sellers)
            items = [{"quantity": rng.randint(1, 2)} for _ in range(rng.choice((1, 1, 2)))]
            try:
                order = control.place_order(seller, items=items, seed=str(rng.random()))
                self.stdout.write(f"placed {order['amazon_order_id']} for {seller}")
            except (SandboxControlError, OSError) as exc:
                self.stderr.write(f"could not place an order for {seller}: {exc}")
            wait(options["every"])
