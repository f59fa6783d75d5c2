"""E-mail backends for tests: Django's infrastructure faked, never our own code."""

from __future__ import annotations

import smtplib

from django.core.mail.backends.base import BaseEmailBackend


class FailingEmailBackend(BaseEmailBackend):
    """An SMTP server that refuses every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPException("SMTP server unavailable")
