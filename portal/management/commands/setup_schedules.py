from django.core.management.base import BaseCommand

from portal.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Create or update Keelson's periodic django-q2 schedules (idempotent)."

    def handle(self, *args, **options):
        for name in ensure_schedules():
            self.stdout.write(f"schedule ready: {name}")
