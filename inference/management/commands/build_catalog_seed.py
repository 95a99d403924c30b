"""Derive inference/seed/catalog.json from LiteLLM's price list, reproducibly.

The curated list below names, for every seeded model, the LiteLLM key its prices and limits
come from. Prices are per token there and per million tokens here; context window is
`max_input_tokens`; reasoning support is `supports_reasoning`; the batch-API prices are
`input_cost_per_token_batches` and `output_cost_per_token_batches` (absent: none listed).
A model without a key keeps its price unknown (never an invented one) and says why in its
`note`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.seed import CATALOG_PATH, LICENSE_NAME


@dataclass(frozen=True, slots=True)
class Curated:
    """One seeded model: its API name, label and where its price comes from."""

    api_name: str
    label: str
    litellm_key: str | None  # None: no entry in the price list; price stays unknown
    note: str = ""
    supports_reasoning: bool = False  # only used when there is no price-list entry


@dataclass(frozen=True, slots=True)
class CuratedProvider:
    slug: str
    label: str
    kind: str
    default_base_url: str
    key_required: bool
    models: tuple[Curated, ...]


def _same_upstream(key: str) -> str:
    return (
        f"OpenRouter has no entry of its own in the price list; it passes the upstream "
        f"provider's list price through, so this is LiteLLM's {key!r}."
    )


GROQ_LLAMA_NOTE = (
    "Every Groq Llama-70B entry is missing from this price-list snapshot; price and limits "
    "left unknown (set them in the admin)."
)
LOCAL_SERVER_NOTE = "Your own server: no list price."

CURATION: tuple[CuratedProvider, ...] = (
    CuratedProvider(
        "openai",
        "OpenAI",
        "openai",
        "https://api.openai.com/v1",
        True,
        (
            Curated("gpt-4o-mini", "GPT-4o mini", "gpt-4o-mini"),
            Curated("gpt-4o", "GPT-4o", "gpt-4o"),
            Curated("gpt-4.1", "GPT-4.1", "gpt-4.1"),
            Curated("gpt-4.1-mini", "GPT-4.1 mini", "gpt-4.1-mini"),
            Curated("gpt-4.1-nano", "GPT-4.1 nano", "gpt-4.1-nano"),
            Curated("gpt-5", "GPT-5", "gpt-5"),
            Curated("gpt-5-mini", "GPT-5 mini", "gpt-5-mini"),
            Curated("gpt-5-nano", "GPT-5 nano", "gpt-5-nano"),
            Curated("gpt-5.2", "GPT-5.2", "gpt-5.2"),
            Curated("gpt-5.4", "GPT-5.4", "gpt-5.4"),
            Curated("gpt-5.4-mini", "GPT-5.4 mini", "gpt-5.4-mini"),
            Curated("o3", "o3", "o3"),
            Curated("o4-mini", "o4-mini", "o4-mini"),
        ),
    ),
    CuratedProvider(
        "anthropic",
        "Anthropic",
        "anthropic",
        "https://api.anthropic.com",
        True,
        (
            Curated("claude-sonnet-4-5", "Claude Sonnet 4.5", "claude-sonnet-4-5"),
            Curated("claude-haiku-4-5", "Claude Haiku 4.5", "claude-haiku-4-5"),
            Curated("claude-opus-4-5", "Claude Opus 4.5", "claude-opus-4-5"),
            Curated("claude-sonnet-4-6", "Claude Sonnet 4.6", "claude-sonnet-4-6"),
            Curated("claude-opus-4-6", "Claude Opus 4.6", "claude-opus-4-6"),
        ),
    ),
    CuratedProvider(
        "gemini",
        "Google Gemini",
        "gemini",
        "https://generativelanguage.googleapis.com",
        True,
        (
            Curated("gemini-2.5-flash", "Gemini 2.5 Flash", "gemini/gemini-2.5-flash"),
            Curated(
                "gemini-2.5-pro",
                "Gemini 2.5 Pro",
                "gemini/gemini-2.5-pro",
                note="Prices for prompts up to 200k tokens; longer prompts are billed higher.",
            ),
            Curated(
                "gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "gemini/gemini-2.5-flash-lite"
            ),
            Curated(
                "gemini-3-flash-preview",
                "Gemini 3 Flash (preview)",
                "gemini/gemini-3-flash-preview",
            ),
            Curated(
                "gemini-3.1-pro-preview",
                "Gemini 3.1 Pro (preview)",
                "gemini/gemini-3.1-pro-preview",
            ),
        ),
    ),
    CuratedProvider(
        "groq",
        "Groq",
        "openai",
        "https://api.groq.com/openai/v1",
        True,
        (
            Curated("llama-3.3-70b-versatile", "Llama 3.3 70B", None, note=GROQ_LLAMA_NOTE),
            Curated("openai/gpt-oss-120b", "GPT-OSS 120B", "groq/openai/gpt-oss-120b"),
            Curated("openai/gpt-oss-20b", "GPT-OSS 20B", "groq/openai/gpt-oss-20b"),
        ),
    ),
    CuratedProvider(
        "together",
        "Together AI",
        "openai",
        "https://api.together.xyz/v1",
        True,
        (
            Curated(
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "Llama 3.3 70B Instruct Turbo",
                "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            ),
            Curated(
                "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
                "Llama 3.1 8B Instruct Turbo",
                "together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
            ),
            Curated(
                "meta-llama/Llama-4-Scout-17B-16E-Instruct",
                "Llama 4 Scout",
                "together_ai/meta-llama/Llama-4-Scout-17B-16E-Instruct",
            ),
            Curated(
                "deepseek-ai/DeepSeek-V3.1",
                "DeepSeek V3.1",
                "together_ai/deepseek-ai/DeepSeek-V3.1",
            ),
            Curated("openai/gpt-oss-120b", "GPT-OSS 120B", "together_ai/openai/gpt-oss-120b"),
        ),
    ),
    CuratedProvider(
        "fireworks",
        "Fireworks AI",
        "openai",
        "https://api.fireworks.ai/inference/v1",
        True,
        (
            Curated(
                "accounts/fireworks/models/llama-v3p3-70b-instruct",
                "Llama 3.3 70B Instruct",
                "fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct",
            ),
            Curated(
                "accounts/fireworks/models/llama-v3p1-8b-instruct",
                "Llama 3.1 8B Instruct",
                "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct",
            ),
            Curated(
                "accounts/fireworks/models/gpt-oss-120b",
                "GPT-OSS 120B",
                "fireworks_ai/accounts/fireworks/models/gpt-oss-120b",
            ),
            Curated(
                "accounts/fireworks/models/deepseek-v3p1",
                "DeepSeek V3.1",
                "fireworks_ai/accounts/fireworks/models/deepseek-v3p1",
            ),
            Curated(
                "accounts/fireworks/models/qwen3-235b-a22b-instruct-2507",
                "Qwen3 235B A22B Instruct 2507",
                "fireworks_ai/accounts/fireworks/models/qwen3-235b-a22b-instruct-2507",
            ),
        ),
    ),
    CuratedProvider(
        "openrouter",
        "OpenRouter",
        "openai",
        "https://openrouter.ai/api/v1",
        True,
        (
            Curated(
                "openai/gpt-4o-mini", "GPT-4o mini", "gpt-4o-mini", _same_upstream("gpt-4o-mini")
            ),
            Curated("openai/gpt-5-mini", "GPT-5 mini", "gpt-5-mini", _same_upstream("gpt-5-mini")),
            Curated(
                "anthropic/claude-sonnet-4.5",
                "Claude Sonnet 4.5",
                "claude-sonnet-4-5",
                _same_upstream("claude-sonnet-4-5"),
            ),
            Curated(
                "google/gemini-2.5-flash",
                "Gemini 2.5 Flash",
                "gemini/gemini-2.5-flash",
                _same_upstream("gemini/gemini-2.5-flash"),
            ),
        ),
    ),
    CuratedProvider(
        "deepseek",
        "DeepSeek",
        "openai",
        "https://api.deepseek.com/v1",
        True,
        (
            Curated("deepseek-chat", "DeepSeek Chat", "deepseek/deepseek-chat"),
            Curated("deepseek-reasoner", "DeepSeek Reasoner", "deepseek/deepseek-reasoner"),
        ),
    ),
    CuratedProvider(
        "mistral",
        "Mistral AI",
        "openai",
        "https://api.mistral.ai/v1",
        True,
        (
            Curated("mistral-small-latest", "Mistral Small", "mistral/mistral-small-latest"),
            Curated("mistral-medium-latest", "Mistral Medium", "mistral/mistral-medium-latest"),
            Curated("mistral-large-latest", "Mistral Large", "mistral/mistral-large-latest"),
            Curated("magistral-small-latest", "Magistral Small", "mistral/magistral-small-latest"),
            Curated(
                "magistral-medium-latest", "Magistral Medium", "mistral/magistral-medium-latest"
            ),
            Curated("codestral-latest", "Codestral", "mistral/codestral-latest"),
            Curated("ministral-8b-latest", "Ministral 8B", "mistral/ministral-8b-latest"),
        ),
    ),
    CuratedProvider(
        "xai",
        "xAI",
        "openai",
        "https://api.x.ai/v1",
        True,
        (
            Curated("grok-4.3", "Grok 4.3", "xai/grok-4.3"),
            Curated(
                "grok-4.20-non-reasoning",
                "Grok 4.20 (non-reasoning)",
                "xai/grok-4.20-non-reasoning",
            ),
            Curated("grok-code-fast-1", "Grok Code Fast 1", "xai/grok-code-fast-1"),
        ),
    ),
    CuratedProvider(
        "ollama",
        "Ollama (local server)",
        "openai",
        "http://localhost:11434/v1",
        False,
        (
            Curated("llama3.2:3b", "Llama 3.2 3B", None, LOCAL_SERVER_NOTE),
            Curated("qwen3:8b", "Qwen3 8B", None, LOCAL_SERVER_NOTE, supports_reasoning=True),
        ),
    ),
    CuratedProvider(
        "vllm",
        "vLLM (local server)",
        "openai",
        "http://localhost:8000/v1",
        False,
        (
            Curated(
                "meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1 8B Instruct", None, LOCAL_SERVER_NOTE
            ),
            Curated("Qwen/Qwen3-8B", "Qwen3 8B", None, LOCAL_SERVER_NOTE, supports_reasoning=True),
        ),
    ),
    # In-process transformers on this machine's GPU; its models are added in the admin.
    CuratedProvider("local", "Local GPU (transformers)", "local", "", False, ()),
)

PRICE_PLACES = 6  # Model's price columns keep six decimal places


def per_million(per_token: object, *, key: str, field: str) -> str | None:
    """'0.15' from 1.5e-07: a per-token price as an exact per-million decimal string."""
    if per_token is None:
        return None
    if isinstance(per_token, bool) or not isinstance(per_token, int | float):
        raise CommandError(f"{key}: {field} is not a number: {per_token!r}")
    price = (Decimal(str(per_token)) * 1_000_000).normalize()
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > PRICE_PLACES:
        raise CommandError(f"{key}: {field} {price} per 1M has more than {PRICE_PLACES} places")
    return format(price, "f")


def _limit(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def seed_model(curated: Curated, prices: dict[str, Any]) -> dict[str, Any]:
    """One model's seed entry, from its price-list entry when it has one."""
    entry: dict[str, Any] = {
        "api_name": curated.api_name,
        "label": curated.label,
        "input_price": None,
        "output_price": None,
        "cached_input_price": None,
        "batch_input_price": None,
        "batch_output_price": None,
        "context_window": None,
        "max_output_tokens": None,
        "supports_reasoning": curated.supports_reasoning,
        "price_source": curated.litellm_key,
        "note": curated.note,
    }
    key = curated.litellm_key
    if key is None:
        return entry
    if key not in prices:
        raise CommandError(f"{curated.api_name}: {key!r} is not in the price list")
    data = prices[key]
    if data.get("mode") != "chat":
        raise CommandError(f"{key}: mode is {data.get('mode')!r}, not 'chat'")
    cached = data.get("cache_read_input_token_cost", data.get("input_cost_per_token_cache_hit"))
    entry.update(
        input_price=per_million(data.get("input_cost_per_token"), key=key, field="input"),
        output_price=per_million(data.get("output_cost_per_token"), key=key, field="output"),
        cached_input_price=per_million(cached, key=key, field="cached input"),
        batch_input_price=per_million(
            data.get("input_cost_per_token_batches"), key=key, field="batch input"
        ),
        batch_output_price=per_million(
            data.get("output_cost_per_token_batches"), key=key, field="batch output"
        ),
        context_window=_limit(data.get("max_input_tokens")),
        max_output_tokens=_limit(data.get("max_output_tokens")),
        supports_reasoning=bool(data.get("supports_reasoning")),
    )
    if entry["input_price"] is None or entry["output_price"] is None:
        raise CommandError(f"{key}: the price list has no input or output price")
    return entry


