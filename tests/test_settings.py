"""Settings come from the environment and refuse unsafe production defaults."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT, child_database_env


def _check(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(child_database_env(), **env_extra)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings;"
            " print(settings.Q_CLUSTER.get('redis') or 'orm:' + settings.Q_CLUSTER['orm'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_mode_refuses_the_demo_secret_key(db):
    proc = _check({"DEBUG": "0"})
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stderr


def test_production_mode_refuses_the_demo_encryption_key(db):
    proc = _check({"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert proc.returncode != 0
    assert "KEELSON_ENCRYPTION_KEYS" in proc.stderr


def test_production_mode_starts_with_keys_of_its_own(db):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    proc = _check(
        {
            "DEBUG": "0",
            "SECRET_KEY": "x" * 50,
            "KEELSON_ENCRYPTION_KEYS": key,
            "ALLOWED_HOSTS": "keelson.example",
        }
    )
    assert proc.returncode == 0, proc.stderr


def test_redis_url_switches_the_task_broker_to_redis(db):
    proc = _check({"REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert proc.stdout.strip() == "redis://127.0.0.1:6379/3"
    proc = _check({"REDIS_URL": ""})
    assert proc.stdout.strip() == "orm:default"
