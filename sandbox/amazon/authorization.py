"""The website authorization workflow's server side: developer applications, the one-time
authorization codes Seller Central's consent page hands out (``consent.py``), and Login with
Amazon's grants for an application's client.

- ``grant_type=authorization_code``: the application's client id and secret, a code that
  exists, is unexpired (five minutes of virtual time), unused, was issued to this application
  and (when the request names one) for the same ``redirect_uri``. It issues a refresh token
  for the (seller, application) pair: an ``AmazonAuthorization``.
- ``grant_type=refresh_token`` with an application's client: the authorization's refresh
  token gives an access token for its seller, good for the seller's SP-API operations like the
  seller's own (it carries the seller's token generation: ``revoke-tokens`` ends it too).
- ``grant_type=client_credentials`` with an application's client: its grantless token.

Anything else goes to ``services.exchange_refresh_token`` (a seller's own client).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from sandbox.amazon import clock, services
from sandbox.amazon.errors import ControlError
from sandbox.amazon.models import (
    AmazonApplication,
    AmazonAuthorization,
    AmazonAuthorizationCode,
    AmazonSeller,
)

CODE_LIFETIME = timedelta(minutes=5)
REFRESH_PREFIX = "Atzr|"


# --- applications (control API) --------------------------------------------------------------


def create_application(
    *,
    application_id: str | None = None,
    name: str = "",
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uris: list[str] | None = None,
    draft: bool = True,
) -> AmazonApplication:
    uris = _clean_uris(redirect_uris)
    client_id = client_id or "amzn1.application-oa2-client." + uuid.uuid4().hex
    # A seller's own client may not double as an application's: a token request names only
    # the client, and it must be clear which one it is.
    if AmazonSeller.objects.filter(client_id=client_id).exists():
        raise ControlError(409, "client_exists", "a seller uses this client_id")
    try:
        with transaction.atomic():
            return AmazonApplication.objects.create(
                application_id=application_id or f"amzn1.sp.solution.{uuid.uuid4()}",
                name=name,
                client_id=client_id,
                client_secret=client_secret or "amzn1.oa2-cs.v1." + secrets.token_hex(32),
                redirect_uris=uris,
                draft=bool(draft),
            )
    except IntegrityError as exc:
        raise ControlError(
            409, "application_exists", "an application with this id or client_id exists"
        ) from exc


def update_application(application: AmazonApplication, data: dict[str, Any]) -> AmazonApplication:
    """Edit what the Solution Provider Portal lets a developer edit: name, redirect URIs, and
    publishing (``draft: false``)."""
    if "redirect_uris" in data:
        application.redirect_uris = _clean_uris(data["redirect_uris"])
    if "draft" in data:
        application.draft = bool(data["draft"])
    if "name" in data:
        application.name = str(data["name"])
    application.save()
    return application


def _clean_uris(redirect_uris: Any) -> list[str]:
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise ControlError(400, "invalid", "redirect_uris must be a non-empty list of URLs")
    uris = [str(u).strip() for u in redirect_uris]
    if any(not u.startswith(("http://", "https://")) for u in uris):
        raise ControlError(400, "invalid", "every redirect URI must be an http(s) URL")
    return uris


def application_by_id(application_id: str | None) -> AmazonApplication | None:
    if not application_id:
        return None
    return AmazonApplication.objects.filter(application_id=application_id).first()


# --- codes (the consent page) ----------------------------------------------------------------


def issue_code(
    application: AmazonApplication, seller: AmazonSeller, redirect_uri: str, now: datetime
) -> AmazonAuthorizationCode:
    """The seller consented: a code valid once, for five minutes of virtual time."""
    return AmazonAuthorizationCode.objects.create(
        code="AN" + secrets.token_urlsafe(24),
        application=application,
        seller=seller,
        redirect_uri=redirect_uri,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )


# --- revocation (control API) ----------------------------------------------------------------


def revoke_authorizations(seller: AmazonSeller, application_id: str | None = None) -> int:
    """The seller removes the application (or every one) in Manage Your Apps: their refresh
    tokens answer ``invalid_grant`` from now on. Access tokens already issued keep working until
    they expire (``revoke-tokens`` ends those). Returns how many were revoked."""
    found = AmazonAuthorization.objects.filter(seller=seller, revoked_at__isnull=True)
    if application_id:
        found = found.filter(application__application_id=application_id)
    return found.update(revoked_at=clock.real_now())


# --- LWA -------------------------------------------------------------------------------------


def exchange(form: dict[str, str]) -> tuple[int, dict]:
    """``POST /auth/o2/token``: the grants of applications' clients here, the rest (a
    seller's own client) in ``services.exchange_refresh_token``."""
    grant_type = form.get("grant_type", "")
    if grant_type == "authorization_code":
        return _authorization_code(form)
    client_id = form.get("client_id", "")
    if client_id and AmazonApplication.objects.filter(client_id=client_id).exists():
        if grant_type == "refresh_token":
            return _refresh_token(form)
        if grant_type == "client_credentials":
            return _client_credentials(form)
    return services.exchange_refresh_token(form)


