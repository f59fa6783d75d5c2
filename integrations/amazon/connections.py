"""Connecting a merchant's Amazon seller account through Seller Central's website authorization
workflow, testing the connection, and disconnecting it (issue 13; rule R8).

The workflow (Amazon's "Website Authorization Workflow"):

1. ``begin_authorization``: a random ``state`` is kept in the person's session with what they
   chose (merchant, name, region, marketplaces), who they are, and when (10 minutes, one use);
   the browser goes to Seller Central's consent URI (``AmazonApplication.consent_url``).
2. The seller signs in to Seller Central and consents; Amazon sends the browser back to our
   redirect URI with ``spapi_oauth_code``, ``state`` and ``selling_partner_id``.
3. ``take_authorization`` checks the state against the session (missing, expired, used, or
   another user's: refused, nothing saved); ``exchange_authorization_code`` trades the code
   (valid five minutes, once) for the seller's refresh token at LWA; ``check_connection`` makes
   one cheap SP-API call with it. Only then is the account saved (by the orders app, which owns
   the sync: ``orders.sync.connect_amazon_account``, one transaction, the refresh token
   encrypted at rest; a known seller is reconnected with its sync cursor kept).

``disconnect_account`` stops the sync and forgets the refresh token. R8: none of this sends
anything to Amazon but LWA's token requests and the one read: no refund, no cancellation, no
feed. What a person created while the account was not connected stays on hold until a person
sends it (``refunds.services``).
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from foundation.api.errors import DomainError
from integrations.amazon.gateway import (
    LWA_TOKEN_URL,
    REGION_ENDPOINTS,
    AmazonAuthFailed,
    AmazonCredentials,
    AmazonGateway,
    AmazonPermanentError,
    AmazonThrottled,
    AmazonTransientError,
)
from integrations.amazon.marketplaces import MARKETPLACES
from integrations.amazon.ratelimit import RateLimiter
from tenants.models import AccountStatus, AmazonAccount

# Seller Central per SP-API region: where sellers of that region sign in and consent.
SELLER_CENTRAL = {
    "NA": "https://sellercentral.amazon.com",
    "EU": "https://sellercentral-europe.amazon.com",
    "FE": "https://sellercentral.amazon.co.jp",
}
CONSENT_PATH = "/apps/authorize/consent"
SESSION_KEY = "keelson_amazon_authorizations"
STATE_LIFETIME = timedelta(minutes=10)
# Used states are remembered this long, so a replay is told apart from a state never issued.
STATE_MEMORY = timedelta(hours=1)
LWA_TIMEOUT = 15.0
# The connection check reads orders created in this window (Amazon wants the window's start at
# least two minutes in the past; one page of at most one order is all it needs).
CHECK_WINDOW = timedelta(minutes=10)


class AmazonConnectionFailed(DomainError):
    code = "amazon_connection_failed"
    status = 422
    title = _("Keelson could not connect the Amazon account")


class AmazonAuthorizationInvalid(DomainError):
    code = "amazon_authorization_invalid"
    status = 400
    title = _("This Amazon authorization cannot be used")


class AmazonApplicationNotConfigured(DomainError):
    code = "amazon_application_not_configured"
    status = 409
    title = _("Keelson's Amazon application is not configured")


# --- Keelson's SP-API application --------------------------------------------------------------


@dataclass(frozen=True)
class AmazonApplication:
    """Keelson's registered SP-API application (settings; README "Configuration")."""

    application_id: str
    client_id: str
    client_secret: str
    draft: bool = False
    consent_base_url: str = ""  # override of Seller Central (the emulator)
    lwa_token_url_override: str = ""
    spapi_endpoint_override: str = ""

    @classmethod
    def from_settings(cls) -> AmazonApplication:
        return cls(
            application_id=getattr(settings, "KEELSON_AMAZON_APPLICATION_ID", ""),
            client_id=getattr(settings, "AMAZON_LWA_CLIENT_ID", ""),
            client_secret=getattr(settings, "AMAZON_LWA_CLIENT_SECRET", ""),
            draft=bool(getattr(settings, "KEELSON_AMAZON_APP_DRAFT", False)),
            consent_base_url=getattr(settings, "KEELSON_AMAZON_CONSENT_BASE_URL", ""),
            lwa_token_url_override=getattr(settings, "KEELSON_AMAZON_LWA_TOKEN_URL", ""),
            spapi_endpoint_override=getattr(settings, "KEELSON_AMAZON_SPAPI_ENDPOINT", ""),
        )

    @property
    def configured(self) -> bool:
        return bool(self.application_id and self.client_id and self.client_secret)

    @property
    def lwa_token_url(self) -> str:
        return self.lwa_token_url_override or LWA_TOKEN_URL

    def spapi_endpoint(self, region: str) -> str:
        return (self.spapi_endpoint_override or REGION_ENDPOINTS[region]).rstrip("/")

    def consent_url(self, region: str, state: str, redirect_uri: str) -> str:
        base = (self.consent_base_url or SELLER_CENTRAL[region]).rstrip("/")
        params = {
            "application_id": self.application_id,
            "state": state,
            "redirect_uri": redirect_uri,
        }
        if self.draft:
            params["version"] = "beta"
        return f"{base}{CONSENT_PATH}?{urlencode(params)}"

    def credentials(
        self,
        *,
        selling_partner_id: str,
        region: str,
        marketplace_ids: tuple[str, ...],
        refresh_token: str,
    ) -> AmazonCredentials:
        return AmazonCredentials(
            selling_partner_id=selling_partner_id,
            region=region,
            marketplace_ids=tuple(marketplace_ids),
            refresh_token=refresh_token,
            client_id=self.client_id,
            client_secret=self.client_secret,
            endpoint=self.spapi_endpoint(region),
            lwa_token_url=self.lwa_token_url,
        )


