"""Shared fixtures: the upstream simulator on loopback, users, and the simulated providers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from inference.testing import Simulator


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """One simulator for the whole session, serving all three wire formats on one port."""
    sim = Simulator()
    sim.start_in_thread()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The session's simulator with its scenarios and request log cleared for this test."""
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture(scope="session", autouse=True)
def _close_database_pools(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """A psycopg pool keeps connections open; close it before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            close_pool = getattr(connection, "close_pool", None)
            if close_pool is not None:
                close_pool()
