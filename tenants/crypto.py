"""Encryption at rest for secrets (LWA refresh tokens, Shopify access tokens, webhook secrets).

Values are Fernet tokens made with the first key of ``KEELSON_ENCRYPTION_KEYS``; every key in
the list can decrypt, so keys rotate by putting a new key first and re-saving the rows
(``manage.py rotate_encryption_keys``), then dropping the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _

ENCRYPTED_PREFIX = "fernet:"


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("KEELSON_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "KEELSON_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys "
            "(make one: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.KEELSON_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return ENCRYPTED_PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(ENCRYPTED_PREFIX):
        raise ValueError("value is not encrypted")
    try:
        return fernet().decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "an encrypted value cannot be read with any key in KEELSON_ENCRYPTION_KEYS"
        ) from exc


def rotate(stored: str) -> str:
    """Re-encrypt with the newest key."""
    return ENCRYPTED_PREFIX + fernet().rotate(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token; reads give the plaintext back."""

    description = _("Text encrypted at rest")

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
