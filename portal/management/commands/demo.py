"""`manage.py demo`: migrate, seed the demo data, and run the portal and a task worker together.

The child processes are listed by ``demo_processes()``; to run another one in the demo (an
emulator, a bot), add a ``DemoProcess`` there. Each child runs in its own process group; if one
exits, the demo stops the others and exits non-zero; Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.child_processes import die_with_parent
from portal.demo_amazon import connect_demo_amazon_accounts, demo_seller_ids
from portal.demo_data import (
    AGENCIES,
    DEMO_PASSWORD,
    DEMO_SERVICE_NAME,
    demo_agency_key,
    demo_bot,
    login_lines,
)
from portal.demo_shopify import DEMO_SHOPIFY_DOMAIN, connect_demo_shopify_store
from portal.demo_story import play_when_ready
from sandbox.amazon import sqs

MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"
DEFAULT_PORT = 8000
HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0


@dataclass
class DemoProcess:
    """A child of the demo: a name for the log, and its command line."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # A TCP port the process listens on when it is ready (the banner waits for it).
    ready_port: int | None = None
    # Run once the process is ready, before the demo goes on (e.g. connect accounts to it).
    on_ready: Callable[[], object] | None = field(default=None, repr=False)


def manage(*args: str) -> list[str]:
    return [sys.executable, str(MANAGE_PY), *args]


def demo_processes(port: int) -> list[DemoProcess]:
    """Everything the demo runs. Later issues add emulators and bots here."""
    bot_port = free_port()
    bot = demo_bot(f"http://{HOST}:{bot_port}/callbacks")
    amazon_port = free_port()
    amazon_url = f"http://{HOST}:{amazon_port}"
    use_sandbox_notifications(amazon_url)
    shopify_port = free_port()
    shopify_url = f"http://{HOST}:{shopify_port}"
    use_public_url(f"http://{HOST}:{port}")
    return [
        # Amazon's SP-API, emulated (sandbox/amazon): the demo merchants' seller accounts, a
        # month of orders, and new ones arriving every minute or two, synced like real ones.
        DemoProcess(
            "amazon-sp-api",
            manage("run_amazon_sandbox", "--port", str(amazon_port)),
            ready_port=amazon_port,
            on_ready=lambda: connect_demo_amazon_accounts(amazon_url),
        ),
        DemoProcess(
            "amazon-orders",
            manage(
                "run_amazon_order_trickle",
                "--sandbox",
                amazon_url,
                "--sellers",
                ",".join(demo_seller_ids()),
                "--every",
                "75",
            ),
        ),
        # Shopify's Admin API, emulated (sandbox/shopify): Hamn & Hem's store, connected
        # like a real one; its webhooks come back to the portal's /webhooks/shopify/<store>/.
        DemoProcess(
            "shopify-admin-api",
            manage("run_shopify_sandbox", "--port", str(shopify_port)),
            ready_port=shopify_port,
            on_ready=lambda: connect_demo_shopify_store(shopify_url),
        ),
        # The production WSGI server (portal/gunicorn_conf.py), not Django's development server.
        DemoProcess("web", web_server(port), ready_port=port),
        DemoProcess("tasks", manage("qcluster")),
        # A fulfillment service for Northwind Outdoor: a partner using only the public API and
        # the signed callbacks (sandbox/bot). Key and secret in its environment, not argv.
        DemoProcess(
            "fulfillment-bot",
            manage(
                "run_fulfillment_bot",
                "--api",
                f"http://{HOST}:{port}/api/v1",
                "--port",
                str(bot_port),
                "--name",
                DEMO_SERVICE_NAME,
            ),
            env={"KEELSON_BOT_KEY": bot.key, "KEELSON_BOT_SECRET": bot.secret},
            ready_port=bot_port,
        ),
    ]


def web_server(port: int) -> list[str]:
    """gunicorn with Keelson's configuration on the demo's port."""
    config = Path(settings.BASE_DIR) / "portal" / "gunicorn_conf.py"
    return [sys.executable, "-m", "gunicorn", "-c", str(config), "--bind", f"{HOST}:{port}"]


def use_sandbox_notifications(amazon_url: str) -> None:
    """Amazon pushes the demo sellers' order changes to the emulator's SQS queue
    (orders/order_changes.py): for this process (which connects the accounts) and the children."""
    values = {
        "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL": sqs.queue_url(amazon_url),
        "KEELSON_AMAZON_SQS_ACCESS_KEY_ID": "keelson-demo",
        "KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY": "keelson-demo",  # the emulator takes any
    }
    for name, value in values.items():
        os.environ[name] = value
        setattr(settings, name, value)


def use_public_url(url: str) -> None:
    """Where the emulators call back (Shopify's webhooks): the demo's own portal, for this
    process and its children (``KEELSON_PUBLIC_URL``; the caller's wins)."""
    os.environ.setdefault("KEELSON_PUBLIC_URL", url)
    settings.KEELSON_PUBLIC_URL = os.environ["KEELSON_PUBLIC_URL"]


