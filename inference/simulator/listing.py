"""The model listings, paged as each provider pages them: OpenAI's GET /v1/models (one page),
Anthropic's GET /v1/models (`after_id` / `limit`, with the anthropic-version header) and
Gemini's GET /v1beta/models (`pageToken` / `pageSize`).

https://platform.openai.com/docs/api-reference/models/list
https://docs.anthropic.com/en/api/models-list
https://ai.google.dev/api/models#method:-models.list
"""

from __future__ import annotations

from typing import Any

from .scenario import CREATED

MODELS_PAGE_SIZE = 2  # small, so that clients' paging is exercised


def listing(
    models: list[str], path: str, headers: dict[str, str], query: dict[str, str]
) -> dict[str, Any]:
    """The page of `models` that GET `path` answers, in the dialect its path and headers name."""
    if path == "/v1beta/models":
        entries = [
            {
                "name": f"models/{m}",
                "displayName": m,
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in models
        ]
        entries.append(
            {"name": "models/sim-embedding", "supportedGenerationMethods": ["embedContent"]}
        )
        start = int(query.get("pageToken") or 0)
        size = min(int(query.get("pageSize") or 50), MODELS_PAGE_SIZE)
        page: dict[str, Any] = {"models": entries[start : start + size]}
        if start + size < len(entries):
            page["nextPageToken"] = str(start + size)
        return page
    if "anthropic-version" in headers:
        after = query.get("after_id")
        start = models.index(after) + 1 if after in models else 0
        size = min(int(query.get("limit") or 20), MODELS_PAGE_SIZE)
        chosen = models[start : start + size]
        return {
            "data": [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m,
                    "created_at": "2025-01-01T00:00:00Z",
                    "max_input_tokens": 200_000,
                    "max_tokens": 8_192,
                }
                for m in chosen
            ],
            "has_more": start + size < len(models),
            "first_id": chosen[0] if chosen else None,
            "last_id": chosen[-1] if chosen else None,
        }
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "simulator"}
            for m in models
        ],
    }