def _missing(form: dict[str, str], names: tuple[str, ...]) -> tuple[int, dict] | None:
    for name in names:
        if not form.get(name):
            return 400, {
                "error": "invalid_request",
                "error_description": f"The request is missing a required parameter : {name}",
            }
    return None


def _client(form: dict[str, str]) -> AmazonApplication | None:
    return AmazonApplication.objects.filter(
        client_id=form["client_id"], client_secret=form["client_secret"]
    ).first()


INVALID_CLIENT = (
    401,
    {"error": "invalid_client", "error_description": "Client authentication failed"},
)


def _invalid_grant(description: str) -> tuple[int, dict]:
    return 400, {"error": "invalid_grant", "error_description": description}


def _authorization_code(form: dict[str, str]) -> tuple[int, dict]:
    missing = _missing(form, ("code", "client_id", "client_secret"))
    if missing:
        return missing
    application = _client(form)
    if application is None:
        return INVALID_CLIENT
    now = clock.virtual_now()
    with transaction.atomic():
        code = (
            AmazonAuthorizationCode.objects.select_for_update()
            .select_related("seller")
            .filter(code=form["code"], application=application)
            .first()
        )
        if code is None:
            return _invalid_grant("The request has an invalid grant parameter : code")
        if code.used_at is not None:
            return _invalid_grant("The authorization code has already been used")
        if code.expires_at <= now:
            return _invalid_grant("The authorization code has expired")
        # python-amazon-sp-api's own exchange sends no redirect_uri; one that is sent must match.
        if form.get("redirect_uri") and form["redirect_uri"] != code.redirect_uri:
            return _invalid_grant("The redirect_uri does not match the authorization request")
        code.used_at = now
        code.save(update_fields=["used_at"])
        authorization = AmazonAuthorization.objects.create(
            seller=code.seller,
            application=application,
            refresh_token=REFRESH_PREFIX + secrets.token_urlsafe(48),
        )
    token, ttl = services.issue_access_token(code.seller, application.client_id)
    return 200, {
        "access_token": token,
        "refresh_token": authorization.refresh_token,
        "token_type": "bearer",
        "expires_in": ttl,
    }


def _refresh_token(form: dict[str, str]) -> tuple[int, dict]:
    missing = _missing(form, ("client_id", "client_secret", "refresh_token"))
    if missing:
        return missing
    application = _client(form)
    if application is None:
        return INVALID_CLIENT
    authorization = (
        AmazonAuthorization.objects.select_related("seller")
        .filter(
            refresh_token=form["refresh_token"], application=application, revoked_at__isnull=True
        )
        .first()
    )
    if authorization is None:
        return _invalid_grant("The request has an invalid grant parameter : refresh_token")
    token, ttl = services.issue_access_token(authorization.seller, application.client_id)
    return 200, {
        "access_token": token,
        "refresh_token": authorization.refresh_token,
        "token_type": "bearer",
        "expires_in": ttl,
    }


def _client_credentials(form: dict[str, str]) -> tuple[int, dict]:
    missing = _missing(form, ("client_id", "client_secret", "scope"))
    if missing:
        return missing
    if form["scope"] not in services.GRANTLESS_SCOPES:
        return 400, {
            "error": "invalid_scope",
            "error_description": "The request has an invalid parameter : scope",
        }
    if _client(form) is None:
        return INVALID_CLIENT
    token, ttl = services.issue_grantless_token(form["client_id"], form["scope"])
    return 200, {
        "access_token": token,
        "scope": form["scope"],
        "token_type": "bearer",
        "expires_in": ttl,
    }