def use_sandbox_clock() -> None:
    """Amazon's timelines on the emulator's clock (portal/clock.py, ``KEELSON_CLOCK=sandbox``)
    in this process and the children, so that advancing the emulator's clock
    (``POST /_sandbox/clock``) brings the portal's deadlines, A9 warnings and flags due with
    Amazon's own changes; until it is advanced, it is the system clock. A ``KEELSON_CLOCK`` of
    the caller's wins; with ``DEBUG=0`` the settings refuse the sandbox clock, so it stays off."""
    if os.environ.get("KEELSON_CLOCK") or not settings.DEBUG:
        return
    os.environ["KEELSON_CLOCK"] = "sandbox"
    settings.KEELSON_CLOCK = "sandbox"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class Stop(Exception):
    """Raised by the signal handler: stop the children and leave."""


class Command(BaseCommand):
    help = (
        "Run the demo: migrate, seed the demo data, then run the portal (Django's server on "
        f"{HOST}) and a django-q2 task worker until Ctrl-C. Prints the URL and the logins."
    )
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", DEFAULT_PORT)),
            help=f"Port of the portal (default: $PORT or {DEFAULT_PORT}).",
        )
        parser.add_argument(
            "--skip-migrate", action="store_true", help="Do not run migrations first."
        )

    def handle(self, *args, **options) -> None:
        port = options["port"]
        if not port_is_free(port):
            raise CommandError(
                f"Port {port} on {HOST} is in use. Stop what uses it, or pick another port: "
                f"manage.py demo --port 8001 (or PORT=8001 make demo)."
            )
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        use_sandbox_clock()
        call_command("seed_demo", stdout=io.StringIO())

        children: list[tuple[DemoProcess, subprocess.Popen]] = []
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        exit_code = 0
        try:
            for spec in demo_processes(port):
                children.append((spec, self._start(spec)))
            self._wait_until_ready(children)
            self._banner(port, demo_agency_key())
            self._play_story()
            exit_code = self._supervise(children)
        except Stop:
            self.stderr.write("Stopping the demo...")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop_all(children)
        if exit_code:
            sys.exit(exit_code)

    # -- children ---------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        # Once: a second signal (Ctrl-C twice, or SIGTERM to the group and from a wrapper)
        # must not interrupt the orderly stop the first one started.
        if getattr(self, "_stopping", False):
            return
        self._stopping = True
        raise Stop()

    def _start(self, spec: DemoProcess) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KEELSON_DEMO": "1", **spec.env}
        # Own process group: the terminal's Ctrl-C reaches only us, and we stop each child
        # (and anything it started) in order. Tied to us too: killed outright, we cannot stop
        # them, so the kernel sends each a SIGTERM (portal.child_processes).
        return subprocess.Popen(
            spec.argv, env=env, start_new_session=True, preexec_fn=die_with_parent()
        )

    def _wait_until_ready(self, children) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for spec, proc in children:
            if spec.ready_port is None:
                continue
            while not port_accepts(spec.ready_port):
                if proc.poll() is not None:
                    raise CommandError(f"{spec.name} exited with code {proc.returncode}.")
                if time.monotonic() > deadline:
                    raise CommandError(f"{spec.name} did not start within {READY_TIMEOUT:.0f}s.")
                time.sleep(0.2)
            if spec.on_ready is not None:
                spec.on_ready()

    def _supervise(self, children) -> int:
        while True:
            for spec, proc in children:
                code = proc.poll()
                if code is not None:
                    self.stderr.write(
                        f"{spec.name} ({' '.join(spec.argv[1:])}) exited with code {code}; "
                        "stopping the demo."
                    )
                    return code or 1
            time.sleep(0.5)

    def _stop_all(self, children) -> None:
        for _spec, proc in reversed(children):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        for _spec, proc in children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)

    def _play_story(self) -> None:
        """Once each Northwind merchant's month of orders is in, its admin works a few of them
        (portal/demo_story.py), in a thread: the portal is up meanwhile."""
        slugs = [m.slug for m in AGENCIES[0].merchants]
        report = self.stdout.write
        threading.Thread(
            target=play_when_ready, args=(slugs,), kwargs={"report": report}, daemon=True
        ).start()

    def _banner(self, port: int, api_key: str) -> None:
        base = f"http://{HOST}:{port}"
        lines = [
            "",
            "Keelson demo is running.",
            f"  Portal:      {base}/",
            f"  Staff admin: {base}/admin/",
            f"  API docs:    {base}/api/v1/docs/",
            "",
            f"Logins (password {DEMO_PASSWORD}):",
            *(f"  {line}" for line in login_lines()),
            "",
            f"Fulfillment: Northwind Outdoor's service '{DEMO_SERVICE_NAME}' is a bot",
            "  (sandbox/bot): it accepts requests, ships (two packages from two units) and",
            "  answers cancellation requests, through the partner API only.",
            f"Shopify: Hamn & Hem's store {DEMO_SHOPIFY_DOMAIN} lives in the Shopify",
            "  emulator (sandbox/shopify), connected under Merchants and access > Shopify stores;",
            "  its Amazon orders appear there, and what is done there comes back by webhook.",
            "Amazon: Northwind Outdoor sells on Amazon.com (USD), Hamn & Hem on Amazon.se (SEK),",
            "  Siam Tea House from Bangkok on Amazon.sg (SGD); new orders arrive every minute or",
            "  two. Some are days from Amazon's deadline, some buyers asked to cancel, some were",
            "  refunded in Seller Central; once the month is synced, each admin has worked a few.",
            "API (Northwind Agency's key, all scopes; re-issued at each start):",
            f'  curl -H "Authorization: Bearer {api_key}" "{base}/api/v1/orders/?at_risk=true"',
            "More keys: python manage.py seed_demo --json (re-issues the demo keys).",
            "Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
