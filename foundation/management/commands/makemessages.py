"""Django's makemessages, knowing Keelson's conventions (README, "Adding a language").

- ``N_`` marks the messages of the pure rule modules (``foundation.text``): xgettext extracts
  its first argument like gettext's.
- What is not the product is not searched: the virtualenv, the database, the emulators (they
  play Amazon and Shopify, in English), tests, benchmarks and collected static files.
- The English catalogue translates every string as itself (the source texts are English), so
  it is complete by construction and the catalogue test holds it to the same rules.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings
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
        if options.get("add_location") is None:
            options["add_location"] = "file"
        options["no_obsolete"] = True
        result = super().handle(*args, **options)
        english = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES" / "django.po"
        if english.exists() and ("en" in (options.get("locale") or []) or options.get("all")):
            self._identity(english)
        return result

    @staticmethod
    def _identity(po: Path) -> None:
        """msgstr = msgid for every entry (and no fuzzy one) in the English catalogue."""
        subprocess.run(
            ["msgattrib", "--clear-fuzzy", "--clear-previous", "-o", str(po), str(po)], check=True
        )
        # msgen fills only what is empty: empty everything first (the header stays).
        subprocess.run(
            ["msgfilter", "--keep-header", "-i", str(po), "-o", str(po), "sed", "-e", "d"],
            check=True,
        )
        subprocess.run(["msgen", "-o", str(po), str(po)], check=True)
