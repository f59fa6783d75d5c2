"""A throwaway Redis server for tests of django-q2's Redis broker, and a way to queue tasks on it
from the test process (whose own Q_CLUSTER uses the ORM broker: django-q2 reads its settings once,
at import)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.tasks import async_task

from tests.support.processes import stop_process

REDIS_SERVER = shutil.which("redis-server")


def require_redis_server() -> str:
    if not REDIS_SERVER:
        pytest.skip("redis-server is not installed (scripts/install-services.sh installs it)")
    return REDIS_SERVER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port, keeping nothing on disk; yields its URL."""
    binary = require_redis_server()
    port = _free_port()
    log = directory / "redis.log"
    proc = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", "--appendonly", "no", "--logfile", str(log)),
        ],
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, f"redis-server exited, see {log}"
                assert time.monotonic() < deadline, f"redis-server did not answer, see {log}"
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        stop_process(proc)


class RedisQueue(RedisBroker):
    """django-q2's Redis broker on a given server, for the cluster named in Q_CLUSTER."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(list_key=settings.Q_CLUSTER["name"])

    def get_connection(self, list_key: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def queue(self, func: str, *args) -> str:
        return async_task(func, *args, broker=self)
