"""On a fresh database, create an admin account and print how to log in (once)."""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account when the database has no user yet, and print its password."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username="admin", email="", password=password)
        bar = "=" * 64
        self.stdout.write(
            f"\n{bar}\nFirst run: created an admin account.\n"
            f"  Log in at http://127.0.0.1:8000/ as  admin  /  {password}\n"
            "  (shown once; change it in the admin, or run "
            "`.venv/bin/python manage.py changepassword admin`)\n"
            f"{bar}\n"
        )
