"""Shared fixtures: the upstream simulator on loopback, users, and the simulated providers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inference.simulator import Simulator


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
def _release_test_database(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Before the test database is dropped: async tests leave connections checked out of the
    psycopg pool in sync_to_async's worker threads; end them so DROP DATABASE can run."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _stop_runs_when_their_socket_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests expect a closed socket to stop its runs at once (grace 0); the reattach
    tests set a grace of their own (settings.PLAYGROUND or the server's environment)."""
    monkeypatch.setenv("PLAYGROUND_REATTACH_GRACE_SECONDS", "0")


@pytest.fixture
def servers() -> Iterator[Callable[..., Any]]:
    """Start daphne processes on the test database by name (with more daphne options and
    environment); all are stopped at the end (see tests/servers.py)."""
    from tests.servers import Daphne

    started: list[Daphne] = []

    def make(name: str, *args: str, **env: str) -> Daphne:
        server = Daphne(name, env=env, args=list(args)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
