"""Strings of django-unfold's own pages (the list's filter and action bar, the theme menu) that
unfold ships no translation for. Marked here so the portal's catalogues carry them: a catalogue
in LOCALE_PATHS wins over an app's own, so these read in the portal's languages too. Add one
when a page shows unfold's English in another language (tests/portal/test_languages.py shows
the pages a person reads)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

UNFOLD_STRINGS = (
    gettext_noop("Dark"),
    gettext_noop("Light"),
    gettext_noop("System"),
    gettext_noop("No results found"),
    gettext_noop("This page yielded into no results. Create a new item or reset your filters."),
    gettext_noop("Reset filters"),
    gettext_noop("Run"),
    gettext_noop("Select action"),
    gettext_noop("Select all rows"),
)
