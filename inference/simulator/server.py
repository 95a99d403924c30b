"""The simulator's server: raw asyncio HTTP/1.1 on loopback (keep-alive, chunked streams,
content-length bodies), routing each request to its wire, scripted timing and faults, and a
record of every request."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .listing import listing
from .request import Request, key_of, messages, read_request, texts
from .response import END, chunk, json_response, response_head, stream_head
from .scenario import MODELS, PRE_STREAM_FAULTS, RequestRecord, Scenario
from .wires import WIRES, Wire, make_plan


class Simulator:
    """A loopback HTTP/1.1 server speaking the three streaming wire formats on one port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Scenario | None = None
    ) -> None:
        self._host = host
        self._port = port
        self.default = default or Scenario()
        self._scenarios: dict[str, Scenario] = {}
        self._fault_counts: dict[str, int] = {}
        self._records: list[RequestRecord] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    # -- configuration and inspection (any thread) --

    def set(self, model: str, scenario: Scenario) -> None:
        """Answer requests naming `model` with `scenario` (others get the default)."""
        with self._lock:
            self._scenarios[model] = scenario
            self._fault_counts.pop(model, None)

    def reset(self) -> None:
        """Forget scenarios, fault counters and recorded requests."""
        with self._lock:
            self._scenarios.clear()
            self._fault_counts.clear()
            self._records.clear()

    @property
    def port(self) -> int:
        """The listening port (known once serving)."""
        return self._port

    @property
    def base_url(self) -> str:
        """http://HOST:PORT"""
        return f"http://{self._host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for an OpenAI-compatible host (ends in /v1)."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the Anthropic API (the root)."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for the Gemini API (the root)."""
        return self.base_url

    @property
    def models(self) -> list[str]:
        """The model names the listings return."""
        with self._lock:
            return sorted(set(MODELS) | set(self._scenarios))

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests received so far."""
        with self._lock:
            return [dataclasses.replace(record) for record in self._records]

    def stats(self, since: int = 0) -> dict[str, Any]:
        """Counts of the requests so far, and the timings of those after request id `since`.

        Served as JSON at GET /_stats?since=N, for a simulator in another process (the relay
        benchmark). Times are `time.monotonic()` seconds, comparable across processes on one
        machine; `prompt` is the start of the request's last message (a tag to match it by).
        """
        with self._lock:
            records = [r for r in self._records if r.wire != "models"]
            rows = [
                {
                    "id": r.id,
                    "wire": r.wire,
                    "model": r.model,
                    "prompt": next(reversed(list(texts(messages(r.body)))), "")[:100],
                    "started": r.started,
                    "first_byte": r.first_byte,
                    "ended": r.ended,
                    "completed": r.completed,
                    "disconnected": r.disconnected,
                }
                for r in records
                if r.id > since
            ]
            return {
                "now": time.monotonic(),
                "requests": len(records),
                "open": sum(1 for r in records if r.ended is None),
                "completed": sum(1 for r in records if r.completed),
                "disconnected": sum(1 for r in records if r.disconnected),
                "records": rows,
            }

    def wait_for(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 5.0
    ) -> bool:
        """Poll until `predicate(requests)` holds; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self.requests):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    # -- running --

    async def serve(self) -> None:
        """Serve in the running loop until `stop()`."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self._host, self._port, backlog=2048)
        self._port = server.sockets[0].getsockname()[1]
        self._listening.set()
        try:
            await self._stop.wait()
        finally:
            self._listening.clear()
            server.close()
            for writer, task in list(self._connections.items()):
                writer.transport.abort()
                task.cancel()
            await asyncio.gather(*self._connections.values(), return_exceptions=True)
            await server.wait_closed()

    def start_in_thread(self) -> Simulator:
        """Serve from a daemon thread with its own loop; returns once listening."""

        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # reported to start_in_thread's caller
                self._thread_error = exc
                self._listening.set()

        self._thread = threading.Thread(target=run, name="upstream-simulator", daemon=True)
        self._thread.start()
        if not self._listening.wait(timeout=10) or self._thread_error is not None:
            raise RuntimeError(f"the simulator did not start: {self._thread_error!r}")
        return self

    def stop(self) -> None:
        """Stop serving (from any thread) and close every connection."""
        loop, stop = self._loop, self._stop
        if loop is None or stop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stop.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # -- one connection --

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while True:
                request = await read_request(reader)
                if request is None or not await self._respond(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly spares asyncio's stream
            # callback (3.11) from logging the cancelled task as an error.
            pass
        except ValueError:  # a request we cannot parse
            with contextlib.suppress(ConnectionError):
                writer.write(json_response(400, {"error": {"message": "malformed request"}}))
        finally:
            self._connections.pop(writer, None)
            writer.close()

    def _scenario(self, model: str) -> Scenario:
        with self._lock:
            return self._scenarios.get(model, self.default)

    def _take_fault(self, model: str, scenario: Scenario) -> bool:
        with self._lock:
            count = self._fault_counts.get(model, 0)
            if scenario.fault_count >= 0 and count >= scenario.fault_count:
                return False
            self._fault_counts[model] = count + 1
            return True

    def _record(
        self, wire: str, model: str, path: str, request: Request, body: Any
    ) -> RequestRecord:
        record = RequestRecord(
            id=next(self._ids),
            wire=wire,
            model=model,
            path=path,
            headers=dict(request.headers),
            body=body if isinstance(body, dict) else {},
            started=time.monotonic(),
        )
        with self._lock:
            self._records.append(record)
        return record

    def _finish(self, record: RequestRecord, *, completed: bool, disconnected: bool) -> None:
        """Mark the record ended, once. Called before a response's last write, so a client
        that has read the whole response always finds its record complete."""
        with self._lock:
            if record.ended is not None:
                return
            record.ended = time.monotonic()
            record.completed = completed
            record.disconnected = disconnected

    async def _respond(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        url = urlsplit(request.target)
        path, query = url.path, dict(parse_qsl(url.query))
        keep_alive = request.headers.get("connection", "").lower() != "close"
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            writer.write(json_response(400, {"error": {"message": "invalid JSON body"}}))
            return keep_alive

        if request.method == "GET" and path == "/_stats":
            writer.write(json_response(200, self.stats(since=int(query.get("since") or 0))))
            return keep_alive

        if request.method == "GET" and path in ("/v1/models", "/v1beta/models"):
            record = self._record("models", "", path, request, body)
            self._finish(record, completed=True, disconnected=False)
            writer.write(json_response(200, listing(self.models, path, request.headers, query)))
            return keep_alive

        wire, model = self._route(request.method, path, body)
        if wire is None or (wire == "gemini" and query.get("alt") != "sse"):
            error = {"message": f"no route for {request.method} {path} (alt=sse is required)"}
            writer.write(json_response(404, {"error": error}))
            return keep_alive

        record = self._record(wire, model, path, request, body)
        scenario = self._scenario(model)
        if scenario.raw is not None:
            return await self._send_raw(record, scenario, reader, writer) and keep_alive
        wire_type = WIRES[wire]
        fault = scenario.fault
        if fault in PRE_STREAM_FAULTS and fault and self._take_fault(model, scenario):
            status, payload = wire_type.error(fault, scenario, key_of(request.headers, query))
            extra = {}
            # Gemini gives no retry-after header on 429 but a RetryInfo in the body
            # (https://ai.google.dev/gemini-api/docs/troubleshooting).
            gemini_429 = wire == "gemini" and status == 429
            if scenario.retry_after is not None and status in (429, 503, 529) and not gemini_429:
                extra["retry-after"] = f"{scenario.retry_after:g}"
            self._finish(record, completed=True, disconnected=False)
            writer.write(json_response(status, payload, extra))
            return keep_alive
        stream = wire_type(make_plan(scenario, body), model, record.id, body)
        writer.write(stream_head() + chunk(stream.head()))
        ok = await self._watch(record, reader, self._write_stream(record, scenario, stream, writer))
        return ok and keep_alive

    @staticmethod
    def _route(method: str, path: str, body: Any) -> tuple[str | None, str]:
        if method != "POST":
            return None, ""
        model = body.get("model", "") if isinstance(body, dict) else ""
        if path == "/v1/chat/completions":
            return "openai", str(model)
        if path == "/v1/messages":
            return "anthropic", str(model)
        prefix, suffix = "/v1beta/models/", ":streamGenerateContent"
        if path.startswith(prefix) and path.endswith(suffix):
            return "gemini", path[len(prefix) : -len(suffix)]
        return None, ""

    async def _watch(
        self,
        record: RequestRecord,
        reader: asyncio.StreamReader,
        writing: Coroutine[Any, Any, str],
    ) -> bool:
        """Run the writing coroutine while watching the client: a read during a response only
        returns at EOF (HTTP/1.1 clients do not pipeline), which means the client left."""
        writer_task = asyncio.ensure_future(writing)
        eof_task = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait({writer_task, eof_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer_task, eof_task):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                        await task
            if eof_task.done() and not eof_task.cancelled():
                eof_task.exception()  # a reset while watching: retrieved, so never logged
        if writer_task.done() and not writer_task.cancelled():
            error = writer_task.exception()
            if error is None:
                outcome: str = writer_task.result()
                self._finish(record, completed=outcome == "completed", disconnected=False)
                return outcome == "completed"
            if not isinstance(error, ConnectionError):
                raise error
        self._finish(record, completed=False, disconnected=True)
        return False

    def _first_byte(self, record: RequestRecord) -> None:
        with self._lock:
            record.first_byte = time.monotonic()

    async def _write_stream(
        self, record: RequestRecord, scenario: Scenario, stream: Wire, writer: asyncio.StreamWriter
    ) -> str:
        """Write the pieces on schedule; "completed", or "dropped" when the fault aborts."""
        loop = asyncio.get_running_loop()
        write = writer.write
        plan = stream.plan
        fault = scenario.fault if scenario.fault not in PRE_STREAM_FAULTS else None
        fault_at = scenario.fault_after if fault is not None else -1
        start = loop.time() + scenario.ttft
        interval = scenario.interval
        sent = 0
        for piece in plan.reasoning:
            delay = start + sent * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            write(chunk(stream.reasoning(piece)))
            if not sent:
                self._first_byte(record)
            sent += 1
            await writer.drain()
        last_index = len(plan.text) - 1 if fault in (None, "malformed") else -1
        for index, piece in enumerate(plan.text):
            delay = start + sent * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if index == fault_at:
                if fault != "malformed":
                    return await self._fault(fault, record, stream, writer)
                write(chunk(stream.malformed()))
            write(chunk(stream.text(piece, index == last_index)))
            if not sent:
                self._first_byte(record)
            sent += 1
            await writer.drain()
        if fault is not None and fault_at >= len(plan.text):
            if fault != "malformed":
                return await self._fault(fault, record, stream, writer)
            write(chunk(stream.malformed()))
        self._finish(record, completed=True, disconnected=False)
        write(chunk(stream.tail()) + END)
        await writer.drain()
        return "completed"

    async def _fault(
        self, fault: str | None, record: RequestRecord, stream: Wire, writer: asyncio.StreamWriter
    ) -> str:
        if fault == "stall":
            await asyncio.get_running_loop().create_future()  # until the client leaves
        if fault == "drop":
            self._finish(record, completed=False, disconnected=False)
            writer.transport.abort()
            return "dropped"
        self._finish(record, completed=True, disconnected=False)
        if fault == "error_event":
            writer.write(chunk(stream.error_event()) + END)
        elif fault == "truncate":
            writer.write(END)  # a clean end of the body, without the terminator
        await writer.drain()
        return "completed"

    async def _send_raw(
        self,
        record: RequestRecord,
        scenario: Scenario,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        raw = scenario.raw or b""
        if scenario.raw_status != 200 or scenario.raw_content_type != "text/event-stream":
            content_type = scenario.raw_content_type
            if content_type == "text/event-stream":
                content_type = "application/json"  # an error status carries a JSON body
            extra = {"content-type": content_type, "content-length": str(len(raw))}
            if scenario.retry_after is not None:
                extra["retry-after"] = f"{scenario.retry_after:g}"
            self._finish(record, completed=True, disconnected=False)
            writer.write(response_head(scenario.raw_status, extra) + raw)
            return True

        async def write_raw() -> str:
            size = scenario.raw_chunk_size or len(raw) or 1
            if scenario.ttft:
                await asyncio.sleep(scenario.ttft)
            for offset in range(0, len(raw), size):
                if offset and scenario.interval:
                    await asyncio.sleep(scenario.interval)
                writer.write(chunk(raw[offset : offset + size]))
                if not offset:
                    self._first_byte(record)
                await writer.drain()
            self._finish(record, completed=True, disconnected=False)
            writer.write(END)
            await writer.drain()
            return "completed"

        writer.write(stream_head())
        return await self._watch(record, reader, write_raw())
