"""Errors as application/problem+json with a stable `code` (api.md)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"

_CODES = {
    status.HTTP_400_BAD_REQUEST: "validation_error",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


class DomainError(Exception):
    """A broken business rule, with a stable code. Apps subclass it in their errors.py.

    ``status`` is 409 for a state conflict and 422 for an amount or quantity (api.md).
    """

    code = "domain_error"
    status = status.HTTP_409_CONFLICT
    title = "The request breaks a business rule"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.errors = errors


def problem(
    status_code: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
) -> Response:
    body = {
        "type": f"https://docs.keelson.app/errors/{code}",
        "title": title or _title_for(status_code),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _title_for(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _flatten_errors(data) -> dict[str, list[str]]:
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for field, value in data.items():
            if isinstance(value, dict):
                for sub, messages in _flatten_errors(value).items():
                    out[f"{field}.{sub}"] = messages
            elif isinstance(value, list):
                messages = []
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        for sub, sub_messages in _flatten_errors(item).items():
                            out[f"{field}[{i}].{sub}"] = sub_messages
                    else:
                        messages.append(str(item))
                if messages:
                    out[field] = messages
            else:
                out[field] = [str(value)]
        return out
    if isinstance(data, list):
        return {"non_field_errors": [str(item) for item in data]}
    return {"non_field_errors": [str(data)]}


def problem_exception_handler(exc, context):
    """DRF exception handler: every error leaves as problem+json with a stable code."""
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.code, exc.message, title=exc.title, errors=exc.errors)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object, or it is not visible to this key.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            response.status_code,
            "validation_error",
            "Some fields are not valid; see errors.",
            errors=_flatten_errors(exc.detail),
        )
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    custom_code = getattr(exc, "default_code", None)
    if isinstance(getattr(exc, "detail", None), exceptions.ErrorDetail):
        custom_code = exc.detail.code or custom_code
    if custom_code and custom_code not in {
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
    }:
        code = custom_code
    if isinstance(exc, exceptions.ParseError):
        code = "validation_error"
    headers = {k: v for k, v in response.items()}
    return problem(response.status_code, code, str(detail or exc), headers=headers)
