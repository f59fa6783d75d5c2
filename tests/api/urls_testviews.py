"""A test URLconf: the real API plus small views that exercise the API base (errors, scopes,
idempotency) the way later endpoints will. Used with `@pytest.mark.urls(__name__)`."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, throttling
from rest_framework.response import Response
from rest_framework.views import APIView

from foundation.api.errors import DomainError
from foundation.api.idempotency import idempotent
from orders.models import ActorType, EventKind, Order, OrderEvent
from portal.api import views as api_views
from tenants.models import ApiScope

# Every run of AddNote's body, to count executions; tests clear it.
EXECUTIONS: list[str] = []
# Called inside AddNote after the Idempotency-Key is claimed (tests block here).
HOOKS: dict[str, Callable[[], None]] = {}


class NoteIn(serializers.Serializer):
    message = serializers.CharField(max_length=500)


class NoteRejected(DomainError):
    code = "note_rejected"
    status = 422
    title = "The note was rejected"


class NoteOut(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    message = serializers.CharField()


class AddNote(APIView):
    """POST /test/orders/{pk}/notes/: writes a real, tenant-owned timeline event."""

    required_scope = ApiScope.ORDERS_WRITE

    @extend_schema(request=NoteIn, responses={201: NoteOut})
    @idempotent
    def post(self, request, pk: int):
        order = generics.get_object_or_404(Order.objects.all(), pk=pk)
        note = NoteIn(data=request.data)
        note.is_valid(raise_exception=True)
        message = note.validated_data["message"]
        EXECUTIONS.append(message)
        if "before_create" in HOOKS:
            HOOKS["before_create"]()
        if message == "reject":
            raise NoteRejected("Notes saying 'reject' are rejected.")
        with transaction.atomic():
            event = OrderEvent.objects.create(
                merchant_id=order.merchant_id,
                order=order,
                kind=EventKind.NOTE,
                message=message,
                actor_type=ActorType.API_KEY,
                actor=request.auth.prefix,
            )
        if message == "write-then-reject":  # a use case that wrote, then refused
            raise NoteRejected("Rejected after writing.")
        if message == "soft-fail":
            return Response({"detail": "returned, not raised"}, status=409)
        return Response(
            {"id": event.pk, "order": order.pk, "message": event.message},
            status=201,
            headers={"Location": f"/api/v1/test/events/{event.pk}/"},
        )


class RefundsOnly(APIView):
    required_scope = ApiScope.REFUNDS_READ

    @extend_schema(responses=inline_serializer("Ok", {"ok": serializers.BooleanField()}))
    def get(self, request):
        return Response({"ok": True})


@extend_schema(exclude=True)
class Boom(APIView):
    required_scope = ApiScope.ORDERS_READ

    def get(self, request):
        raise RuntimeError("connection to db-secret-host.internal:5432 failed, password=hunter2")


@extend_schema(exclude=True)
class DjangoInvalid(APIView):
    required_scope = ApiScope.ORDERS_READ

    def get(self, request):
        raise DjangoValidationError({"time_zone": ["Mars/Olympus is not a known time zone."]})


class AlwaysThrottled(throttling.BaseThrottle):
    def allow_request(self, request, view):
        return False

    def wait(self):
        return 6.2


@extend_schema(exclude=True)
class Throttled(APIView):
    required_scope = ApiScope.ORDERS_READ
    throttle_classes = [AlwaysThrottled]

    def get(self, request):
        return Response({"ok": True})


@extend_schema(exclude=True)
class Undeclared(APIView):
    """Forgot to declare its scope: refused, never open to every key."""

    def get(self, request):
        return Response({"secret": True})


test_patterns = [
    path("orders/<int:pk>/notes/", AddNote.as_view(), name="add-note"),
    path("refunds-only/", RefundsOnly.as_view(), name="refunds-only"),
    path("boom/", Boom.as_view(), name="boom"),
    path("django-invalid/", DjangoInvalid.as_view(), name="django-invalid"),
    path("throttled/", Throttled.as_view(), name="throttled"),
    path("undeclared/", Undeclared.as_view(), name="undeclared"),
]

urlpatterns = [
    path("api/v1/test/", include((test_patterns, "testapi"))),
    path("api/v1/", include("portal.api.urls")),
    re_path(r"^api/", api_views.not_found),
]
