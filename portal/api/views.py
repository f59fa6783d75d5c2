"""The API's public views (schema and docs) and problem+json outside DRF views.

``not_found`` answers every path under /api/ that no endpoint matches (also a missing trailing
slash: API paths are exact, they are never redirected). ``handler400`` and ``handler500`` are the
root URLconf's error handlers: problem+json under /api/, Django's pages elsewhere.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from foundation.api.errors import problem_response

API_PATH_PREFIX = "/api/"


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document; public (no key needed)."""

    authentication_classes = []
    permission_classes = [AllowAny]


class SwaggerView(SpectacularSwaggerView):
    authentication_classes = []
    permission_classes = [AllowAny]


class RedocView(SpectacularRedocView):
    authentication_classes = []
    permission_classes = [AllowAny]


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    detail = _("No such endpoint; see /api/v1/docs/ for the reference.")
    if not request.path.endswith("/"):
        detail = _("No such endpoint. API paths end with a slash: try %(path)s/") % {
            "path": request.path
        }
    return problem_response(404, "not_found", detail)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(400, "validation_error", _("The request is malformed."))
    return defaults.bad_request(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return problem_response(
            500,
            "server_error",
            _("Something went wrong on our side. It was logged; try again later."),
        )
    return defaults.server_error(request)
