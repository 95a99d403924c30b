"""The compare websocket: thin. It validates frames, asks services to start runs, and owns
one task per streaming panel (never streaming inside receive, so stop and disconnect are
always heard)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from inference.catalog import ModelUnavailableError, UnknownModelError
from playground import fragments, selectors, services
from playground.conf import playground_settings
from playground.forms import CompareForm, FrameError, payload_to_data
from playground.live import SocketSink
from playground.models import Comparison, Run
from playground.services import ComparisonRefused, PanelStart, StartPlan
from playground.streaming import LivePanel, run_panel

logger = logging.getLogger(__name__)

UNAUTHENTICATED_CLOSE_CODE = 4401
SESSION_RECHECK_SECONDS = 30.0


class SessionEnded(Exception):
    """The user behind a socket logged out, was deactivated, or their session expired."""


def user_group(user_id: int) -> str:
    """Every socket of one user, so logging out can close them all."""
    return f"user-{user_id}"


class CompareConsumer(AsyncWebsocketConsumer):
    """One browser tab's comparisons."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes old database connections before every message; acks arrive many
        # times a second and touch no database, and our database calls do that themselves.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=UNAUTHENTICATED_CLOSE_CODE)
            return
        self.user = user
        self.limits = playground_settings()
        self.tasks: dict[LivePanel, asyncio.Task[None]] = {}
        self.plans: dict[LivePanel, StartPlan] = {}
        self.session_checked_at = -SESSION_RECHECK_SECONDS
        # A start (validate, prepare, save) runs beside the socket's message loop, so a stop
        # or a closed tab is heard at once even while the database is slow.
        self.starting: asyncio.Task[None] | None = None
        self.group = user_group(user.pk)
        self.sink = SocketSink(
            send=self._send_frame,
            close=self._close_slow,
            on_finished=self._finished_fragment,
            window=self.limits.coalesce_seconds,
            ack_window=self.limits.ack_window_frames,
            slow_client_seconds=self.limits.slow_client_seconds,
        )
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "sink"):
            return
        self.sink.closed = True  # nothing more can be sent
        if self.starting is not None:
            self.starting.cancel()
            await asyncio.gather(self.starting, return_exceptions=True)
        await self._stop(list(self.tasks))
        await self.sink.aclose()
        if self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- frames in -----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self._answering(self._receive(text_data, bytes_data))

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        payload = self._decode(text_data, bytes_data)
        action = payload.get("action", "compare")
        if action == "ack":
            self.sink.ack(_int(payload.get("frames"), "frames"))
        elif action == "stop":
            await self._stop(self._panels_of(_int(payload.get("run"), "run")), must_exist=True)
        elif action == "stop_all":
            await self._stop(list(self.tasks))
        elif action in ("compare", "retry"):
            if self.starting is not None and not self.starting.done():
                raise ComparisonRefused("Still starting the previous request; a moment please.")
            work = (
                self._compare(payload)
                if action == "compare"
                else self._retry(_int(payload.get("run"), "run"))
            )
            self.starting = asyncio.create_task(self._answering(work))
        else:
            raise FrameError(f"Unknown action {str(action)[:40]!r}.")

    async def _answering(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work`; a refusal or a bad request becomes a notice in the page."""
        try:
            await work
        except (FrameError, ComparisonRefused, UnknownModelError, ModelUnavailableError) as exc:
            await self.sink.send(fragments.notice(str(exc)))
        except (Comparison.DoesNotExist, Run.DoesNotExist):
            await self.sink.send(fragments.notice("No such comparison or panel."))
        except SessionEnded:
            await self.sink.send(fragments.notice("Your session has ended; log in again."))
            await self.session_ended({})

    def _decode(self, text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
        if text_data is None:
            raise FrameError("Send JSON text frames, not binary ones.")
        limit = self.limits.max_frame_bytes
        if len(text_data) > limit or len(text_data.encode()) > limit:
            raise FrameError(f"That message is too large (the limit is {limit // 1024} KiB).")
        try:
            payload = json.loads(text_data)
        except ValueError:
            raise FrameError("That message is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise FrameError("Send a JSON object.")
        return payload

    def _check_session(self) -> None:
        """Refuse work once the login behind this socket is gone (database thread).

        Logging out and deactivation close the sockets at once (signals); this catches a
        session that expired or was deleted, so a check every half minute is enough.
        """
        now = time.monotonic()
        if now - self.session_checked_at < SESSION_RECHECK_SECONDS:
            return
        if not selectors.session_is_live(
            session_key=self.scope["session"].session_key, user_id=self.user.pk
        ):
            raise SessionEnded
        self.session_checked_at = now

    # --- actions ------------------------------------------------------------------------

    async def _compare(self, payload: dict[str, Any]) -> None:
        if self.tasks:
            raise ComparisonRefused("A comparison is still streaming: stop it or wait.")
        data = payload_to_data(payload)

        def prepare() -> StartPlan:  # one trip to the database thread
            self._check_session()
            form = CompareForm(data)
            if not form.is_valid():
                raise FrameError(form.error_text())
            request = form.compare_request()
            if request.comparison_id:
                return services.followup_prepare(
                    user=self.user, comparison_id=request.comparison_id, prompt=request.prompt
                )
            return services.comparison_prepare(user=self.user, request=request)

        plan = await database_sync_to_async(prepare)()
        await self._start(plan, followup=plan.turn.pk is not None)

    async def _retry(self, run_id: int) -> None:
        if any(panel.run_id == run_id for panel in self.tasks):
            raise ComparisonRefused("That panel is still streaming; stop it first.")

        def prepare() -> StartPlan:
            self._check_session()
            return services.retry_prepare(user=self.user, run_id=run_id)

        plan = await database_sync_to_async(prepare)()
        await self._start(plan, replaces=run_id)

    async def _start(
        self, plan: StartPlan, *, followup: bool = False, replaces: int | None = None
    ) -> None:
        """Send the upstream requests first, then write the rows while the models think."""
        panels = [self._launch(start, plan) for start in plan.starts]
        saving = asyncio.ensure_future(database_sync_to_async(services.plan_save)(plan=plan))
        saving.add_done_callback(lambda done: self._saved(done, panels))
        try:
            # Shielded: a save already under way finishes even if the socket closes now.
            await asyncio.shield(saving)
        except ComparisonRefused:
            raise
        except DatabaseError as exc:
            logger.exception("Could not save a new comparison")
            raise ComparisonRefused(
                "The comparison could not be saved (database unavailable); nothing was kept."
            ) from exc
        try:
            if replaces is not None:
                (start,) = plan.starts
                frame = fragments.render_run(start.run, controls=True, replaces=replaces, live=True)
            else:
                frame = self._board_fragment(plan, followup=followup)
            await self.sink.send(fragments.clear_notice() + frame)
        finally:
            for panel in panels:  # the rows exist: deltas may go out, results be saved
                panel.created.set()
                self.sink.panel_changed(panel, urgent=True)

    def _board_fragment(self, plan: StartPlan, *, followup: bool) -> str:
        view = fragments.turn_views([plan.turn], [start.run for start in plan.starts])[0]
        if followup:
            board = fragments.render_turn(view, controls=True, oob="beforeend:#turns")
        else:
            board = (
                '<div id="turns" hx-swap-oob="innerHTML">'
                + fragments.render_turn(view, controls=True)
                + "</div>"
            )
        comparison = plan.comparison
        return "".join(
            [
                fragments.render_board_head(comparison, live=True),
                board,
                f'<input type="hidden" id="comparison-id" name="comparison" '
                f'value="{comparison.pk}" hx-swap-oob="true" data-turn-started="{plan.turn.pk}">',
            ]
        )

    def _saved(self, saving: asyncio.Future[None], panels: list[LivePanel]) -> None:
        """When the rows of a start are written, or could not be."""
        if saving.cancelled() or saving.exception() is not None:
            for panel in panels:
                panel.discarded = True
                panel.created.set()  # releases a panel already waiting to save
                if panel in self.tasks:
                    self.tasks[panel].cancel()
        elif self.sink.closed:
            for panel in panels:  # the socket went while saving: keep what streamed
                panel.created.set()

    def _launch(self, start: PanelStart, plan: StartPlan) -> LivePanel:
        panel = LivePanel(start=start)
        task = asyncio.create_task(run_panel(panel, self.sink), name=f"run-{start.model.name}")
        self.tasks[panel] = task
        self.plans[panel] = plan
        task.add_done_callback(lambda _: self._forget(panel))
        return panel

    def _forget(self, panel: LivePanel) -> None:
        self.tasks.pop(panel, None)
        self.plans.pop(panel, None)

    async def _stop(self, panels: list[LivePanel], *, must_exist: bool = False) -> None:
        """Cancel the panels still streaming, and wait for them all to be saved."""
        tasks = [self.tasks[panel] for panel in panels if panel in self.tasks]
        streaming = [self.tasks[p] for p in panels if p in self.tasks and p.streaming]
        if must_exist and not streaming:
            raise FrameError("That panel is not streaming.")
        for task in streaming:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _panels_of(self, run_id: int) -> list[LivePanel]:
        return [panel for panel in self.tasks if panel.run_id == run_id]

    # --- frames out -----------------------------------------------------------------------

    async def _send_frame(self, frame: str) -> None:
        if not self.sink.closed:
            await self.send(text_data=frame)

    async def _close_slow(self, code: int) -> None:
        # A client that stopped reading may never answer the close frame: stop its runs now.
        await self._stop(list(self.tasks))
        await self.close(code=code)

    async def _finished_fragment(self, panel: LivePanel) -> str:
        plan = self.plans[panel]
        idle = all(p.outcome is not None for p in self.tasks)
        return await asyncio.to_thread(
            fragments.finished_frame,
            run=panel.start.run,
            turn_runs=plan.turn_runs,
            save_failed=panel.save_failed,
            idle_comparison=plan.comparison if idle else None,
        )

    async def session_ended(self, event: dict[str, Any]) -> None:
        """The user logged out or was deactivated: stop this socket's runs and close it."""
        await self._stop(list(self.tasks))
        await self.close(code=UNAUTHENTICATED_CLOSE_CODE)


def _int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise FrameError(f"Field {name!r} must be a number.")
    try:
        return int(str(value))
    except ValueError:
        raise FrameError(f"Field {name!r} must be a number.") from None
