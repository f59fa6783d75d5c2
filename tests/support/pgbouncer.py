"""A throwaway PgBouncer in transaction pooling mode in front of the test database, with one
server connection for all its clients (so consecutive transactions of different clients share
one server session, as they may in production). Skips when the binary is missing."""

from __future__ import annotations

import copy
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connections

from tenants.db.base import DatabaseWrapper
from tests.support.processes import stop_process

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
DB_ALIAS = "keelson"


def require_pgbouncer() -> str:
    if not PGBOUNCER:
        pytest.skip("pgbouncer is not installed (scripts/install-services.sh installs it)")
    return PGBOUNCER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as(directory: Path) -> list[str]:
    """PgBouncer refuses to run as root: then as the embedded PostgreSQL's user, who may open
    its socket (and owns the bouncer's directory, for its log)."""
    if os.geteuid() != 0:
        return []
    for user in ("embedded_postgres", "nobody"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        return ["-u", user]
    pytest.skip("pgbouncer must not run as root and there is no other user to run it as")


class Bouncer:
    def __init__(self, port: int) -> None:
        self.port = port

    def settings_dict(self, *, transaction_pooling: bool) -> dict:
        """The application's connection settings, through this PgBouncer."""
        settings = copy.deepcopy(connections["default"].settings_dict)
        settings.update(HOST="127.0.0.1", PORT=str(self.port), NAME=DB_ALIAS, CONN_MAX_AGE=None)
        settings["KEELSON_TRANSACTION_POOLING"] = transaction_pooling
        settings["DISABLE_SERVER_SIDE_CURSORS"] = True
        settings.setdefault("OPTIONS", {})["prepare_threshold"] = None
        return settings

    @contextmanager
    def client(self, name: str, *, transaction_pooling: bool) -> Iterator[DatabaseWrapper]:
        """A Django connection (our backend) through the bouncer, registered as ``name`` so
        ``transaction.atomic(using=name)`` works."""
        wrapper = DatabaseWrapper(self.settings_dict(transaction_pooling=transaction_pooling), name)
        connections[name] = wrapper
        try:
            yield wrapper
        finally:
            wrapper.close()
            del connections[name]

    def raw(self) -> psycopg.Connection:
        """A plain connection through the bouncer (autocommit), to look at the server session."""
        s = self.settings_dict(transaction_pooling=True)
        return psycopg.connect(
            host=s["HOST"],
            port=s["PORT"],
            dbname=DB_ALIAS,
            user=s["USER"],
            password=s.get("PASSWORD") or None,
            autocommit=True,
            prepare_threshold=None,
        )


@contextmanager
def running_pgbouncer() -> Iterator[Bouncer]:
    binary = require_pgbouncer()
    target = connections["default"].settings_dict
    port = _free_port()
    directory = Path(tempfile.mkdtemp(prefix="keelson-pgbouncer-"))
    directory.chmod(0o755)  # readable by the user it runs as
    server = [f"dbname={target['NAME']}", f"user={target['USER']}"]
    if target.get("HOST"):
        server.append(f"host={target['HOST']}")
    if target.get("PORT"):
        server.append(f"port={target['PORT']}")
    if target.get("PASSWORD"):
        server.append(f"password={target['PASSWORD']}")
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{DB_ALIAS} = {' '.join(server)}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "default_pool_size = 1\nmin_pool_size = 0\nreserve_pool_size = 0\n"
        "max_client_conn = 20\nserver_reset_query =\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
    )
    config.chmod(0o644)
    output = open(directory / "output.log", "wb")
    proc = subprocess.Popen(
        [binary, *_run_as(directory), str(config)],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "pgbouncer exited: " + _logs(directory)
                assert time.monotonic() < deadline, "pgbouncer did not listen"
                time.sleep(0.05)
        yield Bouncer(port)
    finally:
        stop_process(proc)
        output.close()
        shutil.rmtree(directory, ignore_errors=True)


def _logs(directory: Path) -> str:
    return " | ".join(
        p.read_text(errors="replace")[-2000:] for p in sorted(directory.glob("*.log"))
    )
