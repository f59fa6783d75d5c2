"""``manage.py run_amazon_sandbox`` prints a ready seller as its first stdout line, serves the
real client, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sp_api.api import Orders

from sandbox.amazon.clock import isoformat, virtual_now
from sandbox.amazon.control import sp_api_client_kwargs
from tests.support.processes import ROOT, child_database_env, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def first_line(proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "no first line in time"
        assert proc.poll() is None, f"the command exited with {proc.returncode}"
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            buffer += os.read(proc.stdout.fileno(), 4096)
    return buffer.split(b"\n", 1)[0].decode()


def test_the_command_prints_a_ready_seller_first_and_serves_the_real_client(tmp_path):
    log = open(tmp_path / "sandbox.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_amazon_sandbox",
            "--port",
            "0",
            "--seed",
            "5",
            "--orders",
            "12",
            "--no-rate-limits",
        ],
        cwd=ROOT,
        env=child_database_env(),
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    try:
        seller = json.loads(first_line(proc))
        assert set(seller) == {
            "endpoint",
            "lwa_token_url",
            "client_id",
            "client_secret",
            "refresh_token",
            "selling_partner_id",
            "marketplace_ids",
            "notifications_queue_url",
        }
        assert seller["endpoint"].startswith("http://127.0.0.1:")
        client = Orders(**sp_api_client_kwargs(seller))
        since = isoformat(virtual_now() - timedelta(days=2))
        pages = [
            client.get_orders(MarketplaceIds=seller["marketplace_ids"], CreatedAfter=since)
            for _ in range(21)  # more than getOrders' burst: the limits are off
        ]
        assert len(pages[-1].payload["Orders"]) == 12
        assert pages[-1].headers["x-amzn-RateLimit-Limit"] == "0.0167"
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop_process(proc)
        log.close()
    assert b"stopped" in (tmp_path / "sandbox.log").read_bytes()
