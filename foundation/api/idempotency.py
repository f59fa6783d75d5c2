"""`Idempotency-Key` for POSTs that create something (api.md).

A view method opts in with a decorator::

    class CancelOrder(APIView):
        required_scope = ApiScope.ORDERS_WRITE

        @idempotent
        def post(self, request, pk): ...

(on a ViewSet action, put ``@idempotent`` under ``@action``). Then:

- without the header, nothing changes;
- the first request with a key runs, and its successful (2xx) answer is stored with a
  fingerprint of the request (method, path, canonical JSON body);
- the same key with the same request returns the stored answer: same status, same body, plus
  ``Idempotent-Replayed: true``; the view does not run again;
- the same key with another request is ``409 idempotency_key_reused``;
- a refusal by a business rule (a ``DomainError`` with 409/422 raised by the use case) is kept
  like a success: the same request replays the refusal, another one is
  ``409 idempotency_key_reused`` (a client that retries a refused request with a changed body
  must not find it accepted under the same key); a refusal that holds only for a while
  (``retry_after``, answered with ``Retry-After``, e.g. ``tax_split_pending``) is kept too, as
  api.md says of every refusal: the retry after the wait is a new request, with a new key. What
  a refusal sets in motion (its ``follow_up``) is done in the transaction that stores the
  answer, after the use case's savepoint was undone;
- a request whose first run is still going waits for it (up to
  ``KEELSON_IDEMPOTENCY_WAIT_SECONDS``, default 10), then replays its answer, or gets
  ``409 idempotency_key_in_progress`` with ``Retry-After``;
- any other error answer (400 validation, 401, 403, 404, 5xx, or an error the view returns
  instead of raising) is not stored: the request was refused before the use case ran, nothing
  was created, so the client may fix it and retry with the same key;
- keys are kept 24 hours (``RETENTION``); after that the key is new again.

How it is safe under concurrency: the record is claimed with ``INSERT ... ON CONFLICT DO
NOTHING`` on the unique (api_key, key) pair inside one transaction that also runs the view and
stores the answer. A concurrent request with the same key blocks on that unique index until the
first transaction ends (no check-then-insert race), then finds the committed answer, or no row
if the first failed. Because the view's writes commit in the same transaction as the stored
answer, there is no moment where the effect exists without its record, or the reverse.
Consequence for services: they must not open ``transaction.atomic(durable=True)``, and their
``on_commit`` hooks run when this outer transaction commits.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection, transaction
from django.db.models import Model
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions

from foundation.api.errors import (
    DomainError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    run_follow_up,
)
from foundation.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
DEFAULT_WAIT_SECONDS = 10.0
# Response headers stored with the answer and sent again on a replay.
STORED_HEADERS = ("Location",)
_LOCK_NOT_AVAILABLE = "55P03"


def idempotent(handler: Callable) -> Callable:
    """Make a view method honour the Idempotency-Key header (see the module docstring)."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        raw_key = request.headers.get(HEADER)
        if raw_key is None:
            return handler(view, request, *args, **kwargs)
        key = _validated_key(raw_key)
        if not isinstance(request.auth, credential_model()):
            raise ImproperlyConfigured("@idempotent needs API key authentication")
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            claim = _claim(request.auth, key, fingerprint, request)
            if claim.replay is not None:
                return replay(claim.replay)
            refused = False
            try:
                # A savepoint: when the use case refuses, whatever it wrote is undone, and the
                # refusal (not a half-done effect) is what the key keeps.
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
            except DomainError as exc:
                if not is_use_case_refusal(exc):
                    raise
                # Kept with the answer: what the refusal sets in motion (run_follow_up).
                run_follow_up(exc)
                refused = True
                response = view.handle_exception(exc)
            response = view.finalize_response(request, response, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            if 200 <= response.status_code < 300 or refused:
                _store(claim.record_id, response)
            else:
                IdempotencyRecord.objects.filter(pk=claim.record_id).delete()
        return response

    wrapper.idempotent = True
    return wrapper


def is_use_case_refusal(exc: DomainError) -> bool:
    """A business rule refused the request (409/422 from the use case, api.md): the key keeps
    that answer. Validation and the key's own conflicts are not such a refusal."""
    if isinstance(exc, (IdempotencyKeyReused, IdempotencyKeyInProgress)):
        return False
    return exc.status in (409, 422) and exc.code != "validation_error"


def credential_model() -> type[Model]:
    """The API credential the records are keyed by (the model ``IdempotencyRecord.api_key``
    points at, named there by string so that this base imports no app above it)."""
    return IdempotencyRecord._meta.get_field("api_key").related_model


def is_idempotent(handler: Any) -> bool:
    return bool(getattr(handler, "idempotent", False))


def _validated_key(raw: str) -> str:
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in raw):
        raise exceptions.ValidationError(
            {
                HEADER: [
                    _("Use 1 to %(MAX_KEY_LENGTH)s printable ASCII characters, like a UUID.")
                    % {"MAX_KEY_LENGTH": MAX_KEY_LENGTH}
                ]
            }
        )
    return raw


