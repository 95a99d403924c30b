"""Shared fixtures: the upstream simulator on loopback, users, and the simulated providers."""

from __future__ import annotations

from collections.abc import Iterator

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
