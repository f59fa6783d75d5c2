"""The portal's message catalogues in tests: compiled when needed, read back to know what a
page must show in a language (never a hard-coded translation in a test)."""

from __future__ import annotations

import fcntl
import gettext as gnu_gettext
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
REQUIRE_ENV = "KEELSON_REQUIRE_GETTEXT"


def gettext_tools_or_skip(*tools: str) -> None:
    """Skip (one line) when GNU gettext is absent, unless CI requires it."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    message = f"GNU gettext's {', '.join(missing)} not installed (apt-get install gettext)"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message}, and {REQUIRE_ENV} is set")
    pytest.skip(message)


def locale_name(language: str) -> str:
    """``zh-hans`` -> ``zh_Hans``: the catalogue's directory."""
    from django.utils.translation import to_locale

    return to_locale(language)


def po_path(language: str) -> Path:
    return LOCALE_DIR / locale_name(language) / "LC_MESSAGES" / "django.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def ensure_compiled() -> None:
    """Compile every catalogue whose .mo is missing or older than its .po (as `make install`
    does), under a lock (parallel test workers), then make Django read them afresh."""
    gettext_tools_or_skip("msgfmt")
    with open(LOCALE_DIR / ".compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/django.po")):
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                tmp = mo.with_suffix(f".{os.getpid()}.tmp")
                subprocess.run(["msgfmt", "--check-format", "-o", str(tmp), str(po)], check=True)
                tmp.replace(mo)
    from django.utils.translation import trans_real

    trans_real._translations = {}
    trans_real._default = None


def translated(language: str, msgid: str) -> str:
    """The compiled catalogue's translation of ``msgid``; fails if the catalogue has none."""
    with open(mo_path(language), "rb") as f:
        catalogue = gnu_gettext.GNUTranslations(f)
    text = catalogue.gettext(msgid)
    assert text != msgid, f"the {language} catalogue does not translate {msgid!r}"
    return text
