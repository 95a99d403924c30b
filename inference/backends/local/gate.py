"""One fair FIFO queue per device: a request waits its turn, seeing its place as it moves up."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

CONCURRENCY_ENV = "PLAYGROUND_LOCAL_CONCURRENCY"


class Ticket:
    """One request's place at a device: queued until admitted, then running until released."""

    def __init__(self, gate: DeviceGate, loop: asyncio.AbstractEventLoop) -> None:
        self.gate = gate
        self.others_running = 0  # other generations on the device when this one was admitted
        self._loop = loop
        self._updates: asyncio.Queue[int] = asyncio.Queue()  # positions; 0 means admitted
        self._last_position: int | None = None
        self.admitted = False
        self.released = False

    async def wait_turn(self) -> AsyncIterator[int]:
        """Yields the queue position (1 = next) each time it changes; returns once admitted."""
        while True:
            position = await self._updates.get()
            while not self._updates.empty():  # only the newest position matters
                position = self._updates.get_nowait()
            if position == 0:
                return
            yield position

    def release(self) -> None:
        """Leave the queue, or free the device slot. Safe to call from any thread, once or more."""
        self.gate._leave(self)

    def _notify(self, position: int) -> bool:
        """Tell the waiting coroutine its new position; False when its event loop is gone."""
        if position == self._last_position:
            return True
        self._last_position = position
        try:
            self._loop.call_soon_threadsafe(self._updates.put_nowait, position)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            return False
        return True


class DeviceGate:
    """Lets `capacity` generations use one device at once; the others wait in arrival order.

    Thread-safe and not tied to one event loop: tickets are woken on their own loop.
    """

    def __init__(self, device: str, capacity: int = 1) -> None:
        self.device = device
        self.capacity = capacity
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: list[Ticket] = []

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def join(self) -> Ticket:
        """A ticket for the calling coroutine: iterate `wait_turn()` before using the device."""
        ticket = Ticket(self, asyncio.get_running_loop())
        with self._lock:
            self._waiting.append(ticket)
            self._admit_locked()
            if not ticket.admitted:
                ticket._notify(len(self._waiting))
        return ticket

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            if ticket.admitted:
                self._running -= 1
            else:
                self._waiting.remove(ticket)
            self._admit_locked()
            for position, waiting in enumerate(self._waiting, start=1):
                waiting._notify(position)

    def _admit_locked(self) -> None:
        while self._waiting and self._running < max(1, self.capacity):
            ticket = self._waiting.pop(0)
            ticket.others_running = self._running
            if ticket._notify(0):
                ticket.admitted = True
                self._running += 1
            else:
                ticket.released = True


_gates: dict[str, DeviceGate] = {}
_gates_lock = threading.Lock()


def device_gate(device: str) -> DeviceGate:
    """The process-wide gate of `device`; its capacity follows PLAYGROUND_LOCAL_CONCURRENCY."""
    with _gates_lock:
        gate = _gates.setdefault(device, DeviceGate(device))
    gate.capacity = configured_concurrency()
    return gate


def configured_concurrency() -> int:
    """How many generations may share one device (PLAYGROUND_LOCAL_CONCURRENCY, default 1)."""
    try:
        return max(1, int(os.environ.get(CONCURRENCY_ENV, "1")))
    except ValueError:
        return 1
