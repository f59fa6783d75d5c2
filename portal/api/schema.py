"""OpenAPI 3 generation (drf-spectacular) for the partner API.

- ``ApiKeyAuthenticationScheme`` describes the Bearer key.
- ``AutoSchema`` adds to every operation what DRF's introspection cannot see: the problem+json
  error responses it may answer (401, 403, 404, 400, 409, 415, 422, 429; a ``Problem``
  component), the scope it requires (``x-required-scope`` and a line in its description), its
  rate limit (``x-rate-limit``, a line in its description, and the ``RateLimit-*`` headers on
  every response counted against the key's budget, ``Retry-After`` on the 429), and for
  ``@idempotent`` methods the ``Idempotency-Key`` header.
- ``document_error_codes`` (a post-processing hook) lists every stable error code in the API
  description, the domain ones collected from ``DomainError`` subclasses.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ResolvedComponent, build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from foundation.api import idempotency
from foundation.api.errors import PROBLEM_CONTENT_TYPE, DomainError
from tenants import api_throttle
from tenants.api_auth import ANY_SCOPE, HasApiKey, declared_scope

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 (not a secret)
            bearer_format="kls_...",
        )
        scheme["description"] = (
            "An API key from the portal, sent as `Authorization: Bearer <key>`. It belongs to "
            "an agency (all its merchants) or a merchant, and carries scopes."
        )
        return scheme


class ProblemSerializer(serializers.Serializer):
    """An error (RFC 9457 problem details) with a stable `code`."""

    type = serializers.CharField(help_text="A URL naming the error kind.")
    title = serializers.CharField(help_text="Short summary of the error kind.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong with this request.")
    code = serializers.CharField(help_text="Stable error code, e.g. `not_found`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors by field (`lines[0].quantity`), for `validation_error`.",
    )


_ERRORS = {
    "400": "Invalid input (`validation_error`), with `errors` by field.",
    "401": "No API key, or an unknown or revoked one (`not_authenticated`).",
    "403": "The key lacks the scope this operation needs (`permission_denied`).",
    "404": "No such object, or not visible to this key (`not_found`): another tenant's "
    "object is never revealed.",
    "409": "The request conflicts with the object's state (a domain code such as "
    "`invalid_transition`), or with an earlier use of its Idempotency-Key "
    "(`idempotency_key_reused`, `idempotency_key_in_progress`). A conflict that passes by "
    "itself (`tax_split_pending`, `idempotency_key_in_progress`) says when to send the "
    "request again (`Retry-After`); a refusal kept by an Idempotency-Key is sent again with a "
    "new key.",
    "415": "The body is not JSON (`unsupported_media_type`).",
    "422": "An amount or quantity breaks a business rule (a domain code such as "
    "`refund_exceeds_balance`).",
    "429": "Too many requests with this key (`rate_limited`); wait `Retry-After` seconds.",
}

# Answers given after the request was counted against the key's budget (DRF throttles after
# authentication and permissions: a 401 or 403 is not counted and carries no RateLimit headers).
COUNTED_ERRORS = ("400", "409", "415", "422", "429")
_INTEGER = {"type": "integer", "minimum": 0}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": (
        _INTEGER,
        "Requests this key may make in the policy's window, for this operation's scope class.",
    ),
    "RateLimit-Remaining": (_INTEGER, "Requests the key may still make right now."),
    "RateLimit-Reset": (_INTEGER, "Seconds until the whole budget is available again."),
    "RateLimit-Policy": (
        {"type": "string", "pattern": "^[0-9]+;w=[0-9]+$", "example": "600;w=60"},
        "The budget: `<requests>;w=<seconds>` (IETF draft httpapi-ratelimit-headers).",
    ),
}
RETRY_AFTER = (
    {"type": "integer", "minimum": 1},
    "Seconds to wait before the next request of this scope class is allowed.",
)


class AutoSchema(openapi.AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if idempotency.is_idempotent(self._handler()):
            parameters.append(
                OpenApiParameter(
                    idempotency.HEADER,
                    # What idempotency._validated_key accepts: 1 to 255 printable ASCII.
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": idempotency.MAX_KEY_LENGTH,
                        "pattern": "^[ -~]+$",
                    },
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Any unique string (a UUID) for this request. Retrying with the same "
                        "key and body returns the first answer (header "
                        f"`{idempotency.REPLAYED_HEADER}: true`) instead of acting twice. Kept "
                        "24 hours."
                    ),
                )
            )
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular leaves out the bounds of a nested list (`Item(many=True,
        # min_length=1)`), so the schema allowed `"lines": []` that the API refuses.
        if schema and isinstance(field, serializers.ListSerializer):
            if field.min_length is not None:
                schema["minItems"] = field.min_length
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # What a strict text field checks beyond its type and length (foundation.api.inputs).
        # Added after drf-spectacular's own: it would make a blank-allowed field with a
        # pattern a `oneOf` with "", and keep the field's default "" inside the pattern's side.
        pattern = getattr(field, "openapi_pattern", None)
        if pattern and schema.get("type") == "string" and "pattern" not in schema:
            schema["pattern"] = pattern

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if self._needs_api_key():
            scope = declared_scope(self.view, self.method)
            if scope:
                operation["x-required-scope"] = scope
                note = (
                    "Any API key may call this."
                    if scope == ANY_SCOPE
                    else f"Needs an API key with the scope `{scope}`."
                )
                description = operation.get("description", "")
                operation["description"] = f"{description}\n\n{note}".strip()
        self._add_problem_responses(operation)
        if self._needs_api_key():
            self._add_rate_limit(operation)
        return operation

    def _add_rate_limit(self, operation: dict) -> None:
        kind = api_throttle.scope_class(declared_scope(self.view, self.method), self.method)
        policy = api_throttle.policy_for(kind)
        operation["x-rate-limit"] = {
            "class": kind,
            "limit": policy.limit,
            "window": policy.window,
        }
        operation["description"] = (
            f"{operation.get('description', '')}\n\nRate limit: {policy.limit} requests every "
            f"{policy.window} seconds per API key, shared by the key's {kind} operations; "
            "then `429 rate_limited`."
        ).strip()
        headers = {name: self._header(name, *spec) for name, spec in RATE_LIMIT_HEADERS.items()}
        for status, response in operation.get("responses", {}).items():
            if status.startswith("2") or status in COUNTED_ERRORS:
                response["headers"] = {**response.get("headers", {}), **headers}
            elif status == "404":
                # A path whose id is not even a number ("/orders/abc/") matches no endpoint:
                # that 404 is answered before any key is looked at, so without the headers.
                response["headers"] = {
                    name: {"schema": schema, "description": description, "required": False}
                    for name, (schema, description) in RATE_LIMIT_HEADERS.items()
                }
            if status == "429":
                response["headers"]["Retry-After"] = self._header("Retry-After", *RETRY_AFTER)

    def _header(self, name: str, schema: dict, description: str) -> dict:
        component = ResolvedComponent(
            name=name.replace("-", ""),
            type=ResolvedComponent.HEADER,
            object=name,
            schema={"schema": schema, "description": description, "required": True},
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _handler(self):
        action = getattr(self.view, "action", None)
        return getattr(self.view, action or self.method.lower(), None)

    def _needs_api_key(self) -> bool:
        return any(isinstance(p, HasApiKey) for p in self.view.get_permissions())

    def _add_problem_responses(self, operation: dict) -> None:
        statuses = []
        parameters = operation.get("parameters", [])
        if any(p.get("in") == "query" for p in parameters) or "requestBody" in operation:
            statuses.append("400")
        if self._needs_api_key():
            statuses += ["401", "403"]
        if any(p.get("in") == "path" for p in parameters):
            statuses.append("404")
        if self.method in WRITE_METHODS:
            statuses += ["409", "422"]
        if "requestBody" in operation:
            statuses.append("415")
        if self._needs_api_key():
            statuses.append("429")
        if not statuses:
            return
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses.setdefault(
                status,
                {
                    "description": _ERRORS[status],
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}},
                },
            )
        if "409" in statuses:
            schema, _description = RETRY_AFTER
            responses["409"].setdefault("headers", {})["Retry-After"] = {
                "schema": schema,
                "description": "Seconds to wait before sending the same request again, when "
                "the conflict passes by itself.",
                "required": False,
            }


def _domain_errors() -> list[type[DomainError]]:
    found, stack = [], list(DomainError.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def document_error_codes(result: dict, generator, request, public) -> dict:
    """Append the list of stable error codes to the API description."""
    codes: dict[str, tuple[int, str]] = {
        "validation_error": (400, "Invalid input; see `errors`."),
        "not_authenticated": (401, "No API key, or an unknown or revoked one."),
        "permission_denied": (403, "The key lacks the scope the operation needs."),
        "not_found": (404, "No such object or endpoint, or not visible to this key."),
        "method_not_allowed": (405, "The endpoint does not support this method."),
        "not_acceptable": (406, "The `Accept` header asks for something other than JSON."),
        "request_too_large": (413, "The body is too large."),
        "unsupported_media_type": (415, "Send the body as `application/json`."),
        "rate_limited": (429, "Too many requests; wait `Retry-After` seconds."),
        "server_error": (500, "Our fault; it was logged. Retry later."),
    }
    for cls in _domain_errors():
        if cls.code not in codes:
            codes[cls.code] = (cls.status, cls.title)
    lines = [f"| `{code}` | {status} | {text} |" for code, (status, text) in sorted(codes.items())]
    table = "\n".join(["| code | status | meaning |", "|---|---|---|", *lines])
    info = result.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n## Error codes\n\n{table}".strip()
    return result
