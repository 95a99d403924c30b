"""The playground's own limits and knobs, overridable through settings.PLAYGROUND."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from django.conf import settings


@dataclass(frozen=True, slots=True)
class PlaygroundSettings:
    """Limits people expect, and the streaming path's timing."""

    max_panels: int = 8
    max_prompt_chars: int = 200_000
    max_system_chars: int = 50_000
    max_frame_bytes: int = 1024 * 1024
    default_max_tokens: int = 1024
    max_tokens_limit: int = 200_000
    coalesce_seconds: float = 0.030
    # Flow control: the page acknowledges frames; past this many unacknowledged frames the
    # server stops sending, and past slow_client_seconds of that it closes the socket.
    ack_window_frames: int = 64
    slow_client_seconds: float = 20.0
    comparisons_per_minute: int = 20
    # Runs streaming at once per user, across every socket and process (a start past it is
    # refused); the daily spending limit and the pace are per user, set in the admin.
    max_live_runs_per_user: int = 16
    save_attempts: int = 4
    save_retry_seconds: float = 0.5
    base_url: str = "http://127.0.0.1:8000"


def playground_settings() -> PlaygroundSettings:
    overrides: dict[str, Any] = getattr(settings, "PLAYGROUND", {})
    known = {f.name for f in fields(PlaygroundSettings)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"Unknown PLAYGROUND settings: {', '.join(sorted(unknown))}")
    return replace(PlaygroundSettings(), **overrides)
