"""`manage.py demo` runs the portal and a task worker, supervises them, and stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from foundation import worker_stop
from tests.support.processes import ROOT, alive, child_database_env, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def start_demo(port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")  # closed by the OS when the test ends
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "demo", "--port", str(port), "--skip-migrate"],
        cwd=ROOT,
        # Two workers: one of them long-polls Amazon's order changes (orders/order_changes.py).
        env=child_database_env(Q_WORKERS="2"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_portal(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited early:\n{log_path.read_text()}"
        if "Keelson demo is running" in log_path.read_text(errors="replace"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as resp:
                return resp.status
        time.sleep(0.3)
    pytest.fail(f"the demo did not come up:\n{log_path.read_text()}")


def wait_for_demo_orders(timeout: float) -> int:
    from orders.models import Order
    from tenants.models import AccountStatus, AmazonAccount, Merchant
    from tenants.scope import tenant_context

    merchant = Merchant.objects.get(slug="northwind-outdoor")
    deadline = time.monotonic() + timeout
    with tenant_context(merchant):
        account = AmazonAccount.objects.get()
        assert account.status == AccountStatus.ACTIVE and account.endpoint_override
        while time.monotonic() < deadline:
            count = Order.objects.count()
            if count:
                return count
            time.sleep(1)
    return 0


def wait_for_currencies(timeout: float) -> dict[str, set[str]]:
    """The currencies of each Northwind merchant's orders, once each has some."""
    from orders.models import Order
    from tenants.models import Merchant
    from tenants.scope import tenant_context

    merchants = list(Merchant.objects.filter(agency__slug="northwind"))
    deadline = time.monotonic() + timeout
    found: dict[str, set[str]] = {}
    while time.monotonic() < deadline and len(found) < len(merchants):
        for merchant in merchants:
            with tenant_context(merchant):
                currencies = set(Order.objects.values_list("currency", flat=True).distinct())
            if currencies:
                found[merchant.slug] = currencies
        time.sleep(1)
    return found


def api_answers(output: str) -> int:
    """Run the banner's curl line's request (its key, its URL) and return the status."""
    line = next(x for x in output.splitlines() if "curl -H" in x)
    header = line.split('"')[1]
    url = line.split('"')[3]
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url, headers=dict([header.split(": ", 1)]))  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return resp.status


def demo_shopify_store_connected() -> bool:
    from portal.demo_shopify import DEMO_SHOPIFY_DOMAIN, DEMO_SHOPIFY_MERCHANT
    from tenants.models import AccountStatus, Merchant, ShopifyStore
    from tenants.scope import tenant_context

    merchant = Merchant.objects.get(slug=DEMO_SHOPIFY_MERCHANT)
    with tenant_context(merchant):
        store = ShopifyStore.objects.get(shop_domain=DEMO_SHOPIFY_DOMAIN)
        return store.status == AccountStatus.ACTIVE and bool(store.endpoint_override)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return f"{pid} (gone)"


def wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


@pytest.mark.slow
def test_demo_serves_the_portal_and_stops_everything_on_sigterm(tmp_path):
    port = free_port()
    log_path = tmp_path / "demo.log"
    proc = start_demo(port, log_path)
    try:
        assert wait_for_portal(proc, port, log_path) == 200
        output = log_path.read_text()
        assert f"http://127.0.0.1:{port}/" in output
        assert "agency" in output and "merchant1" in output and "keelson-demo" in output
        children = children_of(proc.pid)
        # Amazon's emulator and its order trickle, Shopify's emulator, the web server, the
        # qcluster and the fulfillment-service bot
        assert len(children) == 6, output
        # Hamn & Hem's emulated Shopify store is connected like a real one.
        assert demo_shopify_store_connected(), output
        # The demo merchants' Amazon accounts are connected to the emulator, and their orders
        # arrive through the real sync (a month of history first).
        assert wait_for_demo_orders(timeout=120) > 0, log_path.read_text()
        # Three merchants in three time zones, each with its marketplace's currency.
        assert wait_for_currencies(timeout=120) == {
            "northwind-outdoor": {"USD"},
            "hamn-och-hem": {"SEK"},
            "siam-tea-house": {"SGD"},
        }, log_path.read_text()
        # The banner's curl line works as printed: a real key.
        assert api_answers(output) == 200

        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
        assert wait_gone(children) == []
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_demo_stops_the_others_and_fails_when_a_child_dies(tmp_path):
    port = free_port()
    log_path = tmp_path / "demo.log"
    proc = start_demo(port, log_path)
    try:
        wait_for_portal(proc, port, log_path)
        children = children_of(proc.pid)
        web = next(p for p in children if "gunicorn" in Path(f"/proc/{p}/cmdline").read_text())

        os.killpg(web, signal.SIGKILL)

        assert proc.wait(30) != 0
        assert wait_gone(children) == []
        assert "exited with code" in log_path.read_text()
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_demo_killed_outright_leaves_no_process_behind(tmp_path):
    """SIGKILL gives the supervisor no chance to stop anything: its children are tied to it
    (PR_SET_PDEATHSIG) and stop on their own, and with them what they started (the qcluster's
    sentinel and workers)."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    proc = start_demo(port, log_path)
    everything: list[int] = []
    try:
        wait_for_portal(proc, port, log_path)
        everything = worker_stop.descendants(proc.pid)
        assert len(everything) > len(children_of(proc.pid)), "the qcluster has its workers"

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)

        # The qcluster, told by SIGTERM, runs what its pusher had already taken from the queue
        # before its workers take their stop pills (django-q2), each ended early by
        # worker_stop: on a loaded CI machine that took more than 30 s once.
        left = wait_gone(everything, timeout=60)
        print(f"{len(everything)} processes below the demo, {len(left)} left after SIGKILL")
        assert left == [], [command_line(pid) for pid in left]
    finally:
        stop_process(proc)
        for pid in wait_gone(everything, timeout=0):  # never leave any behind ourselves
            os.kill(pid, signal.SIGKILL)


def test_demo_refuses_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "demo", "--port", str(port)],
            cwd=ROOT,
            env=child_database_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Port {port}" in result.stderr
