"""Register a HuggingFace causal LM to run in the playground's own process, as `local:NAME`.

    python manage.py add_local_model ~/models/Qwen3-0.6B --gpu-hour-price 2.50
    python manage.py add_local_model Qwen/Qwen3-0.6B --name qwen3-small --device cuda

A folder is used as it is, with no network. A hub id is downloaded into the HuggingFace
cache now (when the hub can be reached), so the first comparison does not wait for it.
"""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from inference.backends import local
from inference.models import Model, Provider

PROVIDER_SLUG = "local"
PROVIDER_LABEL = "Local GPU"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Other formats of the same weights, which transformers does not load.
NOT_NEEDED = ["*.gguf", "*.onnx", "onnx/*", "*.msgpack", "*.h5", "*.ot", "*.tflite", "original/*"]


def gpu_hour_price(text: str) -> Decimal:
    """An argparse type: a non-negative price in USD."""
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a price: {text!r}") from None
    if not price.is_finite() or price < 0:
        raise argparse.ArgumentTypeError(f"a price must be a non-negative number: {text!r}")
    return price


class Command(BaseCommand):
    help = "Register a local HuggingFace model (a folder or a hub id) as local:NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="PATH_OR_HUB_ID", help="A model folder or hub id.")
        parser.add_argument("--name", help="The NAME in local:NAME (default: the last part).")
        parser.add_argument("--label", help="What the model picker shows (default: NAME).")
        parser.add_argument(
            "--device", choices=local.DEVICES, default="auto", help="Default: CUDA, MPS, else CPU."
        )
        parser.add_argument(
            "--dtype", choices=local.DTYPES, help="Default: bf16/fp16 on GPUs, fp32 on CPU."
        )
        parser.add_argument(
            "--gpu-hour-price", type=gpu_hour_price, help="USD per GPU-hour of generation."
        )
        parser.add_argument(
            "--no-download", action="store_true", help="Register a hub id without downloading."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: str = options["source"]
        folder = Path(source).expanduser()
        model_folder: Path | None
        if folder.is_dir():
            path, model_folder = str(folder.resolve()), folder.resolve()
        elif _looks_like_a_path(source) or not HUB_ID_PATTERN.match(source):
            raise CommandError(f"No such model folder: {source}")
        else:
            path = source
            model_folder = None if options["no_download"] else self._download(source)
        if model_folder is not None and not (model_folder / "config.json").is_file():
            raise CommandError(f"{model_folder} has no config.json: not a transformers model.")

        name = options["name"] or local.default_model_name(source)
        if not NAME_PATTERN.match(name):
            raise CommandError(f"Invalid name {name!r}: use letters, digits, '.', '_' and '-'.")
        model_options = {"path": path, "device": options["device"]}
        if options["dtype"]:
            model_options["dtype"] = options["dtype"]

        with transaction.atomic():
            provider = _local_provider()
            model, created = Model.objects.update_or_create(
                provider=provider,
                api_name=name,
                defaults={
                    "label": options["label"] or name,
                    "options": model_options,
                    "gpu_hour_price": options["gpu_hour_price"],
                    "context_window": _context_window(model_folder),
                    "enabled": True,
                },
            )
        verb = "Added" if created else "Updated"
        where = f"{path}, device {options['device']}"
        self.stdout.write(self.style.SUCCESS(f"{verb} {model.name} ({where})."))
        if reason := local.missing_extra_reason():
            self.stderr.write(self.style.WARNING(f"It cannot run here yet: {reason}."))

    def _download(self, hub_id: str) -> Path:
        """Fetch the hub repository into the HuggingFace cache; its snapshot folder."""
        try:
            from huggingface_hub import list_repo_files, snapshot_download
        except ImportError:
            raise CommandError(
                f"Downloading needs {local.INSTALL_HINT.split(': ')[1]} (or use --no-download)."
            ) from None
        self.stdout.write(f"Downloading {hub_id} from the HuggingFace hub...")
        try:
            files = list_repo_files(hub_id)
            has_safetensors = any(name.endswith(".safetensors") for name in files)
            ignore = NOT_NEEDED + (["*.bin", "*.pt"] if has_safetensors else [])
            return Path(snapshot_download(hub_id, ignore_patterns=ignore))
        except Exception as exc:
            raise CommandError(f"Cannot download {hub_id}: {exc}") from exc


def _looks_like_a_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or source.count("/") > 1 or "\\" in source


def _local_provider() -> Provider:
    provider, _ = Provider.objects.get_or_create(
        slug=PROVIDER_SLUG,
        defaults={"kind": Provider.Kind.LOCAL, "label": PROVIDER_LABEL, "key_required": False},
    )
    if provider.kind != Provider.Kind.LOCAL:
        raise CommandError(f"The provider {PROVIDER_SLUG!r} exists with kind {provider.kind!r}.")
    return provider


def _context_window(folder: Path | None) -> int | None:
    """max_position_embeddings from config.json (or its text_config), when it says."""
    if folder is None:
        return None
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    for section in (config, config.get("text_config") or {}):
        value = section.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None