def build_seed(prices: dict[str, Any], *, sha256: str) -> dict[str, Any]:
    """The whole seed document; the same price list always gives the same bytes."""
    return {
        "source": {
            "name": "LiteLLM model_prices_and_context_window.json (BerriAI/litellm)",
            "sha256": sha256,
            "license": f"MIT, Copyright (c) 2023 Berri AI; see {LICENSE_NAME}",
            "units": "USD per 1M tokens",
            "generated_by": "manage.py build_catalog_seed --prices <model_prices.json>",
        },
        "providers": [
            {
                "slug": provider.slug,
                "label": provider.label,
                "kind": provider.kind,
                "default_base_url": provider.default_base_url,
                "key_required": provider.key_required,
                "models": [seed_model(model, prices) for model in provider.models],
            }
            for provider in CURATION
        ],
    }


class Command(BaseCommand):
    help = "Rebuild inference/seed/catalog.json from LiteLLM's model_prices.json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--prices", required=True, type=Path, help="model_prices.json")
        parser.add_argument(
            "--license",
            type=Path,
            help=f"the price list's MIT notice (default: {LICENSE_NAME} beside --prices)",
        )
        parser.add_argument("--output", type=Path, default=CATALOG_PATH)

    def handle(self, *args: Any, **options: Any) -> None:
        prices_path: Path = options["prices"]
        license_path: Path = options["license"] or prices_path.with_name(LICENSE_NAME)
        output: Path = options["output"]
        if not license_path.is_file():
            raise CommandError(f"{license_path} not found: the MIT notice must ship with the seed")
        try:
            raw = prices_path.read_bytes()
            prices = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {prices_path}: {exc}") from exc

        seed = build_seed(prices, sha256=hashlib.sha256(raw).hexdigest())
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(seed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        shutil.copyfile(license_path, output.with_name(LICENSE_NAME))

        models = [m for p in seed["providers"] for m in p["models"]]
        unpriced = [
            f"{p['slug']}:{m['api_name']}"
            for p in seed["providers"]
            for m in p["models"]
            if m["input_price"] is None
        ]
        self.stdout.write(
            f"Wrote {output}: {len(seed['providers'])} providers, {len(models)} models, "
            f"{len(unpriced)} without a price ({', '.join(unpriced) or 'none'})."
        )
