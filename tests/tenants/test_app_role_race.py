"""Migration 0002 creates the application role; roles are cluster-wide, so two databases migrated
at once on one server (parallel test workers, two deploys) race for it. The loser must look again
and carry on, not fail: `tenants.rls.ensure_role` on a connection of its own (a thread) while
another session holds an uncommitted CREATE ROLE / ALTER ROLE of the same role."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from django.db import connections

from tenants import rls
from tests.support.processes import _url

pytestmark = pytest.mark.django_db


@pytest.fixture
def role_name():
    name = f"keelson_race_{uuid.uuid4().hex[:12]}"
    yield name
    # Roles are cluster-wide and outlive the test database: drop it outside the test's
    # transaction (which is rolled back), on a connection of its own.
    with psycopg.connect(_url(connections["owner"].settings_dict), autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _other_session() -> psycopg.Connection:
    return psycopg.connect(_url(connections["owner"].settings_dict))


def _ensure_in_a_thread(role: str) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run():
        try:
            # A thread has its own connection for every alias, like another process.
            rls.ensure_role(connections["owner"], role, "pw-race")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _wait_until_blocked(role: str, errors: list[BaseException]) -> None:
    """Until some session waits on a lock while touching `role` (the thread's, behind ours)."""
    # Autocommit: inside a transaction pg_stat_activity would be read once and then cached.
    with psycopg.connect(_url(connections["owner"].settings_dict), autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            (waiting,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                [f"%{role}%"],
            ).fetchone()
            if waiting:
                return
            time.sleep(0.05)
    pytest.fail(f"the second session never waited for the first one's role: {errors}")


@pytest.mark.parametrize("role_exists", [False, True], ids=["create", "alter"])
def test_a_concurrent_create_or_alter_of_the_role_is_waited_for_not_fatal(role_name, role_exists):
    with _other_session() as other:
        if role_exists:
            other.execute(f'CREATE ROLE "{role_name}" LOGIN')
            other.commit()
        # The first session changes the role and keeps its transaction open (like a migration
        # of another database that has not committed yet).
        if role_exists:
            other.execute(f"ALTER ROLE \"{role_name}\" PASSWORD 'first'")
        else:
            other.execute(f'CREATE ROLE "{role_name}" LOGIN')
        thread, errors = _ensure_in_a_thread(role_name)
        _wait_until_blocked(role_name, errors)
        other.commit()
        thread.join(30)
    assert not thread.is_alive()
    assert errors == []
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
            [role_name],
        )
        assert cursor.fetchone() == (False, False, True)
