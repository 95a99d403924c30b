"""The process's live comparisons and the work that keeps their runs durable.

One `LiveHub` per event loop (one per server process; tests get one per loop). It knows
every comparison streaming here, so a reloaded page finds its runs again; it names the
process in the database and keeps its heartbeat; every `checkpoint_seconds` it writes the
text of the runs that grew, in one UPDATE on the database thread; it sweeps the runs of
dead processes at start and periodically; and on SIGTERM or SIGINT it stops every run and
saves it as stopped before the server exits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import DatabaseError, InterfaceError

from playground import durability, remote, selectors
from playground.conf import playground_settings
from playground.live import SocketSink
from playground.live_comparison import LiveComparison
from playground.streaming import LivePanel

logger = logging.getLogger(__name__)

_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def current_hub() -> LiveHub:
    """The hub of the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    hub = _HUBS.get(loop)
    if hub is None:
        hub = _HUBS[loop] = LiveHub()
    return hub


class LiveHub:
    """Every live comparison of this process, and the process's durability duties."""

    def __init__(self) -> None:
        identity = durability.ProcessIdentity.new()
        self.process_id, self.hostname, self.pid = (
            identity.process_id,
            identity.hostname,
            identity.pid,
        )
        self.comparisons: dict[int, LiveComparison] = {}
        self._started: asyncio.Future[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.shutting_down = False
        # Crossing processes (a channel layer other than the in-memory one): this hub's
        # channel, and the sockets of other processes that follow comparisons streaming here.
        self.layer: Any = get_channel_layer()
        self.crosses_processes = self.layer is not None and not isinstance(
            self.layer, InMemoryChannelLayer
        )
        self.channel = ""
        self.remote_followers: dict[str, tuple[LiveComparison, SocketSink]] = {}
        self._background: set[asyncio.Future[Any]] = set()

    # --- the registry --------------------------------------------------------------------

    def get(self, comparison_id: int) -> LiveComparison | None:
        return self.comparisons.get(comparison_id)

    def register(self, live: LiveComparison) -> None:
        if live.comparison_id is None or self.comparisons.get(live.comparison_id) is live:
            return
        self.comparisons[live.comparison_id] = live
        if self.crosses_processes and self.channel:
            group = remote.group_for(live.comparison_id)
            self._in_background(self.layer.group_add(group, self.channel))

    def unregister(self, live: LiveComparison) -> None:
        if live.comparison_id is None or self.comparisons.get(live.comparison_id) is not live:
            return
        del self.comparisons[live.comparison_id]
        if self.crosses_processes and self.channel:
            group = remote.group_for(live.comparison_id)
            self._in_background(self.layer.group_discard(group, self.channel))
        for reply, (followed, follower) in list(self.remote_followers.items()):
            if followed is live:
                del self.remote_followers[reply]
                self._in_background(follower.aclose())

    def _in_background(self, work: Any) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    def live_for(self, *, comparison_id: int | None, owner_id: int) -> LiveComparison:
        """The comparison's live object here, or a new one (not registered until saved)."""
        found = self.get(comparison_id) if comparison_id is not None else None
        if found is not None:
            return found
        return LiveComparison(self, owner_id=owner_id, comparison_id=comparison_id)

    # --- start and stop ------------------------------------------------------------------

    def start(self) -> asyncio.Future[None]:
        """Name this process, sweep dead ones, and start the periodic work (once)."""
        failed = (
            self._started is not None
            and self._started.done()
            and (self._started.cancelled() or self._started.exception() is not None)
        )
        if self._started is None or failed:  # a database down at start is retried
            self._started = asyncio.ensure_future(self._start())
        return self._started

    async def ensure_started(self) -> None:
        await asyncio.shield(self.start())

    async def _start(self) -> None:
        limits = playground_settings()
        await database_sync_to_async(durability.process_register)(
            process_id=self.process_id, hostname=self.hostname, pid=self.pid
        )
        await self._sweep()
        self._maintenance = asyncio.create_task(self._maintain(), name="live-hub-maintenance")
        if self.crosses_processes:
            # The default prefix: channels_redis receives every process-local channel
            # through one shared key, so a channel of another prefix would starve the rest.
            self.channel = await self.layer.new_channel()
            self._listener = asyncio.create_task(self._listen(), name="live-hub-listener")
        self._on_server_shutdown()
        logger.info(
            "Process %s: checkpoints every %.1f s, reattach grace %.1f s",
            self.process_id,
            limits.checkpoint_seconds,
            limits.reattach_grace_seconds,
        )

    def _on_server_shutdown(self) -> None:
        """Under daphne (Twisted), stop and save every run before the reactor stops."""
        if "twisted.internet.reactor" not in sys.modules:
            return
        from twisted.internet import defer, reactor

        def before_shutdown() -> Any:
            return defer.Deferred.fromFuture(asyncio.ensure_future(self.shutdown()))

        reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]

    async def shutdown(self) -> None:
        """Stop every run here, save each as stopped, and retire this process's row."""
        if self.shutting_down:
            return
        self.shutting_down = True
        limits = playground_settings()
        lives = list(self.comparisons.values())
        count = sum(len(live.streaming) for live in lives)
        logger.info("Shutting down: stopping and saving %s streaming runs", count)
        for live in lives:
            live.close_followers()
        stopping = [asyncio.ensure_future(live.stop()) for live in lives]
        if stopping:
            _, pending = await asyncio.wait(stopping, timeout=limits.shutdown_seconds)
            if pending:
                logger.error("%s comparisons were not saved before shutdown", len(pending))
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._listener is not None:
            self._listener.cancel()
        if not any(live.busy for live in lives):
            try:
                await database_sync_to_async(durability.process_retire)(process_id=self.process_id)
            except (DatabaseError, InterfaceError):
                logger.warning("Could not retire process %s", self.process_id, exc_info=True)

    # --- sockets of other processes ------------------------------------------------------

    async def _listen(self) -> None:
        handlers = {
            remote.ATTACH: self._remote_attach,
            remote.STOP: self._remote_stop,
            remote.DETACH: self._remote_detach,
        }
        while True:
            try:
                message = await self.layer.receive(self.channel)
                handler = handlers.get(message.get("type"))
                if handler is not None:
                    await handler(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not handle a message from another process")
                await asyncio.sleep(0.5)

    def _owned(self, message: dict[str, Any]) -> LiveComparison | None:
        live = self.get(int(message.get("comparison") or 0))
        if live is None or live.owner_id != message.get("user"):
            return None
        return live

    async def _remote_attach(self, message: dict[str, Any]) -> None:
        live = self._owned(message)
        if live is None or live.comparison_id is None:
            return
        reply, comparison_id = str(message["reply"]), live.comparison_id
        limits = playground_settings()

        async def send(text: str) -> None:
            try:
                await self.layer.send(reply, remote.frame(comparison_id, text))
            except ChannelFull:
                await self._remote_detach({"reply": reply})

        async def close(code: int) -> None:
            await self._remote_detach({"reply": reply})

        # Flow control stays with the socket's own process; here, only coalescing.
        follower = SocketSink(
            send=send,
            close=close,
            window=limits.coalesce_seconds,
            ack_window=2**31,
            slow_client_seconds=limits.slow_client_seconds,
        )
        self.remote_followers[reply] = (live, follower)
        comparison, turns, runs = await database_sync_to_async(selectors.comparison_board)(
            comparison_id=comparison_id, owner_id=live.owner_id
        )
        await live.show_and_follow(comparison, turns, runs, follower)

    async def _remote_stop(self, message: dict[str, Any]) -> None:
        live = self._owned(message)
        if live is not None:
            run = message.get("run")
            await live.stop(None if run is None else int(run))

    async def _remote_detach(self, message: dict[str, Any]) -> None:
        found = self.remote_followers.pop(str(message.get("reply")), None)
        if found is not None:
            live, follower = found
            follower.closed = True
            await live.detach(follower)
            await follower.aclose()

    # --- periodic work -------------------------------------------------------------------

    async def _maintain(self) -> None:
        limits = playground_settings()
        step = max(min(limits.checkpoint_seconds, limits.heartbeat_seconds), 0.05)
        last_beat = last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            try:
                await self.checkpoint()
                if now - last_beat >= limits.heartbeat_seconds:
                    last_beat = now
                    await database_sync_to_async(durability.process_heartbeat)(
                        process_id=self.process_id, hostname=self.hostname, pid=self.pid
                    )
                if now - last_sweep >= limits.sweep_seconds:
                    last_sweep = now
                    await self._sweep()
            except (DatabaseError, InterfaceError):
                logger.warning("Durability work failed; retrying next round", exc_info=True)

    async def checkpoint(self) -> int:
        """Write what every run gained since its last checkpoint (its new deltas only)."""
        due: list[tuple[LivePanel, tuple[int, int]]] = []
        checkpoints = []
        for live in list(self.comparisons.values()):
            for panel in live.streaming:
                if not panel.life.released:
                    continue
                counts = (len(panel.text_parts), len(panel.reasoning_parts))
                if counts == panel.checkpointed:
                    continue
                text_from, reasoning_from = panel.checkpointed or (0, 0)
                due.append((panel, counts))
                checkpoints.append(
                    durability.Checkpoint(
                        panel.run_id,
                        "".join(panel.text_parts[text_from : counts[0]]),
                        "".join(panel.reasoning_parts[reasoning_from : counts[1]]),
                    )
                )
        if not checkpoints:
            return 0
        await database_sync_to_async(durability.runs_checkpoint)(checkpoints=checkpoints)
        for panel, counts in due:
            panel.checkpointed = counts
        return len(checkpoints)

    async def _sweep(self) -> None:
        limits = playground_settings()
        await database_sync_to_async(durability.sweep_interrupted)(
            stale_after=dt.timedelta(seconds=limits.stale_after_seconds),
            live_process=self.process_id,
        )
