"""The compare websocket: thin. It validates frames, asks services to prepare starts, and
hands them to a LiveComparison, which owns the runs (never streaming inside receive, so stop
and disconnect are always heard; the runs may outlive the socket for a reattach)."""

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
from playground import fragments, remote, selectors, services
from playground.arena import blinding
from playground.arena import services as arena_services
from playground.arena.blinding import BlindView
from playground.conf import playground_settings
from playground.forms import CompareForm, FrameError, payload_to_data
from playground.hub import current_hub
from playground.live import SocketSink
from playground.live_comparison import LiveComparison
from playground.models import Comparison, Run, Turn
from playground.services import ComparisonRefused, StartPlan

logger = logging.getLogger(__name__)

UNAUTHENTICATED_CLOSE_CODE = 4401
SESSION_RECHECK_SECONDS = 30.0


class SessionEnded(Exception):
    """The user behind a socket logged out, was deactivated, or their session expired."""


def user_group(user_id: int) -> str:
    """Every socket of one user, so logging out can close them all."""
    return f"user-{user_id}"


class CompareConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One browser tab: translates its frames into calls on live comparisons, and back."""

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
        self.hub = current_hub()
        await self.hub.ensure_started()
        # The comparison this tab follows (it may outlive the socket: see LiveComparison).
        self.live: LiveComparison | None = None
        self.remote: int | None = None  # or a comparison streaming in another process
        # A start (validate, prepare, save) runs beside the socket's message loop, so a stop
        # or a closed tab is heard at once even while the database is slow.
        self.starting: asyncio.Task[None] | None = None
        self.session_checked_at = -SESSION_RECHECK_SECONDS
        self.group = user_group(user.pk)
        self.sink = SocketSink(
            send=self._send_frame,
            close=self._close_slow,
            window=self.limits.coalesce_seconds,
            ack_window=self.limits.ack_window_frames,
            slow_client_seconds=self.limits.slow_client_seconds,
        )
        self.session_watch = asyncio.create_task(self._watch_session(), name="session-watch")
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "sink"):
            return
        self.sink.closed = True  # nothing more can be sent
        self.session_watch.cancel()
        if self.starting is not None:
            self.starting.cancel()
            await asyncio.gather(self.starting, return_exceptions=True)
        await self._unfollow()  # the runs go on for the reattach grace
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
            run_id = _int(payload.get("run"), "run")
            if self.remote is not None:
                await remote.stop(self.channel_layer, self.remote, self.user.pk, run_id)
            elif self.live is None or not self.live.is_streaming(run_id):
                raise FrameError("That panel is not streaming.")
            else:
                await self.live.stop(run_id)
        elif action == "stop_all":
            if self.remote is not None:
                await remote.stop(self.channel_layer, self.remote, self.user.pk, None)
            elif self.live is not None:
                await self.live.stop()
        elif action in ("compare", "retry", "attach"):
            if self.starting is not None and not self.starting.done():
                raise ComparisonRefused("Still starting the previous request; a moment please.")
            if action == "compare":
                work = self._compare(payload)
            elif action == "retry":
                work = self._retry(_int(payload.get("run"), "run"))
            else:
                work = self._attach(_int(payload.get("comparison"), "comparison"))
            self.starting = asyncio.create_task(self._answering(work))
        else:
            raise FrameError(f"Unknown action {str(action)[:40]!r}.")

    async def _answering(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work`; a refusal, a bad request or a fault becomes a notice in the page."""
        try:
            await work
        except (FrameError, ComparisonRefused, UnknownModelError, ModelUnavailableError) as exc:
            await self.sink.send(fragments.notice(str(exc)))
        except (Comparison.DoesNotExist, Run.DoesNotExist):
            await self.sink.send(fragments.notice("No such comparison or panel."))
        except SessionEnded:
            await self.sink.send(fragments.notice("Your session has ended; log in again."))
            await self.session_ended({})
        except asyncio.CancelledError:
            raise
        except Exception:
            # Never a crashed consumer: its runs would be orphaned with it.
            logger.exception("Could not handle a websocket message")
            await self.sink.send(
                fragments.notice("Something went wrong handling that request (logged).")
            )

    def _decode(self, text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
        if text_data is None:
            raise FrameError("Send JSON text frames, not binary ones.")
        limit = self.limits.max_frame_bytes
        if len(text_data) > limit or len(text_data.encode()) > limit:
            size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
            raise FrameError(
                f"That message is too large (the limit is {size}): shorten the prompt "
                "or the system prompt."
            )
        try:
            payload = json.loads(text_data)
        except RecursionError:
            raise FrameError("That message is too deeply nested.") from None
        except ValueError:
            raise FrameError("That message is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise FrameError("Send a JSON object.")
        return payload

    def _check_session(self, *, force: bool = False) -> None:
        """Refuse work once the login behind this socket is gone (database thread).

        Logging out and deactivation close the sockets at once (signals), and a watcher
        rechecks every half minute, so a start need not ask more often than that.
        """
        now = time.monotonic()
        if not force and now - self.session_checked_at < SESSION_RECHECK_SECONDS:
            return
        if not selectors.session_is_live(
            session_key=self.scope["session"].session_key, user_id=self.user.pk
        ):
            raise SessionEnded
        self.session_checked_at = now

    async def _watch_session(self) -> None:
        """Close the socket within the recheck interval once its login is gone."""
        while True:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            await self.session_recheck({})

    async def session_recheck(self, event: dict[str, Any]) -> None:
        """Check the login now (a password change or a logout elsewhere asks for this)."""
        try:
            await database_sync_to_async(self._check_session)(force=True)
        except SessionEnded:
            await self.session_ended({})
        except DatabaseError:
            logger.warning("Could not recheck a websocket's session", exc_info=True)

    # --- actions ------------------------------------------------------------------------

    async def _compare(self, payload: dict[str, Any]) -> None:
        if self.live is not None and self.live.streaming:
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
            if request.blind:
                return arena_services.battle_prepare(user=self.user, request=request)
            return services.comparison_prepare(user=self.user, request=request)

        plan = await database_sync_to_async(prepare)()
        await self._start(plan, followup=plan.turn.index > 0)

    async def _retry(self, run_id: int) -> None:
        if self.live is not None and self.live.is_streaming(run_id):
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
        live = self.hub.live_for(comparison_id=plan.comparison.pk, owner_id=self.user.pk)
        panels = live.launch(plan)
        saving = asyncio.ensure_future(database_sync_to_async(services.plan_save)(plan=plan))
        saving.add_done_callback(
            lambda done: live.rows_saved(
                plan, panels, saved=not done.cancelled() and done.exception() is None
            )
        )
        try:
            # Shielded: a save already under way finishes even if the socket closes now.
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            # The tab went while the rows were written: the runs follow the grace rule.
            saving.add_done_callback(lambda _: live.released(panels))
            live.arm_grace()
            raise
        except ComparisonRefused:
            raise
        except DatabaseError as exc:
            logger.exception("Could not save a new comparison")
            raise ComparisonRefused(
                "The comparison could not be saved (database unavailable); nothing was kept."
            ) from exc
        await self._follow(live)
        try:
            if replaces is not None:
                (start,) = plan.starts
                frame = fragments.render_run(
                    start.run, controls=True, replaces=replaces, live=True, blind=plan.blind
                )
            else:
                frame = self._board_fragment(plan, followup=followup)
            # A battle's vote waits for its new answers.
            vote_bar = fragments.render_vote_bar(plan.blind, ready=False)
            await self.sink.send(fragments.clear_notice() + frame + vote_bar)
        finally:
            live.released(panels)  # the board is out: deltas may follow, results be saved

    async def _attach(self, comparison_id: int) -> None:
        """A page opened on a comparison (a reload, another tab): show it as it is now and
        follow its runs that still stream here."""

        def read() -> tuple[Comparison, list[Turn], list[Run], BlindView | None]:
            self._check_session()
            board = selectors.comparison_board(comparison_id=comparison_id, owner_id=self.user.pk)
            return (*board, blinding.blind_view(comparison_id=comparison_id))

        comparison, turns, runs, blind = await database_sync_to_async(read)()
        live = self.hub.get(comparison_id)
        if live is not None and live.owner_id == self.user.pk:
            if self.live is not live:
                await self._unfollow()
                self.live = live
            await live.show_and_follow(comparison, turns, runs, self.sink)
            return
        # Not streaming here: show it as saved; if it streams in another process, that
        # process sends its live board and deltas through the channel layer.
        frame = await asyncio.to_thread(
            fragments.board_snapshot, comparison, turns, runs, False, blind
        )
        await self.sink.send(frame)
        if self.hub.crosses_processes and any(not run.is_final for run in runs):
            await self._unfollow()
            self.remote = comparison_id
            await remote.attach(self.channel_layer, comparison_id, self.user.pk, self.channel_name)

    async def _unfollow(self) -> None:
        if self.live is not None:
            await self.live.detach(self.sink)
            self.live = None
        if self.remote is not None:
            await remote.detach(self.channel_layer, self.remote, self.channel_name)
            self.remote = None

    async def _follow(self, live: LiveComparison) -> None:
        """This tab now follows `live` (and no longer the comparison it followed before)."""
        if self.live is not live:
            await self._unfollow()
            self.live = live
        live.attach(self.sink)

    def _board_fragment(self, plan: StartPlan, *, followup: bool) -> str:
        runs = [start.run for start in plan.starts]
        view = fragments.turn_views([plan.turn], runs, blind=plan.blind)[0]
        if followup:
            # htmx appends the oob element's children: the wrapper carries the new turn.
            board = (
                '<div hx-swap-oob="beforeend:#turns">'
                + fragments.render_turn(view, controls=True)
                + "</div>"
            )
        else:
            board = (
                '<div id="turns" hx-swap-oob="innerHTML">'
                + fragments.render_turn(view, controls=True)
                + "</div>"
            )
        comparison = plan.comparison
        return "".join(
            [
                fragments.render_board_head(comparison, live=True, blind=plan.blind),
                board,
                f'<input type="hidden" id="comparison-id" name="comparison" '
                f'value="{comparison.pk}" hx-swap-oob="true" data-turn-started="{plan.turn.pk}">',
            ]
        )

    # --- frames out -----------------------------------------------------------------------

    async def _send_frame(self, frame: str) -> None:
        if not self.sink.closed:
            await self.send(text_data=frame)

    async def _close_slow(self, code: int) -> None:
        # A client that stopped reading may never answer the close frame: detach it now.
        if self.live is not None:
            await self.live.detach(self.sink)
        await self.close(code=code)

    async def live_frame(self, event: dict[str, Any]) -> None:
        """A frame of a comparison this tab follows in another process."""
        if self.remote is not None and event.get("comparison") == self.remote:
            await self.sink.send(str(event.get("text", "")))

    async def session_ended(self, event: dict[str, Any]) -> None:
        """The user logged out or was deactivated: stop this tab's runs and close it."""
        self.sink.closed = True
        if self.live is not None:
            await self.live.stop()
        await self._unfollow()
        await self.close(code=UNAUTHENTICATED_CLOSE_CODE)


def _int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise FrameError(f"Field {name!r} must be a number.")
    try:
        return int(str(value))
    except ValueError:
        raise FrameError(f"Field {name!r} must be a number.") from None
