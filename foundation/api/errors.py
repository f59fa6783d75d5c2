"""Errors as application/problem+json with a stable `code` (api.md).

Every error the API returns has the body ``{"type", "title", "status", "detail", "code"}`` (plus
``"errors": {field: [messages]}`` for validation) and the content type
``application/problem+json``: DRF's own exceptions (401, 403, 404, 405, 406, 415, 429, parse and
validation errors), domain errors (``DomainError``: 409 or 422), and unexpected exceptions, which
become a 500 ``server_error`` that names no internals (the traceback goes to the log).
Errors raised outside DRF views (unknown paths, middleware) get the same shape from
``portal.api.views``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from foundation.database_outage import is_database_unavailable
from foundation.i18n import localize

logger = logging.getLogger("keelson.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
ERROR_TYPE_BASE = "https://docs.keelson.app/errors/"

# The code of a DRF error, by status, unless the exception carries a code of its own.
_CODES = {
    status.HTTP_400_BAD_REQUEST: "validation_error",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "request_too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
    status.HTTP_500_INTERNAL_SERVER_ERROR: "server_error",
}
# DRF's generic codes: replaced by the status's code above (one stable vocabulary).
_GENERIC_DRF_CODES = {
    "error",
    "invalid",
    "not_found",
    "permission_denied",
    "not_authenticated",
    "authentication_failed",
    "method_not_allowed",
    "throttled",
    "parse_error",
    "unsupported_media_type",
    "not_acceptable",
}

NOT_FOUND_DETAIL = _("No such object, or it is not visible to this key.")
SERVER_ERROR_DETAIL = _(
    "Something went wrong on our side. It was logged; try again later, and quote reference "
    "{reference} if it persists."
)


class DomainError(Exception):
    """A broken business rule, with a stable code. Apps subclass it in their errors.py.

    ``status`` is 409 for a state conflict and 422 for an amount or quantity (api.md).
    """

    code = "domain_error"
    status = status.HTTP_409_CONFLICT
    title = "The request breaks a business rule"
    headers: dict[str, str] | None = None
    # A refusal that holds only for a while (seconds until the request may work): answered
    # with ``Retry-After``. An Idempotency-Key keeps it like any refusal (api.md): the retry
    # is a new request, with a new key. None: the refusal stands.
    retry_after: int | None = None
    # What the refusal sets in motion (asking Amazon for what is missing), to be done although
    # the refused use case's transaction is undone: ``run_follow_up`` runs it once, after the
    # rollback. None: nothing.
    follow_up: Callable[[], None] | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.errors = errors
        if headers:
            self.headers = headers


def run_follow_up(exc: DomainError) -> None:
    """Run what the refusal ``exc`` sets in motion, once. Call it where the refused use case's
    transaction has been rolled back and what runs now is kept: outside any transaction (the
    use case's own boundary, ``refunds.services.create_refund``), or in the transaction the
    API's Idempotency-Key stores the answer in, after the use case's savepoint was undone."""
    follow_up, exc.follow_up = exc.follow_up, None
    if follow_up is not None:
        follow_up()


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = status.HTTP_409_CONFLICT
    title = "The Idempotency-Key was used for another request"


class IdempotencyKeyInProgress(DomainError):
    code = "idempotency_key_in_progress"
    status = status.HTTP_409_CONFLICT
    title = "A request with this Idempotency-Key is still running"
    headers = {"Retry-After": "1"}


def problem_body(
    status_code: int, code: str, detail: str, title: str | None = None, errors: dict | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": ERROR_TYPE_BASE + code,
        "title": str(title or title_for(status_code)),
        "status": status_code,
        "detail": localize(detail),
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem(
    status_code: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
) -> Response:
    """A DRF response with a problem body (rendered by the view's JSON renderer)."""
    response = Response(
        problem_body(status_code, code, detail, title, errors), status=status_code, headers=headers
    )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(
    status_code: int, code: str, detail: str, headers: dict | None = None
) -> HttpResponse:
    """The same body for plain Django views and handlers (no DRF request around)."""
    return JsonResponse(
        problem_body(status_code, code, detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def title_for(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def flatten_errors(data: Any) -> dict[str, list[str]]:
    """DRF's nested error structure as ``{"field": [...], "lines[0].quantity": [...]}``."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(key, int):  # DRF reports a list's items by index: {0: {...}}
                    walk(f"{prefix}[{key}]", sub)
                else:
                    walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            messages = []
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    walk(f"{prefix}[{i}]", item)
                else:
                    messages.append(str(item))
            if messages:
                out.setdefault(prefix or "non_field_errors", []).extend(messages)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", data)
    return out


def _code_of(exc: exceptions.APIException, status_code: int) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str) and codes not in _GENERIC_DRF_CODES:
        return codes
    return _CODES.get(status_code, "error")


def _detail_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        messages = flatten_errors(detail)
        return "; ".join(m for ms in messages.values() for m in ms) or exc.default_detail
    return str(detail)


def problem_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error leaves as problem+json with a stable code.

    Never returns None, so nothing falls through to Django's HTML error pages: an unexpected
    exception is logged with a reference and answered with a 500 ``server_error``.
    """
    if isinstance(exc, DomainError):
        set_rollback()
        headers = dict(exc.headers or {})
        if exc.retry_after:
            headers.setdefault("Retry-After", str(exc.retry_after))
        # The stable code never changes; the detail (and field errors) are in the language
        # LocaleMiddleware chose from Accept-Language. Rule messages (foundation.text.Text) are
        # translated here, at the boundary.
        return problem(
            exc.status,
            exc.code,
            localize(exc.message),
            title=str(exc.title),
            errors=_localized_errors(exc.errors),
            headers=headers or None,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND_DETAIL)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException(_("The request body is too large."))
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(_("The request is malformed."))

    if not isinstance(exc, exceptions.APIException):
        if is_database_unavailable(exc):
            # Answered once, for the API and the portal alike, by the outermost middleware
            # (foundation.middleware: 503 database_unavailable): DRF re-raises it to there.
            return None
        return server_error(exc, context)

    set_rollback()
    headers = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(math.ceil(wait))

    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        first = next(iter(errors.values()), [_("Invalid input.")])[0]
        detail = first if len(errors) == 1 else _("Some fields are not valid; see errors.")
        return problem(exc.status_code, "validation_error", detail, errors=errors, headers=headers)
    if isinstance(exc, exceptions.ParseError):
        return problem(exc.status_code, "validation_error", _detail_of(exc), headers=headers)
    return problem(
        exc.status_code, _code_of(exc, exc.status_code), _detail_of(exc), headers=headers
    )


def _localized_errors(errors: dict | None) -> dict | None:
    if not errors:
        return errors
    return {
        field: [localize(m) for m in messages] if isinstance(messages, list) else localize(messages)
        for field, messages in errors.items()
    }


def set_rollback() -> None:
    """As DRF's: roll back the request's transaction when ATOMIC_REQUESTS wraps the view.
    (Imported here, rest_framework.views would load the API settings, and with them the
    authentication classes, while the domain apps' errors modules import this one.)"""
    for db in connections.all():
        if db.settings_dict.get("ATOMIC_REQUESTS") and db.in_atomic_block:
            db.set_rollback(True)


def server_error(exc: Exception, context: dict) -> Response:
    """Log an unexpected exception and answer with a problem that reveals nothing inside."""
    reference = uuid.uuid4().hex[:12]
    view = context.get("view")
    request = context.get("request")
    logger.error(
        "unhandled API error %s in %s",
        reference,
        type(view).__name__ if view else "?",
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    django_request = getattr(request, "_request", request)
    # As Django does for unhandled exceptions: error reporters hook in here, and the test
    # client re-raises the exception (tests see the traceback, not just a 500).
    signals.got_request_exception.send(sender=None, request=django_request)
    set_rollback()
    return problem(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        SERVER_ERROR_DETAIL.format(reference=reference),
    )
