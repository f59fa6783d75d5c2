"""Agencies, merchants (the tenants), who may see them, and their connections to channels."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants import scope
from tenants.crypto import EncryptedTextField


class User(AbstractUser):
    """A person who logs in to the portal (merchant or agency staff) or the staff admin."""

    email_notifications = models.BooleanField(
        _("e-mail notifications"),
        default=True,
        help_text=_("Send me e-mail about orders that need attention."),
    )
    # Blank: the browser's Accept-Language decides (tenants.middleware.UserLanguageMiddleware).
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The portal's and the e-mails' language. Empty: your browser's language."),
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"


class Agency(models.Model):
    name = models.CharField(verbose_name=_("name"), max_length=200)
    slug = models.SlugField(verbose_name=_("slug"), max_length=80, unique=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


CURRENCY_VALIDATOR = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code, like USD."))


def validate_time_zone(value: str) -> None:
    from django.core.exceptions import ValidationError

    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known time zone (try Europe/Berlin).") % {"value": value}
        )


class Merchant(models.Model):
    """The tenant: every tenant-owned row carries its merchant_id."""

    agency = models.ForeignKey(
        Agency, verbose_name=_("agency"), on_delete=models.PROTECT, related_name="merchants"
    )
    name = models.CharField(verbose_name=_("name"), max_length=200)
    slug = models.SlugField(verbose_name=_("slug"), max_length=80, unique=True)
    time_zone = models.CharField(
        verbose_name=_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    default_currency = models.CharField(
        verbose_name=_("default currency"),
        max_length=3,
        default="USD",
        validators=[CURRENCY_VALIDATOR],
    )
    auto_request_fulfillment = models.BooleanField(
        verbose_name=_("auto request fulfillment"),
        default=False,
        help_text=_(
            "Request fulfillment automatically once an Amazon order is Unshipped (rule F2)."
        ),
    )
    deadline_warning_days = models.PositiveSmallIntegerField(
        verbose_name=_("deadline warning days"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(29)],
        help_text=_("Days before Amazon's confirmation deadline to warn (rule A9)."),
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    objects = models.Manager()

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    AGENCY_OWNER = "agency_owner", _("Agency owner")
    AGENCY_ADMIN = "agency_admin", _("Agency admin")
    AGENCY_STAFF = "agency_staff", _("Agency staff")
    MERCHANT_ADMIN = "merchant_admin", _("Merchant admin")
    MERCHANT_STAFF = "merchant_staff", _("Merchant staff")
    MERCHANT_VIEWER = "merchant_viewer", _("Merchant viewer")


AGENCY_ROLES = {Role.AGENCY_OWNER, Role.AGENCY_ADMIN, Role.AGENCY_STAFF}
MERCHANT_ROLES = {Role.MERCHANT_ADMIN, Role.MERCHANT_STAFF, Role.MERCHANT_VIEWER}
READ_ONLY_ROLES = {Role.MERCHANT_VIEWER}


class Membership(models.Model):
    """A user's role in an agency (all its merchants) or in one merchant."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    agency = models.ForeignKey(
        Agency,
        verbose_name=_("agency"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.CharField(verbose_name=_("role"), max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                name="membership_agency_xor_merchant",
                condition=(
                    models.Q(
                        agency__isnull=False,
                        merchant__isnull=True,
                        role__in=sorted(r.value for r in AGENCY_ROLES),
                    )
                    | models.Q(
                        agency__isnull=True,
                        merchant__isnull=False,
                        role__in=sorted(r.value for r in MERCHANT_ROLES),
                    )
                ),
                violation_error_message=_(
                    "An agency role needs an agency, a merchant role needs a merchant."
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "agency"],
                condition=models.Q(agency__isnull=False),
                name="membership_unique_user_agency",
            ),
            models.UniqueConstraint(
                fields=["user", "merchant"],
                condition=models.Q(merchant__isnull=False),
                name="membership_unique_user_merchant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.agency or self.merchant}"


# --- Tenant-owned rows -----------------------------------------------------------------------


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Returns only rows of merchants in the current scope; nothing when no scope is set.

    Inside ``system_context`` it filters nothing (the owner connection serves those queries).
    Row-level security enforces the same rule in PostgreSQL; this filter keeps plans using the
    merchant_id indexes and makes the scope visible in the code that reads.
    """

    def get_queryset(self):
        qs = super().get_queryset()
        if scope.system_reason():
            return qs
        ids = scope.current_merchant_ids()
        if not ids:
            return qs.none()
        if len(ids) == 1:
            return qs.filter(merchant_id=next(iter(ids)))
        return qs.filter(merchant_id__in=ids)


class TenantForeignKey(models.ForeignKey):
    """A foreign key from one tenant-owned table to another, enforced by the database as the
    composite ``(merchant_id, <field>_id) -> (merchant_id, id)`` (portal migration
    ``tenant_composite_keys``): a row can only point at a row of its own merchant, and the
    tables can be distributed by ``merchant_id`` (Citus, docs/scaling.md). Django keeps ``id``
    as the primary key and creates no constraint of its own (``db_constraint=False``)."""

    def __init__(self, *args, **kwargs):
        kwargs["db_constraint"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_constraint", None)
        return name, path, args, kwargs


class TenantOneToOneField(models.OneToOneField):
    """`TenantForeignKey`, one to one. Not unique on its own column: the model declares the
    unique constraint on ``(merchant, <field>)`` instead (a unique index without ``merchant_id``
    cannot be kept on a distributed table); as one merchant's row points only at that
    merchant's rows, it is unique all the same."""

    def __init__(self, *args, **kwargs):
        kwargs["db_constraint"] = False
        super().__init__(*args, **kwargs)
        self._unique = False

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_constraint", None)
        return name, path, args, kwargs


def merchant_key(*, db_index: bool = True) -> models.ForeignKey:
    """``TenantModel.merchant``. ``db_index=False`` for a table whose indexes all lead with
    merchant_id (its primary key ``(merchant_id, id)`` at least) and serve every read by
    merchant: an index on merchant_id alone would only cost its writes."""
    return models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=db_index,
    )


class TenantModel(models.Model):
    """Base of every tenant-owned table: a non-null merchant_id, scoped reads, RLS (0002)."""

    merchant = merchant_key()

    objects = TenantManager()
    # Unscoped manager for Django internals (related lookups); row-level security still applies.
    unscoped = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    AUTH_FAILED = "auth_failed", _("Authorisation failed")
    DISCONNECTED = "disconnected", _("Disconnected")


class AmazonRegion(models.TextChoices):
    NA = "NA", _("North America")
    EU = "EU", _("Europe")
    FE = "FE", _("Far East")


class AmazonAccount(TenantModel):
    """A merchant's Amazon seller account, reached through the SP-API."""

    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    selling_partner_id = models.CharField(verbose_name=_("selling partner id"), max_length=64)
    region = models.CharField(
        verbose_name=_("region"),
        max_length=2,
        choices=AmazonRegion.choices,
        default=AmazonRegion.NA,
    )
    marketplace_ids = ArrayField(
        models.CharField(max_length=32), verbose_name=_("marketplace ids"), default=list
    )
    lwa_refresh_token = EncryptedTextField(
        verbose_name=_("lwa refresh token"), help_text=_("Encrypted at rest.")
    )
    # Our LWA application's credentials are global settings; a sandbox seller has its own.
    lwa_client_id = models.CharField(verbose_name=_("lwa client id"), max_length=200, blank=True)
    lwa_client_secret = EncryptedTextField(
        verbose_name=_("lwa client secret"), blank=True, help_text=_("Encrypted at rest.")
    )
    endpoint_override = models.URLField(
        verbose_name=_("endpoint override"),
        blank=True,
        help_text=_("SP-API base URL for the sandbox emulator; empty for real Amazon."),
    )
    lwa_endpoint_override = models.URLField(
        verbose_name=_("lwa endpoint override"),
        blank=True,
        help_text=_("LWA token URL for the sandbox emulator; empty for real Amazon."),
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=AccountStatus.choices,
        default=AccountStatus.ACTIVE,
    )
    status_message = models.TextField(verbose_name=_("status message"), blank=True)
    sync_cursor = models.DateTimeField(
        verbose_name=_("sync cursor"),
        null=True,
        blank=True,
        help_text=_("Orders changed after this time are not synced yet."),
    )
    next_sync_at = models.DateTimeField(verbose_name=_("next sync at"), default=timezone.now)
    lease_until = models.DateTimeField(verbose_name=_("lease until"), null=True, blank=True)
    lease_owner = models.CharField(verbose_name=_("lease owner"), max_length=64, blank=True)
    connected_at = models.DateTimeField(verbose_name=_("connected at"), default=timezone.now)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("amazon account")
        verbose_name_plural = _("amazon accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "selling_partner_id"], name="amazon_account_unique_seller"
            )
        ]
        indexes = [models.Index(fields=["status", "next_sync_at"], name="amazon_account_due")]

    def __str__(self) -> str:
        return self.name or f"Amazon {self.selling_partner_id}"


