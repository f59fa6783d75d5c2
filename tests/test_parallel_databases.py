"""Each pytest-xdist worker has a test database of its own (pytest-django adds ``_gw0``, ``_gw1``,
... to the test name): both aliases must use it, the application alias (``default``, a test
mirror of ``owner``) included, and so must every child process a test starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.db import connections

from tests.support.processes import ROOT, child_database_env

pytestmark = pytest.mark.django_db


def test_both_aliases_use_this_workers_test_database():
    owner = connections["owner"].settings_dict["NAME"]
    assert owner.startswith("test_")
    assert connections["default"].settings_dict["NAME"] == owner
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        assert owner.endswith(f"_{worker}")
    for alias in ("owner", "default"):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone() == (owner,)


def test_child_processes_get_this_workers_test_database():
    name = connections["owner"].settings_dict["NAME"]
    env = child_database_env()
    for variable in ("DATABASE_URL", "DATABASE_APP_URL"):
        assert urlsplit(env[variable]).path == f"/{name}"
    script = (
        "import json, django; django.setup(); from django.db import connections\n"
        "out = {}\n"
        "for alias in ('owner', 'default'):\n"
        "    with connections[alias].cursor() as c:\n"
        "        c.execute('SELECT current_database(), current_user')\n"
        "        out[alias] = c.fetchone()\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(proc.stdout)
    app_role = connections["default"].settings_dict["USER"]
    assert seen == {
        "owner": [name, connections["owner"].settings_dict["USER"]],
        "default": [name, app_role],
    }
