from django.core.management.base import BaseCommand

from tenants.services import rotate_encryption_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret (LWA tokens, Shopify tokens, webhook and signing secrets) with "
        "the first key of KEELSON_ENCRYPTION_KEYS. Put the new key first, run this, then drop "
        "the old key."
    )

    def handle(self, *args, **options):
        for label, count in rotate_encryption_keys().items():
            self.stdout.write(f"{label}: {count} value(s) re-encrypted")
