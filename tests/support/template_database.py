"""One migrated test database, cloned for every pytest-xdist worker.

Each worker has a test database of its own (tests/test_parallel_databases.py). Migrating the
schema (every app's migrations, the row-level security policies, the application role's grants)
took about 23 s of CPU (15 s since the label-only migrations use ``RelabelField``), and four
workers did it side by side on two cores at the start of every run. Instead the xdist
controller migrates one database before the workers start, and each worker's database is made
as a copy of it (Django's ``TEST["TEMPLATE"]``: ``CREATE DATABASE ... TEMPLATE``, a file copy in
PostgreSQL); the worker's own ``migrate`` then finds nothing to do.
The template is dropped when the run ends.
"""

from __future__ import annotations

import os
import subprocess
import sys

from portal.database import owner_url, with_database
from tests.support.processes import ROOT

TEMPLATE_VARIABLE = "KEELSON_TEST_DB_TEMPLATE"


def _maintenance_connection():
    import psycopg
    from django.conf import settings

    owner = settings.DATABASES["owner"]
    return psycopg.connect(
        dbname="postgres",
        host=owner.get("HOST") or None,
        port=owner.get("PORT") or None,
        user=owner.get("USER") or None,
        password=owner.get("PASSWORD") or None,
        autocommit=True,
    )


def drop(name: str) -> None:
    from psycopg import sql

    with _maintenance_connection() as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create() -> str:
    """Create and migrate the template database; its name."""
    from django.conf import settings
    from psycopg import sql

    name = settings.DATABASES["owner"]["TEST"]["NAME"] + "_template"
    drop(name)
    with _maintenance_connection() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = dict(os.environ)
    env.pop(TEMPLATE_VARIABLE, None)
    env["DATABASE_URL"] = with_database(owner_url(), name)
    if env.get("DATABASE_APP_URL"):
        env["DATABASE_APP_URL"] = with_database(env["DATABASE_APP_URL"], name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return name
