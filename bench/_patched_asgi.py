"""What-if experiments for the relay benchmark: the playground's ASGI application with some
suggested changes patched in at start-up, so their effect can be measured before anyone
edits the project (bench/relay.py --patch NAME,NAME). Never used outside the benchmark.

    conn-max-age         persistent database connections (CONN_MAX_AGE=600, health checks)
                         instead of a new connection for every sync_to_async hop
    redis-no-read-timeout  the Redis channel layer's connections without redis-py's default
                         5 s socket timeout, which races channels_redis's 5 s BZPOPMIN
    no-dispatch-db-hop   the consumer dispatches websocket messages without channels' default
                         `aclose_old_connections()` hop onto the database thread before each
                         handler (acks and the disconnect no longer queue behind saves)
    trace                log the consumer's steps (compare, start, board, disconnect, each
                         run's end) with monotonic times to daphne's stderr, to follow a run
    lean-upstream        plain-http upstream streams read by a minimal asyncio HTTP/1.1 client
                         (keep-alive pool, chunked bodies, SSE framing) instead of httpx +
                         httpcore + anyio + httpx-sse; the backends' own parsers are unchanged.
                         A sketch to measure the cost of the client layers: no read timeout,
                         no TLS (https falls back to httpx)
"""

from __future__ import annotations

import os
from typing import Any

PATCHES = {name for name in os.environ.get("BENCH_PATCHES", "").split(",") if name}
KNOWN = {"conn-max-age", "lean-upstream", "no-dispatch-db-hop", "trace", "redis-no-read-timeout"}
if PATCHES - KNOWN:
    raise SystemExit(f"unknown patches: {sorted(PATCHES - KNOWN)}; known: {sorted(KNOWN)}")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

if "conn-max-age" in PATCHES:
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 600
    settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if "redis-no-read-timeout" in PATCHES:
    from django.conf import settings

    layer: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    if "hosts" in layer.get("CONFIG", {}):
        layer["CONFIG"]["hosts"] = [
            {"address": host, "socket_timeout": None} if isinstance(host, str) else host
            for host in layer["CONFIG"]["hosts"]
        ]

from playground.asgi import application  # noqa: E402

