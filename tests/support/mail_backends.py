"""E-mail backends for tests: Django's infrastructure faked, never our own code; and reading
what Django's file-based backend wrote (e-mail sent by child processes: qcluster workers)."""

from __future__ import annotations

import smtplib
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class FailingEmailBackend(BaseEmailBackend):
    """An SMTP server that refuses every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPException("SMTP server unavailable")


def sent_mail(folder: Path) -> list[tuple[set[str], str]]:
    """Every message the file-based backend (``EMAIL_FILE_PATH=folder``) wrote: its recipients
    (lower case) and its decoded body."""
    out = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        # The file backend writes each message followed by a line of dashes.
        for chunk in path.read_bytes().split(b"-" * 79):
            if chunk.strip():
                message = message_from_bytes(chunk.strip())
                to = {a.lower() for _, a in getaddresses(message.get_all("To", []))}
                out.append((to, message.get_payload(decode=True).decode()))
    return out
