"""Start real processes (qcluster, servers) against the test database, and stop them."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connections

ROOT = Path(__file__).resolve().parents[2]
_log_numbers = itertools.count(1)


def _url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"] or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or ""
    port = settings_dict.get("PORT") or ""
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgresql://{auth}/{name}?host={quote(host)}" + (f"&port={port}" if port else "")
    netloc = f"{host}:{port}" if port else host
    return f"postgresql://{auth}{netloc}/{name}"


def child_database_env(**extra: str) -> dict[str, str]:
    """Environment for a child process so it uses this test run's database and roles."""
    env = dict(os.environ)
    env["DATABASE_URL"] = _url(connections["owner"].settings_dict)
    env["DATABASE_APP_URL"] = _url(connections["default"].settings_dict)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env["PYTHONUNBUFFERED"] = "1"
    # As in this process (tests/conftest.py): no test's API calls meet a 429.
    env["KEELSON_API_READS_PER_MINUTE"] = env["KEELSON_API_WRITES_PER_MINUTE"] = "1000000"
    env.update(extra)
    return env


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (Linux: read from /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"  # "pid (comm) state ...": comm may hold ")"


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextmanager
def running(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    log_name: str = "proc",
    startup_wait: float = 0.0,
) -> Iterator[subprocess.Popen]:
    """Run `python manage.py <args>` in its own process group for the duration of the block."""
    log_dir = ROOT / ".data" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Unique per process started: a later test of the same pytest worker must not overwrite the
    # log that an earlier failure points at.
    log_path = log_dir / f"{log_name}-{os.getpid()}-{next(_log_numbers)}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env or child_database_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log_path  # type: ignore[attr-defined]
        try:
            if startup_wait:
                time.sleep(startup_wait)
            yield proc
        finally:
            stop_process(proc)


@contextmanager
def qcluster(**env_extra: str) -> Iterator[subprocess.Popen]:
    """A real django-q2 cluster on the test database (ORM broker unless REDIS_URL is set)."""
    env = child_database_env(Q_POLL="0.2", Q_WORKERS="2", **env_extra)
    with running(["qcluster"], env=env, log_name="qcluster") as proc:
        yield proc


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def web_server(log_path: Path, **env_extra: str) -> Iterator[str]:
    """gunicorn as production runs it (portal/gunicorn_conf.py) on a free port of the test
    database; yields its base URL once it answers."""
    import requests

    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "portal" / "gunicorn_conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=child_database_env(KEELSON_WEB_ACCESS_LOG="", **env_extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    requests.get(f"{base}/login/", timeout=30)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "gunicorn did not come up"
                    time.sleep(0.2)
            yield base
        finally:
            stop_process(proc)