def not_configured() -> str:
    return gettext(
        "Connecting Amazon accounts is not set up on this Keelson yet: its operator must set "
        "KEELSON_AMAZON_APPLICATION_ID, AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET."
    )


def configured_application() -> AmazonApplication:
    application = AmazonApplication.from_settings()
    if not application.configured:
        raise AmazonApplicationNotConfigured(not_configured())
    return application


def marketplaces_of(region: str) -> list[tuple[str, str]]:
    """(marketplace id, label) of the region's marketplaces."""
    return [
        (m.marketplace_id, f"{m.name} ({m.country})")
        for m in MARKETPLACES.values()
        if m.region == region
    ]


# --- the state, in the person's session --------------------------------------------------------


@dataclass(frozen=True)
class PendingAuthorization:
    """What a person asked for before going to Seller Central, kept under its ``state``."""

    state: str
    user_id: int
    merchant_id: int
    name: str
    region: str
    marketplace_ids: tuple[str, ...]
    redirect_uri: str
    created_at: datetime
    used: bool = False

    def as_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["marketplace_ids"] = list(self.marketplace_ids)
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> PendingAuthorization:
        return cls(
            **{
                **data,
                "marketplace_ids": tuple(data["marketplace_ids"]),
                "created_at": datetime.fromisoformat(data["created_at"]),
            }
        )


def _pending(session: MutableMapping, now: datetime) -> dict[str, dict]:
    """The session's authorizations, without those too old to remember."""
    kept = {}
    for state, data in (session.get(SESSION_KEY) or {}).items():
        try:
            created = datetime.fromisoformat(data["created_at"])
        except (KeyError, TypeError, ValueError):
            continue
        if now - created <= STATE_MEMORY:
            kept[state] = data
    return kept


def begin_authorization(
    session: MutableMapping,
    application: AmazonApplication,
    *,
    user_id: int,
    merchant_id: int,
    name: str,
    region: str,
    marketplace_ids: list[str] | tuple[str, ...],
    redirect_uri: str,
) -> str:
    """Keep a new state in the session and return Seller Central's consent URI for it."""
    now = timezone.now()
    pending = PendingAuthorization(
        state=secrets.token_urlsafe(32),
        user_id=user_id,
        merchant_id=merchant_id,
        name=name,
        region=region,
        marketplace_ids=tuple(marketplace_ids),
        redirect_uri=redirect_uri,
        created_at=now,
    )
    kept = _pending(session, now)
    kept[pending.state] = pending.as_session()
    session[SESSION_KEY] = kept
    return application.consent_url(region, pending.state, redirect_uri)


