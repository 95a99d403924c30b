"""How a backend talks to its host: one POST answered with an event stream, read lean.

Per chunk of the body: httpx's public streaming API (`Response.aiter_raw`) hands over the
bytes, `SSEDecoder` splits them into events, and the wire format's `WireParser` turns each
into our events, appended to one list; the list is then yielded event by event from this
same generator. Between the socket and the consumer a token passes two async generators of
ours (this attempt and the retry loop), whatever the wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx

from inference.backends.base import BackendError, Event, HostConfig
from inference.backends.errors import ErrorMapper, loads, read_capped
from inference.backends.pool import shared_client, timeouts
from inference.backends.retry import EventStream, Sleep, with_retries
from inference.backends.sse import ServerSentEvent, SSEDecoder

DRAIN_SECONDS = 1.0


class WireParser(Protocol):
    """One stream's reader for one wire format: server-sent events in, our events out."""

    def feed(self, sse: ServerSentEvent, out: list[Event]) -> bool:
        """Append what `sse` says to `out`; True once the stream's terminator is seen."""
        ...

    def end(self, out: list[Event]) -> None:
        """The body ended before a terminator: append the last events, or raise."""
        ...


ParserFactory = Callable[[ErrorMapper], WireParser]


async def read_events(
    parser: WireParser, events: AsyncIterable[ServerSentEvent]
) -> AsyncGenerator[Event, None]:
    """A parser's events from already-split server-sent events (tests, transcripts)."""
    out: list[Event] = []
    async for sse in events:
        try:
            done = parser.feed(sse, out)
        except BackendError:
            for event in out:
                yield event
            raise
        for event in out:
            yield event
        out.clear()
        if done:
            return
    parser.end(out)
    for event in out:
        yield event


class HttpApi:
    """How a backend talks to its host: headers, timeouts, retries, error mapping, SSE."""

    def __init__(
        self,
        config: HostConfig,
        label: str,
        headers: Mapping[str, str],
        *,
        sleep: Sleep | None = None,
    ) -> None:
        self.config = config
        self.errors = ErrorMapper(label, config.api_key)
        self._headers = {**headers, **config.extra_headers}
        self._timeout = timeouts(config)
        self._sleep = sleep

    def stream(self, url: str, body: Mapping[str, Any], parser: ParserFactory) -> EventStream:
        """POST `body` and read the SSE answer with a new `parser(errors)`, with retries."""

        def attempt(deadline: float) -> EventStream:
            return self._attempt(url, body, parser, deadline)

        return with_retries(attempt, self.config, sleep=self._sleep)

    async def get_json(self, url: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a JSON document (model listings), with the same error mapping, no retries."""
        deadline = asyncio.get_running_loop().time() + self.config.total_timeout
        async with self._open("GET", url, None, params, deadline) as response:
            try:
                async with asyncio.timeout_at(deadline):
                    body = await response.aread()
            except httpx.HTTPError as exc:
                raise self.errors.from_transport(exc, self.config, in_body=True) from None
            except TimeoutError:
                raise self.errors.total_timeout(self.config) from None
        try:
            return loads(body)
        except ValueError:
            raise self.errors.malformed(body.decode("utf-8", "replace")) from None

    async def _attempt(
        self, url: str, body: Mapping[str, Any], factory: ParserFactory, deadline: float
    ) -> EventStream:
        """One request: its events as the chunks bring them.

        httpx's read timeout bounds each silence; the total deadline is checked per chunk
        and, once it is nearer than a read timeout, enforced on the read itself.
        """
        async with self._open("POST", url, body, None, deadline) as response:
            content_type = response.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                raise await self._json_instead_of_stream(response)
            if "text/event-stream" not in content_type.partition(";")[0]:
                raise self.errors.not_event_stream(content_type)
            parser = factory(self.errors)
            decoder = SSEDecoder()
            loop = asyncio.get_running_loop()
            read_timeout = self.config.read_timeout
            out: list[Event] = []
            chunks = response.aiter_raw()
            try:
                read = chunks.__anext__
                while True:
                    remaining = deadline - loop.time()
                    try:
                        if remaining >= read_timeout:
                            chunk = await read()
                        elif remaining > 0:
                            async with asyncio.timeout(remaining):
                                chunk = await read()
                        else:
                            raise self.errors.total_timeout(self.config)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise self.errors.total_timeout(self.config) from None
                    except httpx.HTTPError as exc:
                        raise self.errors.from_transport(exc, self.config, in_body=True) from None
                    events = decoder.feed(chunk)
                    if not events:
                        continue
                    done = False
                    error: BackendError | None = None
                    try:
                        for sse in events:
                            if parser.feed(sse, out):
                                done = True
                                break
                    except BackendError as exc:
                        error = exc
                    if out:
                        batch, out = out, []
                        for event in batch:
                            yield event
                    if error is not None:
                        raise error
                    if done:
                        # Read the (empty) rest of the body, so the connection goes back to
                        # the pool instead of being closed.
                        with contextlib.suppress(httpx.HTTPError, TimeoutError):
                            async with asyncio.timeout(DRAIN_SECONDS):
                                async for _ in chunks:
                                    pass
                        return
            finally:
                if inspect.isasyncgen(chunks):  # it is one; httpx annotates it an iterator
                    await chunks.aclose()
            parser.end(out)
            for event in out:
                yield event

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
        deadline: float,
    ) -> AsyncIterator[httpx.Response]:
        client = shared_client()
        request = client.build_request(
            method, url, headers=self._headers, json=body, params=params, timeout=self._timeout
        )
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self.errors.from_transport(exc, self.config, in_body=False) from None
        except TimeoutError:
            raise self.errors.total_timeout(self.config) from None
        try:
            if response.status_code >= 400:
                try:
                    async with asyncio.timeout_at(deadline):
                        error_body = await read_capped(response)
                except (httpx.HTTPError, TimeoutError):
                    error_body = b""
                raise self.errors.from_response(
                    response.status_code, response.headers, error_body
                ) from None
            yield response
        finally:
            await response.aclose()

    async def _json_instead_of_stream(self, response: httpx.Response) -> BackendError:
        try:
            payload = loads(await read_capped(response))
        except (httpx.HTTPError, ValueError):
            payload = None
        if isinstance(payload, dict) and payload.get("error"):
            return self.errors.from_payload(payload)
        return self.errors.malformed("a JSON document instead of an event stream")


def strip_suffix(base_url: str, suffix: str) -> str:
    """`base_url` without a trailing slash or `suffix` (people paste ".../v1" for a root)."""
    base = base_url.rstrip("/")
    return base[: -len(suffix)] if base.endswith(suffix) else base
