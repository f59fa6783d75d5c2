"""Too many failed sign-ins (django-axes; issue 14): what the person locked out sees.

django-axes counts failed logins of the portal and the staff admin per username and IP address
together (``AXES_LOCKOUT_PARAMETERS``): after ``AXES_FAILURE_LIMIT`` failures that pair is
refused for ``AXES_COOLOFF_TIME``, even with the right password, so guessing stops while the
same person elsewhere (another IP) can still sign in. A success resets the count.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def cool_off_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: a 429 page in plain words, with Retry-After."""
    minutes = cool_off_minutes()
    page = render(
        request,
        "registration/locked_out.html",
        {
            "title": _("Too many failed sign-in attempts"),
            "message": _(
                "Too many failed sign-in attempts for this username from your network. For your "
                "security, signing in is paused for %(minutes)s minutes. Try again later, or ask "
                "your merchant or agency admin to reset your password."
            )
            % {"minutes": minutes},
            "site_title": "Keelson",
        },
        status=429,
    )
    page["Retry-After"] = str(minutes * 60)
    return page