def take_authorization(
    session: MutableMapping, *, state: str, user_id: int
) -> PendingAuthorization:
    """The authorization Amazon's answer belongs to, used up now (whatever happens next, the
    same answer cannot be used again). Refused when the state was not issued in this session,
    has expired, was used already or belongs to another user."""
    now = timezone.now()
    kept = _pending(session, now)
    data = kept.get(state or "")
    if data is None:
        session[SESSION_KEY] = kept
        raise AmazonAuthorizationInvalid(
            gettext(
                "Keelson did not start this Amazon authorization in your session (or it was "
                "too long ago). Nothing was connected: start again with “Connect an Amazon "
                "account”."
            )
        )
    pending = PendingAuthorization.from_session(data)
    if pending.used:
        raise AmazonAuthorizationInvalid(
            gettext(
                "This answer from Amazon was already used. Nothing more was connected: start "
                "again with “Connect an Amazon account” if the account is not connected."
            )
        )
    kept[state] = {**data, "used": True}
    session[SESSION_KEY] = kept
    if pending.user_id != user_id:
        raise AmazonAuthorizationInvalid(
            gettext(
                "This Amazon authorization was started by another user. Nothing was connected: "
                "start again with “Connect an Amazon account”."
            )
        )
    if now - pending.created_at > STATE_LIFETIME:
        raise AmazonAuthorizationInvalid(
            gettext(
                "This Amazon authorization expired: more than 10 minutes passed since it was "
                "started. Nothing was connected: start again with “Connect an Amazon account”."
            )
        )
    return pending


# --- Login with Amazon -------------------------------------------------------------------------


def _lwa(url: str, form: dict[str, str]) -> tuple[int, dict]:
    try:
        response = requests.post(url, data=form, timeout=LWA_TIMEOUT)
    except requests.RequestException as exc:
        raise AmazonConnectionFailed(
            gettext("Amazon could not be reached (%(error)s). Try again in a minute.")
            % {"error": type(exc).__name__}
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def _invalid_client_message() -> str:
    return gettext(
        "Amazon refused Keelson's application credentials (AMAZON_LWA_CLIENT_ID and "
        "AMAZON_LWA_CLIENT_SECRET): the operator of this Keelson must correct them."
    )


def exchange_authorization_code(
    application: AmazonApplication, *, code: str, redirect_uri: str
) -> str:
    """Trade Amazon's one-time code for the seller's refresh token; refusals in plain words."""
    if not code:
        raise AmazonConnectionFailed(
            gettext("Amazon sent no authorization code. Nothing was connected: start again.")
        )
    status, body = _lwa(
        application.lwa_token_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": application.client_id,
            "client_secret": application.client_secret,
        },
    )
    if status == 200 and body.get("refresh_token"):
        return str(body["refresh_token"])
    error = body.get("error", "")
    if error == "invalid_grant":
        message = gettext(
            "Amazon did not accept the authorization: its code was already used or has expired "
            "(a code is good once, for five minutes). Nothing was connected: start again with "
            "“Connect an Amazon account”."
        )
    elif error in ("invalid_client", "unauthorized_client"):
        message = _invalid_client_message()
    else:
        message = gettext(
            "Amazon refused the authorization (%(error)s). Nothing was connected: start again."
        ) % {"error": body.get("error_description") or error or f"HTTP {status}"}
    raise AmazonConnectionFailed(message)


# --- the connection check ("Test connection", and before anything is saved) --------------------


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    code: str = ""  # ok, invalid_grant, invalid_client, refused, throttled, unavailable