def request_fingerprint(request) -> str:
    """sha256 of method, full path and the body as canonical JSON (key order and whitespace
    do not matter; values do)."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict (form data)
        data = {k: v for k, v in data.lists()}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    material = "\n".join([request.method.upper(), request.get_full_path(), body])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class _Claim:
    record_id: int | None = None
    replay: IdempotencyRecord | None = None


def _claim(api_key: Model, key: str, fingerprint: str, request) -> _Claim:
    """Insert the record (we run the view) or lock the stored one (we replay or refuse)."""
    now = timezone.now()
    for _attempt in range(3):
        record_id = _insert(api_key, key, fingerprint, request, now)
        if record_id is not None:
            return _Claim(record_id=record_id)
        existing = (
            IdempotencyRecord.objects.select_for_update().filter(api_key=api_key, key=key).first()
        )
        if existing is None:
            continue  # expired and removed by a concurrent request: claim again
        if existing.expires_at <= now:
            existing.delete()
            continue
        if existing.response_status is None:
            raise _in_progress()  # cannot happen: a record commits with its answer or not at all
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                _(
                    "This Idempotency-Key was first used for another request (%(method)s "
                    "%(path)s with another body). Use a new key for a new request."
                )
                % {"method": existing.method, "path": existing.path}
            )
        return _Claim(replay=existing)
    raise _in_progress()


def _insert(api_key: Model, key: str, fingerprint: str, request, now: datetime) -> int | None:
    table = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    wait = float(getattr(settings, "KEELSON_IDEMPOTENCY_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{max(1, int(wait * 1000))}ms"]
            )
            cursor.execute(
                f"INSERT INTO {table} (api_key_id, key, request_fingerprint, method, path, "
                "response_content_type, response_headers, response_body, created_at, "
                "expires_at) VALUES (%s, %s, %s, %s, %s, '', '{}'::jsonb, ''::bytea, %s, %s) "
                "ON CONFLICT (api_key_id, key) DO NOTHING RETURNING id",
                [
                    api_key.pk,
                    key,
                    fingerprint,
                    request.method.upper(),
                    request.get_full_path()[:2048],
                    now,
                    now + RETENTION,
                ],
            )
            row = cursor.fetchone()
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise _in_progress() from None
        raise
    return row[0] if row else None


def _in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(
        "A request with this Idempotency-Key is still running; retry in a moment to get its answer."
    )


def _store(record_id: int, response: HttpResponse) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(
        response_status=response.status_code,
        response_content_type=response.get("Content-Type", ""),
        response_headers={h: response[h] for h in STORED_HEADERS if h in response},
        response_body=bytes(response.content),
    )


def replay(record: IdempotencyRecord) -> HttpResponse:
    """The stored answer, as it was first sent."""
    response = HttpResponse(
        bytes(record.response_body),
        status=record.response_status,
        content_type=record.response_content_type or None,
    )
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete expired records in batches; returns how many. Run by the "idempotency purge"
    schedule; safe to run concurrently (a lookup ignores expired rows anyway)."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=now).values_list("id", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return total
        total += IdempotencyRecord.objects.filter(id__in=ids, expires_at__lte=now).delete()[0]
