"""`manage.py create_api_key --merchant SLUG | --agency SLUG --scopes a,b [--name N]`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from foundation.api.errors import DomainError
from tenants.models import Agency, ApiScope, Merchant
from tenants.services import create_api_key


class Command(BaseCommand):
    help = (
        "Issue an API key for a merchant or an agency and print it. The key is shown only this "
        "once (it is stored hashed). Known scopes: " + ", ".join(ApiScope.values) + "."
    )

    def add_arguments(self, parser) -> None:
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--merchant", metavar="SLUG", help="The merchant the key belongs to.")
        owner.add_argument("--agency", metavar="SLUG", help="The agency the key belongs to.")
        parser.add_argument(
            "--scopes",
            required=True,
            help="Comma-separated scopes, e.g. orders:read,fulfillments:write.",
        )
        parser.add_argument("--name", default="Command-line key", help="A label for the key.")

    def handle(self, *args, **options) -> None:
        merchant = agency = None
        if options["merchant"]:
            merchant = Merchant.objects.filter(slug=options["merchant"]).first()
            if merchant is None:
                raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        else:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        if not scopes:
            raise CommandError("Give at least one scope.")
        try:
            issued = create_api_key(
                name=options["name"], scopes=scopes, agency=agency, merchant=merchant
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        owner = f"merchant {merchant.slug}" if merchant else f"agency {agency.slug}"
        self.stderr.write(
            f"API key {issued.api_key.prefix}… for {owner}, scopes "
            f"{', '.join(issued.api_key.scopes)}. It is shown only this once:"
        )
        self.stdout.write(issued.raw_key)