def check_connection(credentials: AmazonCredentials) -> ConnectionCheck:
    """Ask LWA for an access token with the refresh token (this tells a revoked authorization
    from wrong application credentials), then read one page of at most one order."""
    status, body = _lwa_refresh(credentials)
    if status != 200:
        error = body.get("error", "")
        if error == "invalid_grant":
            return ConnectionCheck(
                False,
                gettext(
                    "Amazon no longer accepts Keelson's authorization: connect the account again."
                ),
                "invalid_grant",
            )
        if error in ("invalid_client", "unauthorized_client"):
            return ConnectionCheck(False, _invalid_client_message(), "invalid_client")
        return ConnectionCheck(
            False,
            gettext("Amazon's login service answered %(answer)s. Try again in a minute.")
            % {"answer": body.get("error_description") or error or f"HTTP {status}"},
            "unavailable",
        )
    gateway = AmazonGateway(
        credentials,
        limiter=RateLimiter(enabled=getattr(settings, "KEELSON_AMAZON_RATE_LIMITS", True)),
        max_attempts=2,
        max_wait=5.0,
        timeout=LWA_TIMEOUT,
    )
    try:
        gateway.get_orders_page(created_after=timezone.now() - CHECK_WINDOW, max_results=1)
    except AmazonAuthFailed as exc:
        return ConnectionCheck(
            False,
            gettext(
                "Amazon accepted Keelson's authorization but refused to show this seller's "
                "orders (%(error)s): check that Keelson's application has the Orders role."
            )
            % {"error": exc.message},
            "refused",
        )
    except AmazonThrottled:
        return ConnectionCheck(
            False,
            gettext("Amazon is asking Keelson to slow down right now. Try again in a minute."),
            "throttled",
        )
    except AmazonPermanentError as exc:
        return ConnectionCheck(
            False,
            gettext(
                "Amazon refused to read this seller's orders on %(marketplaces)s (%(error)s): "
                "choose the marketplaces this seller account sells on."
            )
            % {"marketplaces": _marketplace_names(credentials), "error": exc.message},
            "refused",
        )
    except AmazonTransientError as exc:
        return ConnectionCheck(
            False,
            gettext("Amazon could not be reached (%(error)s). Try again in a minute.")
            % {"error": exc.message},
            "unavailable",
        )
    return ConnectionCheck(
        True,
        gettext("Amazon answered: Keelson can read the orders of seller %(seller)s on %(where)s.")
        % {"seller": credentials.selling_partner_id, "where": _marketplace_names(credentials)},
        "ok",
    )


def _lwa_refresh(credentials: AmazonCredentials) -> tuple[int, dict]:
    try:
        return _lwa(
            credentials.lwa_token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": credentials.refresh_token,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
    except AmazonConnectionFailed as exc:
        return 503, {"error_description": exc.message}


def _marketplace_names(credentials: AmazonCredentials) -> str:
    return ", ".join(
        MARKETPLACES[m].name if m in MARKETPLACES else m for m in credentials.marketplace_ids
    )


def authorize(
    application: AmazonApplication,
    pending: PendingAuthorization,
    *,
    code: str,
    selling_partner_id: str,
) -> AmazonCredentials:
    """Amazon's answer, verified: the refresh token for the seller, checked with one read.
    Raises ``AmazonConnectionFailed`` (in plain words) when Amazon refuses either."""
    if not selling_partner_id:
        raise AmazonConnectionFailed(
            gettext("Amazon did not say which seller account consented. Start again.")
        )
    refresh_token = exchange_authorization_code(
        application, code=code, redirect_uri=pending.redirect_uri
    )
    credentials = application.credentials(
        selling_partner_id=selling_partner_id,
        region=pending.region,
        marketplace_ids=pending.marketplace_ids,
        refresh_token=refresh_token,
    )
    check = check_connection(credentials)
    if not check.ok:
        raise AmazonConnectionFailed(check.message)
    return credentials


# --- disconnecting -----------------------------------------------------------------------------


DISCONNECTED_MESSAGE = _(
    "Disconnected in Keelson: its orders are not synced and nothing is sent to Amazon. "
    "Connect it again to resume where the sync stopped."
)


@transaction.atomic
def disconnect_account(account: AmazonAccount) -> AmazonAccount:
    """Stop the account's sync and forget its refresh token; its sync cursor is kept, so
    reconnecting resumes where it stopped. Idempotent. R8: nothing is sent to Amazon (no
    refund, no cancellation, no feed, not even a call): what a person creates meanwhile waits
    on hold for a person to send it."""
    locked = AmazonAccount.objects.select_for_update().get(pk=account.pk)
    if locked.status == AccountStatus.DISCONNECTED and not locked.lwa_refresh_token:
        return locked
    locked.status = AccountStatus.DISCONNECTED
    locked.status_message = str(DISCONNECTED_MESSAGE)
    locked.lwa_refresh_token = ""
    # A sync run in progress loses its lease: it stops at its next page without writing it.
    locked.lease_owner = ""
    locked.lease_until = None
    locked.save(
        update_fields=[
            "status",
            "status_message",
            "lwa_refresh_token",
            "lease_owner",
            "lease_until",
        ]
    )
    return locked
