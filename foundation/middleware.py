"""Middleware of the shared base."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from foundation.api.errors import problem_response
from foundation.database_outage import CODE, DETAIL, RETRY_AFTER_SECONDS, is_database_unavailable

logger = logging.getLogger("keelson.database")

_REQUEST_FLAG = "_keelson_database_unavailable"


def unavailable_page() -> HttpResponse:
    """The portal's 503: plain words, rendered without the database (no request context)."""
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def unavailable_problem() -> HttpResponse:
    response = problem_response(
        503, CODE, DETAIL, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
    response["Cache-Control"] = "no-store"
    return response


def _mark_request(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Django sends ``got_request_exception`` from inside its handler of any exception a view
    or middleware raised: remember a lost database on the request."""
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        setattr(request, _REQUEST_FLAG, True)


class DatabaseUnavailableMiddleware:
    """Outermost: a request that failed because the database was unreachable leaves as a 503
    (problem+json under /api/, the plain page elsewhere), never a 500 or a debug page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        got_request_exception.connect(_mark_request, dispatch_uid="foundation.database_outage")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except Exception as exc:  # only when exceptions propagate (DEBUG_PROPAGATE_EXCEPTIONS)
            if not is_database_unavailable(exc):
                raise
            setattr(request, _REQUEST_FLAG, True)
            response = None
        if getattr(request, _REQUEST_FLAG, False):
            logger.warning("database unavailable: %s %s answered 503", request.method, request.path)
            if request.path_info.startswith("/api/"):
                return unavailable_problem()
            return unavailable_page()
        return response
