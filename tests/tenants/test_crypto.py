"""Secrets are encrypted at rest and readable after key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connections

from tenants import crypto
from tenants.models import AmazonAccount
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db


def test_refresh_token_plaintext_is_not_in_the_table(two_merchants, make_amazon_account):
    a, _ = two_merchants
    secret = "Atzr|very-secret-refresh-token-123"
    account = make_amazon_account(a, lwa_refresh_token=secret)
    with tenant_context(a):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lwa_refresh_token FROM tenants_amazonaccount WHERE id = %s", [account.id]
            )
            stored = cursor.fetchone()[0]
        assert secret not in stored
        assert stored.startswith(crypto.ENCRYPTED_PREFIX)
        assert AmazonAccount.objects.get(pk=account.pk).lwa_refresh_token == secret


def test_old_key_still_decrypts_after_rotation(settings):
    old_key = settings.KEELSON_ENCRYPTION_KEYS[0]
    stored = crypto.encrypt("token")
    new_key = Fernet.generate_key().decode()
    settings.KEELSON_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(stored) == "token"
    rotated = crypto.rotate(stored)
    settings.KEELSON_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "token"
    with pytest.raises(Exception, match="cannot be read"):
        crypto.decrypt(stored)


def test_owner_connection_is_not_needed_to_read_secrets():
    # The application role reads and writes encrypted fields like any other column.
    assert (
        connections["default"].settings_dict["USER"] != connections["owner"].settings_dict["USER"]
    )


@pytest.mark.django_db(transaction=True)
def test_rotating_keys_re_encrypts_every_secret_so_the_old_key_can_go(
    settings, two_merchants, make_amazon_account
):
    from django.core.management import call_command

    a, b = two_merchants
    old_key = settings.KEELSON_ENCRYPTION_KEYS[0]
    accounts = [
        make_amazon_account(a, lwa_refresh_token="Atzr|a"),
        make_amazon_account(b, lwa_refresh_token="Atzr|b"),
    ]
    new_key = Fernet.generate_key().decode()
    settings.KEELSON_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys", stdout=__import__("io").StringIO())
    settings.KEELSON_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    for merchant, account, token in zip((a, b), accounts, ("Atzr|a", "Atzr|b"), strict=True):
        with tenant_context(merchant):
            assert AmazonAccount.objects.get(pk=account.pk).lwa_refresh_token == token
