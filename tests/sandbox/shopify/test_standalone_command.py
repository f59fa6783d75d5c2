"""``manage.py run_shopify_sandbox`` prints a ready store as its first stdout line, serves the
real ShopifyAPI client (through our gateway), and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
from tests.sandbox.test_standalone_command import first_line
from tests.support.processes import ROOT, child_database_env, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_command_prints_a_ready_store_first_and_serves_the_real_client(tmp_path):
    log = open(tmp_path / "sandbox.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_shopify_sandbox", "--port", "0"],
        cwd=ROOT,
        env=child_database_env(),
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    try:
        store = json.loads(first_line(proc))
        assert store["base_url"].startswith("http://127.0.0.1:")
        assert store["domain"] == "keelson-sandbox.myshopify.com"
        assert store["graphql_url"] == f"{store['base_url']}/admin/api/2025-07/graphql.json"
        gateway = ShopifyGateway(
            ShopifyCredentials(store["domain"], store["access_token"], endpoint=store["base_url"])
        )
        assert gateway.get_shop().domain == "keelson-sandbox.myshopify.com"
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop_process(proc)
        log.close()
    assert b"stopped" in (tmp_path / "sandbox.log").read_bytes()