if "no-dispatch-db-hop" in PATCHES:
    from channels.consumer import get_handler_name

    from playground.consumers import CompareConsumer as _Consumer

    async def _dispatch(self: Any, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    _Consumer.dispatch = _dispatch  # type: ignore[method-assign]

if "trace" in PATCHES:
    import sys
    import time

    from playground import consumers as _consumers
    from playground import streaming as _streaming

    def _trace(consumer: Any, *parts: object) -> None:
        name = getattr(consumer, "channel_name", "?")[-8:]
        print(f"TRACE {time.monotonic():.3f} {name}", *parts, file=sys.stderr, flush=True)

    def _wrap(cls: Any, method: str, label: str) -> None:
        original = getattr(cls, method)

        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            detail = ""
            if args and isinstance(args[0], dict):
                detail = str(args[0].get("prompt") or args[0].get("type") or "")[:30]
            _trace(self, label, "begin", detail, f"tasks={len(getattr(self, 'tasks', {}))}")
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                _trace(self, label, "raised", repr(exc)[:120])
                raise
            _trace(self, label, "end")
            return result

        setattr(cls, method, wrapper)

    from playground import live_comparison as _live

    for _method, _label in (("_compare", "compare"), ("_start", "start"),
                            ("websocket_disconnect", "ws-disconnect"),
                            ("disconnect", "disconnect")):  # fmt: skip
        _wrap(_consumers.CompareConsumer, _method, _label)
    _wrap(_live.LiveComparison, "stop", "stop")
    _original_run_panel = _streaming.run_panel

    async def _run_panel(panel: Any, sink: Any) -> None:
        tag = panel.start.model.name
        print(f"TRACE {time.monotonic():.3f} run {tag} begin", file=sys.stderr, flush=True)
        try:
            await _original_run_panel(panel, sink)
        except BaseException as exc:
            print(f"TRACE {time.monotonic():.3f} run {tag} raised {exc!r:.120}", file=sys.stderr)
            raise
        finally:
            print(f"TRACE {time.monotonic():.3f} run {getattr(panel.start.run, 'pk', '?')} "
                  f"{tag} end status={panel.status} phase={panel.life.phase.value} "
                  f"saved={panel.outcome is not None}", file=sys.stderr, flush=True)  # fmt: skip

    setattr(_live, "run_panel", _run_panel)  # noqa: B010  # the name the live comparison calls

if "lean-upstream" in PATCHES:
    import asyncio
    import json
    from contextlib import aclosing
    from urllib.parse import urlsplit

    from httpx_sse import ServerSentEvent

    from inference.backends import http as backend_http

    _idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
    _original_attempt = backend_http.HttpApi._attempt

    async def _sse(
        reader: asyncio.StreamReader, chunked: bool, length: int | None, done: list[bool]
    ) -> Any:
        """SSE events from the body; sets done[0] when the body ended cleanly."""
        pending = ""
        data: list[str] = []
        event = ""

        def lines(text: str) -> Any:
            nonlocal data, event
            for line in text.splitlines():
                if not line:
                    if data:
                        yield ServerSentEvent(event=event or "message", data="\n".join(data))
                    data, event = [], ""
                elif line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                elif line.startswith("event:"):
                    event = line[6:].strip()

        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    done[0] = True
                    break
                block = await reader.readexactly(size + 2)
                text = pending + block[:-2].decode()
            else:
                block = await reader.read(65536)
                if not block:
                    done[0] = length is None
                    break
                text = pending + block.decode()
            cut = max(text.rfind("\n"), text.rfind("\r"))
            pending = text[cut + 1 :]
            for sse in lines(text[: cut + 1] + ("\n" if cut >= 0 else "")):
                yield sse
        for sse in lines(pending + "\n\n"):
            yield sse

    from inference.backends.api import read_events

    async def _lean_attempt(self: Any, url: str, body: Any, factory: Any, deadline: float) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "http":
            async for event in _original_attempt(self, url, body, factory, deadline):
                yield event
            return
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        pool = _idle.setdefault(key, [])
        if pool:
            stream, writer = pool.pop()
        else:
            stream, writer = await asyncio.open_connection(*key)
        payload = json.dumps(body).encode()
        head = [
            f"POST {parts.path or '/'} HTTP/1.1",
            f"host: {parts.netloc}",
            "content-type: application/json",
            "accept: text/event-stream",
            f"content-length: {len(payload)}",
            f"user-agent: {backend_http.USER_AGENT}",
        ]
        head += [f"{name}: {value}" for name, value in self._headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        reusable = False
        try:
            status_line, *header_lines = (
                (await stream.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            )
            status = int(status_line.split(" ", 2)[1])
            headers = {}
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            length = int(headers["content-length"]) if "content-length" in headers else None
            if status >= 400 or headers.get("content-type", "").startswith("application/json"):
                raw = await stream.readexactly(length) if length else await stream.read()
                if status >= 400:
                    raise self.errors.from_response(status, headers, raw)
                raise self.errors.from_payload(json.loads(raw))
            done = [False]
            body_events = _sse(stream, chunked, length, done)
            async with aclosing(read_events(factory(self.errors), body_events)) as events:
                async for event in events:
                    yield event
            async for _ in body_events:  # the rest of the body, so the connection is reused
                pass
            reusable = done[0] and headers.get("connection", "").lower() != "close"
        finally:
            if reusable:
                pool.append((stream, writer))
            else:
                writer.transport.abort()

    backend_http.HttpApi._attempt = _lean_attempt  # type: ignore[method-assign]

__all__ = ["application"]
