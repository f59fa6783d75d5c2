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


def production_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "DEBUG": "0",
        "SECRET_KEY": "k" * 30 + "-Keelson-production-test-key-" + "z" * 20,
        "KEELSON_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "keelson.example",
    }


def test_manage_py_check_deploy_is_clean_with_production_settings(db):
    env = dict(child_database_env(), **production_env())
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues" in proc.stdout


def test_production_responses_carry_the_security_headers(db):
    """HSTS, a Content-Security-Policy, no sniffing, no framing; cookies not readable by
    scripts and sent over HTTPS only: read off a real request in production mode."""
    script = (
        "import django; django.setup(); from django.conf import settings as s;"
        " from django.test import Client;"
        " r = Client().get('/api/v1/merchants/', secure=True, HTTP_HOST='keelson.example');"
        " print(r.status_code); print(r['Strict-Transport-Security']);"
        " print(r['Content-Security-Policy']); print(r['X-Content-Type-Options']);"
        " print(r['X-Frame-Options']);"
        " print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE);"
        " print(Client().get('/api/v1/merchants/', HTTP_HOST='keelson.example').status_code)"
    )
    env = dict(child_database_env(), **production_env())
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    status, hsts, csp, nosniff, frames, cookie, plain = proc.stdout.strip().splitlines()[-7:]
    assert status == "401"  # no key: refused, and still with every header
    assert hsts.startswith("max-age=31536000") and "includeSubDomains" in hsts
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://sellercentral.amazon.com" in csp
    assert (nosniff, frames, cookie) == ("nosniff", "DENY", "True True True")
    assert plain == "301"  # plain HTTP is sent to HTTPS
