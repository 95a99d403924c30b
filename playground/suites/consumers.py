"""The suite-run page's websocket (/ws/suites/<id>/): thin and read-only. It checks that the
socket's user owns the run, then follows the run's SuiteWatch (playground.suites.watch),
which sends the frames. The only frames it takes are the page's acknowledgements.

The origin check is the site's own (playground.origin, around every websocket); logging out,
being deactivated or a session that ends close it with 4401, as the compare socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from playground import selectors as playground_selectors
from playground.conf import playground_settings
from playground.consumers import (
    SESSION_RECHECK_SECONDS,
    UNAUTHENTICATED_CLOSE_CODE,
    user_group,
)
from playground.live import SLOW_CLIENT_CLOSE_CODE
from playground.suites import selectors
from playground.suites.fragments import FigureOptions
from playground.suites.watch import SuiteWatch, current_watches

logger = logging.getLogger(__name__)

NOT_YOURS_CLOSE_CODE = 4404  # no such suite run, or another user's
MAX_FRAME_BYTES = 4096  # acknowledgements are tiny


def _since(value: str | None) -> dt.datetime | None:
    """The page's render time (epoch seconds in the query string); None when absent or bad."""
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


class SuiteConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One suite-run page: follows its run's watch; flow-controlled by the page's acks."""

    watch: SuiteWatch | None = None
    session_watch: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=UNAUTHENTICATED_CLOSE_CODE)
            return
        suite_run_id = int(self.scope["url_route"]["kwargs"]["suite_run_id"])
        try:
            mine = await database_sync_to_async(selectors.owns_suite_run)(
                user_id=user.pk, suite_run_id=suite_run_id
            )
        except DatabaseError:
            logger.warning("Could not check a suite socket's run", exc_info=True)
            mine = False
        if not mine:
            await self.close(code=NOT_YOURS_CLOSE_CODE)
            return
        query = {
            key: values[-1]
            for key, values in parse_qs(self.scope.get("query_string", b"").decode()).items()
        }
        self.user = user
        self.since = _since(query.get("since"))
        self.options = FigureOptions.from_query(query)
        limits = playground_settings()
        self.ack_window = limits.ack_window_frames
        self.sent_frames = 0
        self.acked_frames = 0
        self.closing = False
        self.group = user_group(user.pk)
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.session_watch = asyncio.create_task(self._watch_session(), name="suite-session")
        self.watch = current_watches().follow(suite_run_id, self)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.watch is not None:
            self.watch.detach(self)
            self.watch = None
        if self.session_watch is not None:
            self.session_watch.cancel()
        if self.channel_layer is not None and hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            return
        try:
            payload = json.loads(text_data)
        except ValueError:
            return
        if isinstance(payload, dict) and payload.get("action") == "ack":
            frames = payload.get("frames")
            if isinstance(frames, int) and not isinstance(frames, bool):
                self.acked_frames = max(self.acked_frames, min(frames, self.sent_frames))

    async def deliver(self, frame: str) -> None:
        """A frame from the watch; a page that stopped reading is cut off, not buffered for."""
        if self.closing:
            return
        if self.sent_frames - self.acked_frames >= self.ack_window:
            logger.warning("Closing a suite socket whose client stopped reading")
            await self._close(SLOW_CLIENT_CLOSE_CODE)
            return
        self.sent_frames += 1
        await self.send(text_data=frame)

    async def _close(self, code: int) -> None:
        self.closing = True
        if self.watch is not None:
            self.watch.detach(self)
            self.watch = None
        await self.close(code=code)

    # --- the login behind the socket -----------------------------------------------------------

    async def _watch_session(self) -> None:
        while True:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            await self.session_recheck({})

    async def session_recheck(self, event: dict[str, Any]) -> None:
        """A password change or a logout elsewhere asks every socket of the user for this."""
        try:
            live = await database_sync_to_async(playground_selectors.session_is_live)(
                session_key=self.scope["session"].session_key, user_id=self.user.pk
            )
        except DatabaseError:
            logger.warning("Could not recheck a suite socket's session", exc_info=True)
            return
        if not live:
            await self.session_ended({})

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self._close(UNAUTHENTICATED_CLOSE_CODE)
