"""The websocket side of live panels: coalesced frames and flow control.

Deltas are not sent one by one. A panel that changed is marked dirty; one flusher task per
socket sends every dirty panel's new text (from this socket's own cursor into the panel's
append-only deltas, so several sockets can follow one comparison) in a single frame, at
once when the socket has been quiet for a window (so a first token is never held back),
otherwise at the end of the window (about 30 ms). The page acknowledges frames; a client
that stops reading stops acknowledging, the server stops sending past a window of frames,
and closes the socket if that lasts, so one stuck browser cannot grow the server's buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from playground import fragments
from playground.arena.blinding import shown_state
from playground.streaming import LivePanel

logger = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE_CODE = 4008


class SocketSink:
    """Coalesces panel updates into frames for one websocket."""

    def __init__(
        self,
        *,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        window: float,
        ack_window: int,
        slow_client_seconds: float,
    ) -> None:
        self._send_text = send
        self._close = close
        self.window = window
        self.ack_window = ack_window
        self.slow_client_seconds = slow_client_seconds
        self.dirty: dict[int, LivePanel] = {}  # by id(panel): rows may not exist yet
        # Per panel: how many text and reasoning deltas, and which state, this socket has sent.
        self.cursors: dict[int, tuple[int, int, tuple[str, str]]] = {}
        self.sent_frames = 0
        self.acked_frames = 0
        self.last_flush = 0.0
        self.closed = False
        self._urgent = False
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop(), name="socket-sink-flusher")

    # --- what the live comparison tells it --------------------------------------------------

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        self.dirty[id(panel)] = panel
        if urgent:
            self._urgent = True
        self._wake.set()

    def caught_up(self, panel: LivePanel) -> None:
        """The client has all of this panel so far (a whole panel was just sent)."""
        self.dirty.pop(id(panel), None)
        self.cursors[id(panel)] = (
            len(panel.text_parts),
            len(panel.reasoning_parts),
            (panel.state, panel.state_detail),
        )

    def following(self, panel: LivePanel) -> bool:
        """This socket shows the panel live (its final frame has not been sent)."""
        return id(panel) in self.cursors

    async def panel_finished(self, panel: LivePanel, frame: str) -> None:
        # The finished panel replaces the live one whole, so unsent deltas need not go.
        self.dirty.pop(id(panel), None)
        self.cursors.pop(id(panel), None)
        await self.send(frame)

    # --- flow control ------------------------------------------------------------------------

    def ack(self, frames: int) -> None:
        """The client has processed this many frames."""
        self.acked_frames = max(self.acked_frames, min(frames, self.sent_frames))
        self._wake.set()

    @property
    def client_behind(self) -> bool:
        return self.sent_frames - self.acked_frames >= self.ack_window

    async def send(self, frame: str) -> None:
        if self.closed or not frame:
            return
        self.sent_frames += 1
        await self._send_text(frame)

    async def _flush_loop(self) -> None:
        blocked_since: float | None = None
        while not self.closed:
            if blocked_since is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.window)
            self._wake.clear()
            if not self._urgent:
                delay = self.last_flush + self.window - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._urgent = False
            if self.client_behind:
                now = time.monotonic()
                blocked_since = blocked_since or now
                if now - blocked_since > self.slow_client_seconds:
                    logger.warning("Closing a websocket whose client stopped reading")
                    self.closed = True
                    await self._close(SLOW_CLIENT_CLOSE_CODE)
                    return
                continue
            blocked_since = None
            if self.dirty:
                await self._flush()

    async def _flush(self) -> None:
        # A panel whose board has not been sent yet keeps its text until it has.
        panels = [panel for panel in self.dirty.values() if panel.life.released]
        for panel in panels:
            del self.dirty[id(panel)]
        parts = []
        for panel in panels:
            sent_text, sent_reasoning, sent_state = self.cursors.get(id(panel), (0, 0, ("", "")))
            text_parts, reasoning_parts = panel.text_parts, panel.reasoning_parts
            text = "".join(text_parts[sent_text:])
            reasoning = "".join(reasoning_parts[sent_reasoning:])
            state = (panel.state, panel.state_detail)
            if panel.start.blind:  # a battle's panel: no thinking, and no state saying more
                reasoning, state = "", (shown_state(panel.state), "")
            self.cursors[id(panel)] = (len(text_parts), len(reasoning_parts), state)
            parts.append(fragments.delta(panel.run_id, text, reasoning))
            if state != sent_state:
                parts.append(fragments.state(panel.run_id, *state))
        self.last_flush = time.monotonic()
        await self.send("".join(parts))

    async def aclose(self) -> None:
        self.closed = True
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
