"""Demo data for `manage.py seed_demo` and `manage.py demo`: idempotent, and honest (no orders,
no made-up numbers; the Amazon accounts are marked as demo accounts and paused)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from fulfillment.models import FulfillmentService
from fulfillment.services import add_location, create_fulfillment_service, issue_service_api_key
from tenants.models import (
    AccountStatus,
    Agency,
    AmazonAccount,
    AmazonRegion,
    ApiKey,
    ApiScope,
    Membership,
    Merchant,
    Role,
    User,
)
from tenants.scope import tenant_context
from tenants.services import create_api_key, revoke_api_key

DEMO_PASSWORD = "keelson-demo"  # noqa: S105 - public demo logins, printed on purpose
DEMO_KEY_NAME = "Demo key (seed_demo)"
DEMO_ACCOUNT_NOTE = (
    "Demo account: not connected to a seller account. A sandbox emulator connects demo accounts "
    "when it runs."
)


@dataclass(frozen=True)
class DemoMerchant:
    slug: str
    name: str
    time_zone: str
    currency: str
    region: str
    marketplace: str
    seller_id: str


@dataclass(frozen=True)
class DemoAgency:
    slug: str
    name: str
    merchants: tuple[DemoMerchant, ...]


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str  # a Role value, or "superuser"
    agency: str | None = None  # slug, for agency roles
    merchant: str | None = None  # slug, for merchant roles
    description: str = ""


# Amazon marketplaces of the demo merchants (integrations/amazon/marketplaces.py).
US, SE, SG, UK = "ATVPDKIKX0DER", "A2NODRKZP88ZB9", "A19VAU5U5O7RUS", "A1F83G8C2ARO7P"

AGENCIES = (
    DemoAgency(
        "northwind",
        "Northwind Agency",
        (
            DemoMerchant(
                "northwind-outdoor",
                "Northwind Outdoor",
                "America/New_York",
                "USD",
                AmazonRegion.NA,
                US,
                "ADEMONWOUTDOOR1",
            ),
            # A Swedish shop with a Shopify store (SEK) that also sells on Amazon.se.
            DemoMerchant(
                "hamn-och-hem",
                "Hamn & Hem",
                "Europe/Stockholm",
                "SEK",
                AmazonRegion.EU,
                SE,
                "ADEMOHAMNOCHHEM",
            ),
            # Amazon has no Thai marketplace: a Bangkok tea house sells cross-border on
            # Amazon.sg (Far East region), so its Amazon orders are in SGD, as Amazon charges
            # them; THB, its home currency, is the merchant's default currency.
            DemoMerchant(
                "siam-tea-house",
                "Siam Tea House",
                "Asia/Bangkok",
                "THB",
                AmazonRegion.FE,
                SG,
                "ADEMOSIAMTEAHSE",
            ),
        ),
    ),
    DemoAgency(
        "contoso",
        "Contoso Commerce",
        (
            DemoMerchant(
                "contoso-kitchen",
                "Contoso Kitchen",
                "Europe/London",
                "GBP",
                AmazonRegion.EU,
                UK,
                "ADEMOCONTOSOKIT",
            ),
        ),
    ),
)

USERS = (
    DemoUser(
        "agency",
        Role.AGENCY_OWNER,
        agency="northwind",
        description="Northwind Agency owner: switches between its merchants",
    ),
    DemoUser(
        "merchant1",
        Role.MERCHANT_ADMIN,
        merchant="northwind-outdoor",
        description="merchant admin of Northwind Outdoor (New York, USD, a 3PL)",
    ),
    DemoUser(
        "merchant2",
        Role.MERCHANT_ADMIN,
        merchant="hamn-och-hem",
        description="merchant admin of Hamn & Hem (Stockholm, SEK, Shopify store)",
    ),
    DemoUser(
        "merchant3",
        Role.MERCHANT_ADMIN,
        merchant="siam-tea-house",
        description="merchant admin of Siam Tea House (Bangkok, sells on Amazon.sg)",
    ),
    DemoUser(
        "viewer",
        Role.MERCHANT_VIEWER,
        merchant="northwind-outdoor",
        description="read-only viewer of Northwind Outdoor",
    ),
    DemoUser(
        "contoso",
        Role.AGENCY_OWNER,
        agency="contoso",
        description="Contoso Commerce owner: another agency, sees none of Northwind's data",
    ),
    DemoUser("admin", "superuser", description="superuser, for the staff admin at /admin/"),
)


# The language each demo login reads the portal in (username -> language code): the agency
# works in English, the Swedish and the Thai merchants' admins in their own languages.
USER_LANGUAGES = {
    "agency": "en",
    "merchant1": "en",
    "merchant2": "sv",
    "merchant3": "th",
    "viewer": "en",
    "contoso": "en",
    "admin": "en",
}


def merchant_spec(slug: str) -> DemoMerchant:
    return next(m for agency in AGENCIES for m in agency.merchants if m.slug == slug)


@dataclass(frozen=True)
class SeedResult:
    users: list[dict]
    api_keys: list[dict]


def _merchant(agency: Agency, spec: DemoMerchant) -> Merchant:
    merchant, _ = Merchant.objects.update_or_create(
        slug=spec.slug,
        defaults={"agency": agency, "name": spec.name, "is_active": True},
        create_defaults={
            "agency": agency,
            "name": spec.name,
            "time_zone": spec.time_zone,
            "default_currency": spec.currency,
        },
    )
    with tenant_context(merchant):
        AmazonAccount.objects.get_or_create(
            merchant=merchant,
            selling_partner_id=spec.seller_id,
            defaults={
                "name": f"{spec.name} on Amazon",
                "region": spec.region,
                "marketplace_ids": [spec.marketplace],
                "lwa_refresh_token": f"Atzr|demo-{spec.slug}",
                "status": AccountStatus.PAUSED,
                "status_message": DEMO_ACCOUNT_NOTE,
            },
        )
    return merchant


def _user(spec: DemoUser, agencies: dict[str, Agency], merchants: dict[str, Merchant]) -> User:
    user = User.objects.filter(username=spec.username).first()
    superuser = spec.role == "superuser"
    if user is None:
        user = User(username=spec.username, email=f"{spec.username}@demo.keelson.local")
    user.is_active = True
    user.is_superuser = user.is_staff = superuser
    # The story's language, unless the person chose one since (the header's switcher).
    if not user.language:
        user.language = USER_LANGUAGES.get(spec.username, "")
    if not user.pk or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
    user.save()
    if not superuser:
        agency = agencies.get(spec.agency) if spec.agency else None
        merchant = merchants.get(spec.merchant) if spec.merchant else None
        Membership.objects.update_or_create(
            user=user, agency=agency, merchant=merchant, defaults={"role": spec.role}
        )
    return user


def _reissue_key(*, agency: Agency | None = None, merchant: Merchant | None = None) -> dict:
    """Revoke the previous demo key of this owner and issue a new one (keys are stored hashed,
    so a usable key can only be printed when it is made)."""
    previous = ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True)
    previous = previous.filter(agency=agency, merchant__isnull=True) if agency else previous
    previous = previous.filter(merchant=merchant) if merchant else previous
    for key in previous:
        revoke_api_key(api_key=key)
    issued = create_api_key(
        name=DEMO_KEY_NAME, scopes=ApiScope.values, agency=agency, merchant=merchant
    )
    return {
        "key": issued.raw_key,
        "owner_type": issued.api_key.owner_type,
        "agency": agency.slug if agency else merchant.agency.slug,
        "merchant": merchant.slug if merchant else None,
        "scopes": list(issued.api_key.scopes),
    }


def seed(*, issue_api_keys: bool = False) -> SeedResult:
    """Create or update the demo agencies, merchants, users (and, when asked, fresh API keys)."""
    with transaction.atomic():
        agencies: dict[str, Agency] = {}
        merchants: dict[str, Merchant] = {}
        for agency_spec in AGENCIES:
            agency, _ = Agency.objects.update_or_create(
                slug=agency_spec.slug, defaults={"name": agency_spec.name}
            )
            agencies[agency.slug] = agency
            for merchant_spec in agency_spec.merchants:
                merchants[merchant_spec.slug] = _merchant(agency, merchant_spec)
        _demo_service(merchants[DEMO_SERVICE_MERCHANT])
        users = []
        for spec in USERS:
            _user(spec, agencies, merchants)
            users.append(
                {
                    "username": spec.username,
                    "password": DEMO_PASSWORD,
                    "role": str(spec.role),
                    "agency": spec.agency
                    or (merchants[spec.merchant].agency.slug if spec.merchant else None),
                    "merchant": spec.merchant,
                }
            )
        api_keys = []
        if issue_api_keys:
            for agency_spec in AGENCIES:
                for merchant_spec in agency_spec.merchants:
                    api_keys.append(_reissue_key(merchant=merchants[merchant_spec.slug]))
            for agency_spec in AGENCIES:
                api_keys.append(_reissue_key(agency=agencies[agency_spec.slug]))
    return SeedResult(users=users, api_keys=api_keys)


# --- the demo's fulfillment service, answered by the bot (sandbox/bot) ---------------------------

DEMO_SERVICE_MERCHANT = "northwind-outdoor"
DEMO_SERVICE_NAME = "Northwind 3PL (demo bot)"


@dataclass(frozen=True)
class DemoBot:
    key: str
    secret: str
    merchant: str


def _demo_service(merchant: Merchant):
    """Northwind Outdoor's fulfillment service (fulfillment-order workflow, its default
    location). Seeded without an API key: ``demo_bot`` issues one when the bot starts."""

    service = FulfillmentService.objects.filter(merchant=merchant, name=DEMO_SERVICE_NAME).first()
    if service is None:
        service = create_fulfillment_service(
            name=DEMO_SERVICE_NAME, merchant=merchant, issue_api_key=False
        ).service
    else:
        add_location(service=service, merchant=merchant, is_default=True)
    return service


def demo_bot(callback_url: str) -> DemoBot:
    """For ``manage.py demo``: point the demo service's callbacks at the bot and issue the
    bot's key (revoking the previous one; keys are stored hashed)."""

    with transaction.atomic():
        merchant = Merchant.objects.get(slug=DEMO_SERVICE_MERCHANT)
        service = _demo_service(merchant)
        service.callback_url = callback_url
        service.save(update_fields=["callback_url"])
        key = issue_service_api_key(service=service, name=f"{DEMO_SERVICE_NAME} key")
    return DemoBot(key=key, secret=service.signing_secret, merchant=merchant.name)


def demo_agency_key(slug: str = "northwind") -> str:
    """For ``manage.py demo``'s banner: a fresh API key of the agency (all its merchants, all
    scopes), revoking the previous demo key of the agency (keys are stored hashed)."""
    with transaction.atomic():
        return _reissue_key(agency=Agency.objects.get(slug=slug))["key"]


def login_lines() -> list[str]:
    """The demo logins, one line each, for the demo banner."""
    width = max(len(u.username) for u in USERS)
    return [f"{u.username.ljust(width)}  {u.description}" for u in USERS]
