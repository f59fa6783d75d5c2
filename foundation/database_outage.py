"""When PostgreSQL is out of reach (restarted, failed over, the network cut): requests fail
cleanly and the application recovers by itself (issue 14).

- ``is_database_unavailable(exc)`` tells a lost or refused connection (SQLSTATE class 08,
  PostgreSQL shutting down or starting, a closed connection) from a query's own error, which
  stays a 500: only the first is worth retrying as is.
- The API answers such a request with a 503 problem+json, code ``database_unavailable`` and
  ``Retry-After`` (``foundation.api.errors``); portal pages with a plain-words 503 page
  (``templates/503.html``). ``foundation.middleware.DatabaseUnavailableMiddleware`` (first in
  MIDDLEWARE) catches what fails outside DRF's views too: the session, the user, the scope.
- Nothing needs a restart: Django opens a new connection for the next request (with
  ``CONN_MAX_AGE`` > 0, ``CONN_HEALTH_CHECKS`` tests a kept one first), and the tenant scope of
  row-level security is set again on the new connection (``tenants.db``).
"""

from __future__ import annotations

import psycopg
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext_lazy as _

CODE = "database_unavailable"
# Seconds a client should wait: PostgreSQL restarts in a few seconds; a failover takes longer,
# and the client asks again then.
RETRY_AFTER_SECONDS = 5
# In the request's language (Accept-Language), like every problem's detail; the code stays.
DETAIL = _(
    "The database is unavailable for a moment (restarting or unreachable), so the request "
    "could not be completed. Try again in a few seconds; a POST retried with the same "
    "Idempotency-Key is safe."
)
# SQLSTATEs of a connection that is gone or cannot be had now: 57P01 admin shutdown, 57P02
# crash shutdown, 57P03 cannot connect now (starting up, shutting down), 53300 too many
# connections; any of class 08 (connection exception).
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (Django's wrapper or psycopg's own error) means the connection was lost
    or refused, rather than a query failing on a working connection."""
    if isinstance(exc, InterfaceError | psycopg.InterfaceError):
        return True  # "connection already closed": ours died with the server
    if isinstance(exc, OperationalError):
        exc = exc.__cause__ or exc
    if not isinstance(exc, OperationalError | psycopg.OperationalError):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is None:
        # psycopg has no SQLSTATE when it could not connect at all or the server went away
        # (connection refused, "server closed the connection unexpectedly", a timeout).
        return True
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_STATES
