"""Re-encrypt every stored secret under the newest of settings.FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in PLAYGROUND_ENCRYPTION_KEYS (keep the old one after
it), run this, then drop the old key.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from inference.crypto import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt every stored provider key under the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for model in apps.get_models():
                names = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
                for name in names:
                    # Loading decrypts with whichever key fits; saving encrypts with the first.
                    rows = [row for row in model._default_manager.all() if getattr(row, name)]
                    model._default_manager.bulk_update(rows, [name], batch_size=500)
                    rotated += len(rows)
        self.stdout.write(f"Re-encrypted {rotated} keys under the newest encryption key.")
