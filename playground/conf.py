"""The playground's own limits and knobs, overridable through settings.PLAYGROUND."""

from __future__ import annotations

import os
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
    # Durability (see playground.durability and playground.hub). A socket that closes leaves
    # its runs streaming this long for a reload or another tab to reattach; 0 stops them.
    reattach_grace_seconds: float = 5.0
    checkpoint_seconds: float = 2.0  # streaming runs' text written at most this far apart
    heartbeat_seconds: float = 5.0
    stale_after_seconds: float = 30.0  # a process silent this long is presumed dead
    sweep_seconds: float = 15.0
    shutdown_seconds: float = 8.0  # SIGTERM: time allowed to stop and save every run
    # Blind battles show their timing before the vote only if this is on (speed can reveal
    # the host); each battle keeps the value it was made with (Battle.show_timing).
    arena_show_timing: bool = False


# Settings a deployment (or a test's server process) may set in the environment.
ENVIRONMENT_SETTINGS = (
    "reattach_grace_seconds",
    "checkpoint_seconds",
    "heartbeat_seconds",
    "stale_after_seconds",
    "sweep_seconds",
    "shutdown_seconds",
)
# Yes/no settings from the environment: 1/true/yes/on or 0/false/no/off.
ENVIRONMENT_FLAGS = ("arena_show_timing",)
FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True}
FLAG_WORDS |= {"0": False, "false": False, "no": False, "off": False}


def _from_environment() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in ENVIRONMENT_SETTINGS:
        raw = os.environ.get(f"PLAYGROUND_{name.upper()}")
        if raw:
            try:
                found[name] = float(raw)
            except ValueError:
                raise ValueError(f"PLAYGROUND_{name.upper()} must be a number") from None
    for name in ENVIRONMENT_FLAGS:
        raw = os.environ.get(f"PLAYGROUND_{name.upper()}")
        if raw:
            if raw.strip().lower() not in FLAG_WORDS:
                raise ValueError(f"PLAYGROUND_{name.upper()} must be 1 or 0 (yes or no)")
            found[name] = FLAG_WORDS[raw.strip().lower()]
    return found


def playground_settings() -> PlaygroundSettings:
    overrides: dict[str, Any] = {**_from_environment(), **getattr(settings, "PLAYGROUND", {})}
    known = {f.name for f in fields(PlaygroundSettings)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"Unknown PLAYGROUND settings: {', '.join(sorted(unknown))}")
    return replace(PlaygroundSettings(), **overrides)
