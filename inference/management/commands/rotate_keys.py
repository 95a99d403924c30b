"""Re-encrypt every stored secret under the newest of settings.FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in PLAYGROUND_ENCRYPTION_KEYS (keep the old one after
it), run this, then drop the old key.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from inference.crypto import EncryptedTextField, is_unreadable


class Command(BaseCommand):
    help = "Re-encrypt every stored provider key under the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable: list[str] = []
        with transaction.atomic():
            for model in apps.get_models():
                names = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
                for name in names:
                    # Loading decrypts with whichever key fits; saving encrypts with the first.
                    rows = []
                    for row in model._default_manager.all():
                        if is_unreadable(getattr(row, name)):
                            unreadable.append(str(row))
                        elif getattr(row, name):
                            rows.append(row)
                    model._default_manager.bulk_update(rows, [name], batch_size=500)
                    rotated += len(rows)
        self.stdout.write(f"Re-encrypted {rotated} keys under the newest encryption key.")
        if unreadable:
            self.stdout.write(
                f"{len(unreadable)} stored keys cannot be decrypted with any of "
                f"PLAYGROUND_ENCRYPTION_KEYS and were left as they are ({', '.join(unreadable)}): "
                "add the old key back to the list, or enter those keys again in the admin."
            )
