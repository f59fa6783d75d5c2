"""Django's makemessages, knowing Keelson's conventions (README, "Adding a language").

- ``N_`` marks the messages of the pure rule modules (``foundation.text``): xgettext extracts
  its first argument like gettext's.
- What is not the product is not searched: the virtualenv, the database, the emulators (they
  play Amazon and Shopify, in English), tests, benchmarks and collected static files.
"""

from __future__ import annotations

from django.core.management.commands import makemessages

# Directories (relative to the repository root) that hold no string of the portal's.
NOT_SEARCHED = [
    ".venv",
    ".venv/*",
    ".data",
    ".data/*",
    "sandbox",
    "sandbox/*",
    "tests",
    "tests/*",
    "bench",
    "bench/*",
    "staticfiles",
    "staticfiles/*",
    "docs",
    "docs/*",
    "node_modules",
    "node_modules/*",
]


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_"]

    def handle(self, *args, **options):
        options["ignore_patterns"] = [*(options.get("ignore_patterns") or []), *NOT_SEARCHED]
        # Deterministic catalogues: no source line numbers (they churn on every edit), and the
        # rules' messages sorted by where they come from.
        options.setdefault("add_location", "file")
        if options.get("add_location") is None:
            options["add_location"] = "file"
        return super().handle(*args, **options)
