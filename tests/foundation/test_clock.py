"""foundation.clock: the product's "now" for Amazon's timelines (rules A1, A2, A8, A9), from the
system clock or from the Amazon emulator's virtual clock (KEELSON_CLOCK)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from foundation import clock
from sandbox.amazon import clock as amazon_clock
from sandbox.amazon.models import SandboxState
from tests.support.processes import ROOT, child_database_env

TOLERANCE = timedelta(seconds=2)
DAY = timedelta(days=1)


def close_to(moment: datetime, expected: datetime) -> bool:
    return abs(moment - expected) <= TOLERANCE


@pytest.mark.django_db
def test_the_system_clock_is_timezone_now_and_reads_nothing(settings, django_assert_num_queries):
    settings.KEELSON_CLOCK = "system"
    amazon_clock.advance(5 * 86400)  # the emulator's clock does not matter here

    before = timezone.now()
    with django_assert_num_queries(0):
        moment = clock.now()
    after = timezone.now()

    assert before <= moment <= after
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.django_db
def test_the_sandbox_clock_follows_the_emulators_clock_as_it_is_advanced(settings):
    settings.KEELSON_CLOCK = "sandbox"
    assert not SandboxState.objects.exists()
    assert close_to(clock.now(), timezone.now())  # no emulator state yet: real time
    assert not SandboxState.objects.exists()  # reading the clock created nothing

    amazon_clock.advance(31 * 60)
    assert close_to(clock.now(), timezone.now() + timedelta(minutes=31))

    amazon_clock.advance(to=amazon_clock.virtual_now() + 23 * DAY)
    moment = clock.now()
    assert close_to(moment, timezone.now() + 23 * DAY + timedelta(minutes=31))
    # The emulator renders whole seconds; we are never behind it, and at most a second ahead.
    emulator = amazon_clock.virtual_now()
    assert emulator - timedelta(seconds=1) <= moment <= emulator + TOLERANCE
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


@pytest.mark.django_db(transaction=True)
def test_another_process_reads_the_same_sandbox_clock():
    """The offset lives in the database: a worker started with KEELSON_CLOCK=sandbox sees the
    advance this process made."""
    amazon_clock.advance(23 * 86400)
    proc = _run(
        "from foundation import clock; print(clock.now().isoformat())", KEELSON_CLOCK="sandbox"
    )
    assert proc.returncode == 0, proc.stderr
    seen = datetime.fromisoformat(proc.stdout.strip().splitlines()[-1])
    assert abs(seen - (datetime.now(UTC) + 23 * DAY)) <= timedelta(seconds=30)


def test_an_unknown_clock_is_refused(settings):
    settings.KEELSON_CLOCK = "amazon"
    with pytest.raises(ImproperlyConfigured, match="KEELSON_CLOCK"):
        clock.now()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEELSON_CLOCK": "Sandbox"}, 'KEELSON_CLOCK must be "system" or "sandbox"'),
        ({"KEELSON_CLOCK": "sandbox", "DEBUG": "0", "SECRET_KEY": "x" * 50}, "DEBUG=0"),
    ],
)
def test_the_settings_refuse_an_unknown_clock_and_the_sandbox_clock_in_production(env, message):
    proc = _run("print('started')", **env)
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr and message in proc.stderr


def test_an_empty_setting_means_the_system_clock():
    proc = _run("from django.conf import settings; print(settings.KEELSON_CLOCK)", KEELSON_CLOCK="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "system"


# --- helpers ---------------------------------------------------------------------------------


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    """Python in a fresh process with this test run's database and the given environment."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=child_database_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_demo_runs_on_the_sandbox_clock_unless_told_otherwise(monkeypatch, settings):
    from portal.management.commands.demo import use_sandbox_clock

    settings.DEBUG = True
    monkeypatch.setenv("KEELSON_CLOCK", "system")  # the caller's choice wins
    settings.KEELSON_CLOCK = "system"
    use_sandbox_clock()
    assert settings.KEELSON_CLOCK == "system"

    monkeypatch.setenv("KEELSON_CLOCK", "")
    settings.DEBUG = False  # the settings would refuse it: left off
    use_sandbox_clock()
    assert settings.KEELSON_CLOCK == "system"

    settings.DEBUG = True
    use_sandbox_clock()
    assert settings.KEELSON_CLOCK == "sandbox"
    assert os.environ["KEELSON_CLOCK"] == "sandbox"  # for the children (qcluster, web)
