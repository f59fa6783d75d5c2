"""`manage.py seed_demo [--json]`: the demo agencies, merchants and logins (idempotent)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from portal.demo_data import DEMO_PASSWORD, login_lines, seed


class Command(BaseCommand):
    help = (
        "Create or update the demo data: two agencies (Northwind Agency with three merchants in "
        "New York, Stockholm and Bangkok, Contoso Commerce with one), their users "
        f"(password {DEMO_PASSWORD}) and a superuser "
        "'admin'. Safe to run again: nothing is duplicated. With --json, print the logins and "
        "one API key per demo merchant and per agency as JSON. API keys are stored hashed, so "
        "--json RE-ISSUES them: each run revokes the previous demo keys and prints new ones."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print {users, api_keys} as JSON (re-issues the demo API keys).",
        )

    def handle(self, *args, **options) -> None:
        result = seed(issue_api_keys=options["json"])
        if options["json"]:
            self.stdout.write(json.dumps({"users": result.users, "api_keys": result.api_keys}))
            return
        self.stdout.write(
            self.style.SUCCESS(f"Demo data is in place. Logins (password {DEMO_PASSWORD}):")
        )
        for line in login_lines():
            self.stdout.write(f"  {line}")
        self.stdout.write("API keys: python manage.py seed_demo --json (re-issues them).")