class ShopifyInventoryBehaviour(models.TextChoices):
    """What creating a mirrored Amazon order does to the store's inventory (Shopify's
    ``OrderCreateInputsInventoryBehavior``)."""

    BYPASS = "BYPASS", _("Leave the store's inventory alone")
    DECREMENT_OBEYING_POLICY = (
        "DECREMENT_OBEYING_POLICY",
        _("Decrement inventory, obeying each product's inventory policy"),
    )
    DECREMENT_IGNORING_POLICY = (
        "DECREMENT_IGNORING_POLICY",
        _("Decrement inventory, ignoring the inventory policy"),
    )


class ShopifyStore(TenantModel):
    """A merchant's Shopify store, mirrored through the Admin GraphQL API."""

    shop_domain = models.CharField(
        verbose_name=_("shop domain"), max_length=255, help_text=_("example.myshopify.com")
    )
    access_token = EncryptedTextField(
        verbose_name=_("access token"), help_text=_("Encrypted at rest.")
    )
    api_version = models.CharField(verbose_name=_("api version"), max_length=16, default="2025-07")
    endpoint_override = models.URLField(
        verbose_name=_("endpoint override"),
        blank=True,
        help_text=_("Admin API base URL for the sandbox emulator; empty for Shopify."),
    )
    webhook_secret = EncryptedTextField(
        verbose_name=_("webhook secret"), blank=True, help_text=_("Encrypted at rest.")
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=AccountStatus.choices,
        default=AccountStatus.ACTIVE,
    )
    inventory_behaviour = models.CharField(
        "inventory when an Amazon order is mirrored",
        max_length=32,
        choices=ShopifyInventoryBehaviour.choices,
        default=ShopifyInventoryBehaviour.BYPASS,
        help_text=_(
            "Amazon already deducted the quantity from the Amazon listing; choose whether "
            "the Shopify store's inventory goes down too."
        ),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("shopify store")
        verbose_name_plural = _("shopify stores")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "shop_domain"], name="shopify_store_unique_domain"
            )
        ]

    def __str__(self) -> str:
        return self.shop_domain


