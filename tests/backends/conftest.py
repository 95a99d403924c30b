"""Fixtures for the backend tests: instant retry waits, and a fresh HTTP client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inference.backends import http, retry


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits, recorded instead of slept."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(retry, "backoff_sleep", fake_sleep)
    return recorded


@pytest.fixture(autouse=True)
async def _close_http_client() -> AsyncIterator[None]:
    """Each test's loop gets its own pooled client; close it with the loop."""
    yield
    await http.aclose_shared_client()
