"""One comparison while it streams: the object that owns its runs' lives.

A `LiveComparison` starts the runs' tasks, holds their state (`LivePanel`s), waits for their
rows, hands finished runs to be saved, and talks to whatever sockets follow it: none, one,
or several (a reloaded page, a second tab, a socket on another process through the channel
layer). When the last socket goes it keeps streaming for the reattach grace period, then
stops the runs, which are saved as stopped. The rows are its persistence, not its state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from playground import fragments
from playground.arena.blinding import BlindView
from playground.conf import playground_settings
from playground.models import Comparison, Run, Turn
from playground.services import PanelStart, StartPlan
from playground.streaming import LivePanel, apply_outcome, run_panel

if TYPE_CHECKING:
    from playground.hub import LiveHub

logger = logging.getLogger(__name__)


class Follower(Protocol):
    """A socket following a live comparison (playground.live.SocketSink is one)."""

    closed: bool

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None: ...

    def caught_up(self, panel: LivePanel) -> None: ...

    def following(self, panel: LivePanel) -> bool: ...

    async def panel_finished(self, panel: LivePanel, frame: str) -> None: ...

    async def send(self, frame: str) -> None: ...


class LiveComparison:
    """The runs of one comparison that stream (or save) in this process."""

    def __init__(self, hub: LiveHub, *, owner_id: int, comparison_id: int | None = None) -> None:
        self.hub = hub
        self.owner_id = owner_id
        self.comparison_id = comparison_id
        self.panels: list[LivePanel] = []  # every panel started here, finished ones too
        self.tasks: dict[LivePanel, asyncio.Task[None]] = {}
        self.plans: dict[LivePanel, StartPlan] = {}
        self.followers: list[Follower] = []
        self._grace: asyncio.Task[None] | None = None
        # A battle not voted on yet (set by each start): every board it sends is blind.
        self.blind: BlindView | None = None

    # --- what sockets ask ---------------------------------------------------------------------

    @property
    def streaming(self) -> list[LivePanel]:
        return [panel for panel in self.tasks if panel.life.streaming]

    @property
    def busy(self) -> bool:
        """Some run still streams or saves."""
        return bool(self.tasks)

    def launch(self, plan: StartPlan) -> list[LivePanel]:
        """Start the plan's runs at once (their rows are written meanwhile)."""
        self.blind = plan.blind
        panels = []
        for start in plan.starts:
            start.run.owner = self.hub.process_id
            panels.append(self._launch(start, plan))
        self._cancel_grace()
        return panels

    def _launch(self, start: PanelStart, plan: StartPlan) -> LivePanel:
        panel = LivePanel(start=start)
        task = asyncio.create_task(run_panel(panel, self), name=f"run-{start.model.name}")
        self.panels.append(panel)
        self.tasks[panel] = task
        self.plans[panel] = plan
        task.add_done_callback(lambda _: self._forget(panel))
        return panel

    def rows_saved(self, plan: StartPlan, panels: Sequence[LivePanel], *, saved: bool) -> None:
        """The rows of a start were written, or never will be (then the runs are cancelled)."""
        if saved:
            self.comparison_id = plan.comparison.pk
            self.hub.register(self)
            return
        for panel in panels:
            panel.life.discard()
            if panel in self.tasks:
                self.tasks[panel].cancel()

    def released(self, panels: Sequence[LivePanel]) -> None:
        """The board showing these panels went out (or its socket went): deltas may follow,
        results be saved."""
        for panel in panels:
            panel.life.release()
            self.panel_changed(panel, urgent=True)
        self.arm_grace()

    def attach(self, follower: Follower) -> None:
        if follower not in self.followers:
            self.followers.append(follower)
        self._cancel_grace()
        for panel in self.panels:
            if panel.life.released and panel.outcome is None:
                follower.panel_changed(panel, urgent=True)

    async def caught_up_finished(self, follower: Follower) -> None:
        """Send the runs that ended between a socket's snapshot and its attach."""
        for panel in list(self.panels):
            if panel.outcome is not None and follower.following(panel):
                await follower.panel_finished(panel, await self._finished_fragment(panel))

    async def detach(self, follower: Follower) -> None:
        """A socket went. With nobody left, the runs go on for the grace period only."""
        if follower in self.followers:
            self.followers.remove(follower)
        grace = playground_settings().reattach_grace_seconds
        if grace <= 0 and not self.followers:
            await self.stop()
        else:
            self.arm_grace()

    async def stop(self, run_id: int | None = None) -> None:
        """Cancel the runs still streaming (one, or all) and wait until they are saved."""
        panels = [p for p in self.tasks if run_id is None or p.run_id == run_id]
        for panel in panels:
            if panel.life.streaming:
                self.tasks[panel].cancel()
        tasks = [self.tasks[p] for p in panels if p in self.tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait(self) -> None:
        """Until every run has ended and been saved."""
        while self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def is_streaming(self, run_id: int) -> bool:
        return any(panel.run_id == run_id and panel.life.streaming for panel in self.tasks)

    def snapshot_runs(self, runs: Sequence[Run], follower: Follower) -> list[tuple[Run, bool]]:
        """The runs as this process knows them now, each with whether it is still live.

        Called on the event loop, without awaiting, right before the board goes to a socket
        that attaches: its cursors then start exactly where the board's text ends.
        """
        by_id = {panel.run_id: panel for panel in self.panels if panel.life.released}
        shown = []
        for run in runs:
            panel = by_id.get(run.pk)
            if panel is None:
                shown.append((run, False))
                continue
            if panel.outcome is not None:
                shown.append((apply_outcome(run, panel.outcome), False))
                continue
            run.text, run.reasoning = panel.text, panel.reasoning
            run.status = Run.Status.STREAMING
            follower.caught_up(panel)
            shown.append((run, True))
        return shown

    async def show_and_follow(
        self, comparison: Comparison, turns: Sequence[Turn], runs: Sequence[Run], follower: Follower
    ) -> None:
        """Send a socket that attaches the board as it is now, then follow on from there."""
        shown = self.snapshot_runs(runs, follower)
        streaming = any(is_live for _, is_live in shown)
        frame = await asyncio.to_thread(
            fragments.board_snapshot,
            comparison,
            turns,
            [run for run, _ in shown],
            streaming,
            self.blind,
        )
        await follower.send(frame)
        self.attach(follower)
        await self.caught_up_finished(follower)

    # --- what the runs tell it (a PanelSink) --------------------------------------------------

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        for follower in self.followers:
            follower.panel_changed(panel, urgent=urgent)

    async def panel_finished(self, panel: LivePanel) -> None:
        if not self.followers:
            return
        frame = await self._finished_fragment(panel)
        for follower in list(self.followers):
            await follower.panel_finished(panel, frame)

    async def _finished_fragment(self, panel: LivePanel) -> str:
        plan = self.plans[panel]
        idle = all(p.outcome is not None for p in self.tasks)
        return await asyncio.to_thread(
            fragments.finished_frame,
            run=panel.start.run,
            turn_runs=plan.turn_runs,
            save_failed=panel.save_failed,
            idle_comparison=plan.comparison if idle else None,
            blind=plan.blind,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def _forget(self, panel: LivePanel) -> None:
        self.tasks.pop(panel, None)
        if not self.tasks:
            # Nothing streams or saves: the rows now say all there is to know.
            self._cancel_grace()
            self.panels.clear()
            self.plans.clear()
            self.hub.unregister(self)

    async def _stop_after(self, grace: float) -> None:
        try:
            await asyncio.sleep(grace)
        except asyncio.CancelledError:
            return
        self._grace = None
        if not self.followers:
            logger.info("Nobody reattached to comparison %s: stopping it", self.comparison_id)
            await self.stop()

    def arm_grace(self) -> None:
        """With nobody following and runs streaming, stop them unless someone reattaches."""
        if self.followers or not self.streaming or self._grace is not None:
            return
        grace = playground_settings().reattach_grace_seconds
        self._grace = asyncio.create_task(self._stop_after(max(grace, 0)), name="grace")

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def close_followers(self) -> None:
        """The process is going: nothing more is sent to the sockets."""
        for follower in self.followers:
            follower.closed = True
        self.followers.clear()