# --- API keys --------------------------------------------------------------------------------


class ApiScope(models.TextChoices):
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    FULFILLMENTS_READ = "fulfillments:read"
    FULFILLMENTS_WRITE = "fulfillments:write"
    REFUNDS_READ = "refunds:read"
    REFUNDS_WRITE = "refunds:write"


class ApiKeyOwner(models.TextChoices):
    AGENCY = "agency", _("Agency")
    MERCHANT = "merchant", _("Merchant")
    FULFILLMENT_SERVICE = "fulfillment_service", _("Fulfillment service")


API_KEY_PREFIX_LENGTH = 12


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random secrets, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A partner's key: shown once, stored as a hash; the prefix identifies it in lists.

    Lookup happens before any scope is known, so this is a tenancy table (like Membership):
    it is scoped in code, not by row-level security.
    """

    name = models.CharField(verbose_name=_("name"), max_length=200)
    owner_type = models.CharField(
        verbose_name=_("owner type"), max_length=24, choices=ApiKeyOwner.choices
    )
    agency = models.ForeignKey(
        Agency,
        verbose_name=_("agency"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    prefix = models.CharField(
        verbose_name=_("prefix"), max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False
    )
    key_hash = models.CharField(
        verbose_name=_("key hash"), max_length=64, unique=True, editable=False
    )
    scopes = ArrayField(
        models.CharField(max_length=32, choices=ApiScope.choices),
        verbose_name=_("scopes"),
        default=list,
    )
    created_by = models.ForeignKey(
        User,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(verbose_name=_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name_plural = _("API keys")
        verbose_name = _("API key")
        constraints = [
            models.CheckConstraint(
                name="api_key_owner_matches",
                condition=(
                    models.Q(owner_type="agency", agency__isnull=False, merchant__isnull=True)
                    | models.Q(owner_type="merchant", agency__isnull=True, merchant__isnull=False)
                    # A fulfillment service key's owner link is added with fulfillment services;
                    # the merchant (or agency) it serves is kept here so scoping stays uniform.
                    | models.Q(owner_type="fulfillment_service")
                ),
                violation_error_message=_("The key's owner does not match its owner type."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate_raw_key() -> str:
        return "kls_" + secrets.token_urlsafe(32)


class StaffAccess(models.Model):
    """One request of a superuser in the staff admin, which works across tenants (issue 14):
    who, what (method, path, query, the answer's status) and when. Written by
    ``TenantScopeMiddleware``; read in the staff admin, never changed there."""

    # No database constraint: the record outlives the user, and is written on the owner
    # connection while the user may be in another connection's transaction (tests).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(verbose_name=_("username"), max_length=150)
    method = models.CharField(verbose_name=_("method"), max_length=10)
    path = models.CharField(verbose_name=_("path"), max_length=500)
    query = models.CharField(verbose_name=_("query"), max_length=1000, blank=True)
    status_code = models.PositiveSmallIntegerField(verbose_name=_("status code"), null=True)
    ip_address = models.GenericIPAddressField(verbose_name=_("ip address"), null=True, blank=True)
    at = models.DateTimeField(verbose_name=_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("staff access")
        verbose_name_plural = _("staff accesses")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.username} {self.method} {self.path}"
