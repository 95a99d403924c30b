"""On a fresh database, create an admin account and print how to log in (once)."""

import secrets
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from playground.conf import playground_settings


class Command(BaseCommand):
    help = "Create an admin account when the database has no user yet, and print its password."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--base-url",
            help="the address the server runs on, for the printed link "
            "(default: PLAYGROUND_BASE_URL; `make run` passes its own address)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.exists():
            return
        base_url = (options.get("base_url") or playground_settings().base_url).rstrip("/")
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username="admin", email="", password=password)
        bar = "=" * 64
        self.stdout.write(
            f"\n{bar}\nFirst run: created an admin account.\n"
            f"  Log in at {base_url}/ as  admin  /  {password}\n"
            "  (shown once; change it in the admin, or run "
            "`.venv/bin/python manage.py changepassword admin`)\n"
            f"{bar}\n"
        )
