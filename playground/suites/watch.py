"""Live progress of suite runs for this process's sockets, learned from the database.

Units are run by worker processes (`manage.py db_worker`) and the channel layer may be
in-memory, so nothing tells a server process that a unit finished: it has to look. One
SuiteWatch per suite run per process does, however many sockets follow the run: its one
task polls (every `poll_seconds`) the run's row and the units that changed, renders what
changed once (the page's own partial templates, with hx-swap-oob) and sends it to every
socket. A socket that just attached first gets a catch-up since its page was rendered. When
the run is over (final, and nothing of it still running), every socket gets the final
figures once and the watch ends; it also ends when its last socket leaves. Its registry
(`current_watches()`) forgets it as it ends, so a socket that comes later gets a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from channels.db import database_sync_to_async
from django.utils import timezone

from playground.suites import fragments, selectors
from playground.suites.conf import suite_settings
from playground.suites.fragments import FigureOptions, Viewer
from playground.suites.models import SuiteUnit

logger = logging.getLogger(__name__)

# A unit's finish time is taken before its transaction commits, so a unit can become visible
# after one that finished later: every poll looks back this far past the newest it has seen.
LOOK_BACK = dt.timedelta(seconds=10)


class Follower(Protocol):
    """A socket following a suite run (playground.suites.consumers.SuiteConsumer)."""

    @property
    def since(self) -> dt.datetime | None:
        """When its page was rendered (None: it knows nothing yet)."""

    @property
    def options(self) -> FigureOptions: ...

    async def deliver(self, frame: str) -> None: ...


UnitState = tuple[str, int | None, str | None]  # unit status, run id, run status


def _state(unit: SuiteUnit) -> UnitState:
    return (unit.status, unit.run_id, unit.run.status if unit.run is not None else None)


@dataclass(slots=True)
class Poll:
    """What one poll read and rendered."""

    gone: bool = False  # the suite run was deleted
    changes: str = ""  # for the sockets already caught up
    catch_up: dict[dt.datetime | None, str] = field(default_factory=dict)  # by page time
    final: dict[FigureOptions, str] | None = None  # the last frames, by figure options


class SuiteWatch:
    """One suite run followed in this process: its polling task and its sockets."""

    def __init__(
        self,
        suite_run_id: int,
        *,
        poll_seconds: float,
        ended: Callable[[SuiteWatch], None],
    ) -> None:
        self.suite_run_id = suite_run_id
        self.poll_seconds = poll_seconds
        self._ended = ended
        self._followers: dict[Follower, bool] = {}  # -> caught up
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # What the caught-up sockets were last sent of each unit that may still change
        # (running, or finished within the look-back window), and the newest finish seen.
        self._sent: dict[int, UnitState] = {}
        self._newest: dt.datetime | None = None
        self._run_state: tuple[object, ...] | None = None

    @property
    def followers(self) -> int:
        return len(self._followers)

    def attach(self, follower: Follower) -> None:
        self._followers[follower] = False
        self._wake.set()  # its catch-up goes out at once, not at the next poll
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"suite-watch-{self.suite_run_id}")

    def detach(self, follower: Follower) -> None:
        self._followers.pop(follower, None)
        if not self._followers:
            self._end()

    def _end(self) -> None:
        self._ended(self)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self) -> None:
        while self._followers:
            self._wake.clear()
            new = [follower for follower, caught_up in self._followers.items() if not caught_up]
            try:
                poll = await database_sync_to_async(self._poll)(
                    catch_up={follower.since for follower in new},
                    options={follower.options for follower in self._followers},
                    changes=len(new) < len(self._followers),
                )
            except Exception:
                logger.exception("Suite run %s: could not read its progress", self.suite_run_id)
                poll = Poll()
            final = poll.final
            if poll.gone or (
                final is not None and all(f.options in final for f in self._followers)
            ):
                # Taken together with no await between: a socket attaching from now on
                # gets a watch of its own.
                followers = list(self._followers)
                self._end()
                if final is not None:
                    await _deliver_all([(f, final[f.options]) for f in followers])
                return
            if final is None:
                await _deliver_all(self._frames(poll, new))
            # (A socket that came with other figure options during the read: read again.)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def _frames(self, poll: Poll, new: list[Follower]) -> list[tuple[Follower, str]]:
        frames: list[tuple[Follower, str]] = []
        for follower, caught_up in list(self._followers.items()):
            if follower in new:
                if follower.since in poll.catch_up:
                    frames.append((follower, poll.catch_up[follower.since]))
                    self._followers[follower] = True
            elif caught_up and poll.changes:
                frames.append((follower, poll.changes))
        return frames

    # --- on the database thread --------------------------------------------------------------

    def _poll(
        self,
        *,
        catch_up: Collection[dt.datetime | None],
        options: Collection[FigureOptions],
        changes: bool,
    ) -> Poll:
        suite_run = selectors.suite_run_fresh(suite_run_id=self.suite_run_id)
        if suite_run is None:
            return Poll(gone=True)
        viewer = Viewer.owner(suite_run)
        now = timezone.now()
        window = (self._newest or now) - LOOK_BACK
        units = selectors.units_to_check(
            suite_run_id=self.suite_run_id,
            finished_since=window,
            also=[pk for pk, state in self._sent.items() if state[0] == SuiteUnit.Status.CLAIMED],
        )
        running = any(unit.status == SuiteUnit.Status.CLAIMED for unit in units)
        changed = [unit for unit in units if self._sent.get(unit.pk) != _state(unit)]
        self._sent = {unit.pk: _state(unit) for unit in units}
        finishes = [unit.finished for unit in units if unit.finished is not None]
        if finishes:
            self._newest = max([*finishes, *([self._newest] if self._newest else [])])
        run_state = (suite_run.status, suite_run.spent, suite_run.error, suite_run.started)
        moved = bool(changed) or run_state != self._run_state
        self._run_state = run_state
        poll = Poll()
        if suite_run.is_final and not running:
            progress = selectors.progress(suite_run=suite_run)
            poll.final = {
                option: fragments.final_html(suite_run, progress, options=option, viewer=viewer)
                for option in options
            }
            return poll
        if not moved and not catch_up:
            return poll
        progress = selectors.progress(suite_run=suite_run)
        progress_html = fragments.progress_html(suite_run, progress)
        if changes and moved:
            poll.changes = progress_html + fragments.units_html(changed, viewer=viewer)
        for since in catch_up:
            known = selectors.units_since(
                suite_run_id=self.suite_run_id, since=since - LOOK_BACK if since else None
            )
            poll.catch_up[since] = progress_html + fragments.units_html(known, viewer=viewer)
        return poll


async def _deliver_all(frames: list[tuple[Follower, str]]) -> None:
    pending = [follower.deliver(frame) for follower, frame in frames if frame]
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            logger.warning("Could not send a suite frame", exc_info=result)


class Watches:
    """This process's SuiteWatch objects, one per suite run that sockets here follow."""

    def __init__(self) -> None:
        self._by_run: dict[int, SuiteWatch] = {}

    def follow(self, suite_run_id: int, follower: Follower) -> SuiteWatch:
        watch = self._by_run.get(suite_run_id)
        if watch is None:
            watch = SuiteWatch(
                suite_run_id, poll_seconds=suite_settings().poll_seconds, ended=self._forget
            )
            self._by_run[suite_run_id] = watch
        watch.attach(follower)
        return watch

    def get(self, suite_run_id: int) -> SuiteWatch | None:
        return self._by_run.get(suite_run_id)

    def _forget(self, watch: SuiteWatch) -> None:
        if self._by_run.get(watch.suite_run_id) is watch:
            del self._by_run[watch.suite_run_id]


_watches = Watches()


def current_watches() -> Watches:
    return _watches
