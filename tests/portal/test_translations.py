"""The shipped catalogues (locale/*/LC_MESSAGES/django.po) are complete and correct:

- every entry of every language is translated, none is fuzzy;
- each compiles with ``msgfmt --check-format`` (the placeholders of every python-format entry
  match its msgid), and the named placeholders (``%(order)s``, ``{reference}``) of every
  translation are those of its msgid;
- every string the code marks (gettext, ``{% translate %}``, the rules' ``N_``) is in every
  catalogue, and no catalogue keeps one the code no longer has: the strings are extracted
  again, into a temporary copy, with the project's own makemessages.

Skips in one line without GNU gettext, unless KEELSON_REQUIRE_GETTEXT is set (CI sets it).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings

from tests.support.processes import child_database_env
from tests.support.translations import gettext_tools_or_skip, locale_name, po_path

LANGUAGES = [code for code, _name in settings.LANGUAGES]
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w+\}")
REPO = Path(settings.BASE_DIR)
# What a copy of the repository for extraction needs: the apps, templates and settings.
NOT_COPIED = {
    ".git",
    ".venv",
    ".data",
    "locale",
    "tests",
    "sandbox",
    "bench",
    "docs",
    "staticfiles",
}


def catalogue(language: str):
    with open(po_path(language), "rb") as f:
        return read_po(f)


def entries(language: str):
    return [m for m in catalogue(language) if m.id]


def test_every_language_has_a_catalogue():
    missing = [code for code in LANGUAGES if not po_path(code).exists()]
    assert not missing, f"no catalogue for {missing}: run `make messages` (README)"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_complete_with_nothing_fuzzy(language):
    untranslated, fuzzy = [], []
    for m in entries(language):
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(forms):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
    assert not untranslated, (
        f"{len(untranslated)} untranslated in {po_path(language)}, e.g. {untranslated[:5]}"
    )
    assert not fuzzy, f"{len(fuzzy)} fuzzy in {po_path(language)}, e.g. {fuzzy[:5]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_compiles_with_checked_formats(language):
    gettext_tools_or_skip("msgfmt")
    result = subprocess.run(
        ["msgfmt", "--check", "--check-format", "-o", os.devnull, str(po_path(language))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language):
    wrong = []
    for m in entries(language):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        wanted = [set(PLACEHOLDER.findall(i)) for i in ids]
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        for form in forms:
            # A plural form may name its count or not ("one order"); nothing else may differ.
            if form and set(PLACEHOLDER.findall(form)) not in wanted:
                wrong.append((ids[0], form))
    assert not wrong, f"placeholders differ from the msgid in {po_path(language)}: {wrong[:5]}"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set:
    """The msgids the code marks now: makemessages run on a copy of the repository."""
    gettext_tools_or_skip("xgettext", "msgmerge", "msguniq")
    copy = tmp_path_factory.mktemp("extract") / "repo"
    copy.mkdir()
    for item in REPO.iterdir():
        if item.name in NOT_COPIED or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, copy / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, copy / item.name)
    (copy / "locale").mkdir()
    # The test run's database URL: makemessages connects to none, and the copy must not start
    # an embedded server of its own (it would outlive the test).
    env = child_database_env(PYTHONPATH=str(copy))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--keep-pot", "-v", "0"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    # A template's header says "nplurals=INTEGER": make it one Babel can read.
    pot = (copy / "locale" / "django.pot").read_text(encoding="utf-8")
    pot = pot.replace("nplurals=INTEGER; plural=EXPRESSION;", "nplurals=2; plural=(n != 1);")
    return {m.id for m in read_po(io.StringIO(pot)) if m.id}


@pytest.mark.slow  # the extraction takes about 25 s
def test_every_catalogue_has_every_string_of_the_code_and_no_other(extracted):
    # One test for all languages: the extraction runs once, not once per worker that would
    # draw one language's test.
    problems = []
    for language in LANGUAGES:
        shipped = {m.id for m in entries(language)}
        missing = extracted - shipped
        stale = shipped - extracted
        if missing:
            problems.append(
                f"{len(missing)} strings of the code are not in {po_path(language)} (run `make "
                f"messages` and translate them): {sorted(map(str, missing))[:5]}"
            )
        if stale:
            problems.append(
                f"{len(stale)} entries of {po_path(language)} are no longer in the code (run "
                f"`make messages`): {sorted(map(str, stale))[:5]}"
            )
    assert not problems, "\n".join(problems)


def test_catalogue_directories_are_the_languages_of_the_settings():
    shipped = {p.parent.parent.name for p in (REPO / "locale").glob("*/LC_MESSAGES/django.po")}
    assert shipped == {locale_name(code) for code in LANGUAGES}
