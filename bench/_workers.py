"""The processes of the relay benchmark, each run by bench/relay.py as its own process:

    python bench/_workers.py sim     the upstream simulator, one distinct text per model
    python bench/_workers.py relay   K websocket clients of the playground (log in, compare, ack)
    python bench/_workers.py direct  the control: the same streams read straight from the simulator

A worker reads a JSON plan as its first stdin line, then one JSON command per line, and
answers each with one JSON line on stdout (logs go to stderr). Parsing is lean on purpose
(regular expressions on frames, raw asyncio HTTP for the control) so that the clients are
never what is being measured. All times are time.monotonic() seconds, which on Linux is one
clock for every process of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference.simulator import split_pieces  # noqa: E402

# --- what the simulator says, per model --------------------------------------------------------

# Words that exercise escaping (HTML, quotes, Markdown), non-ASCII text and newlines.
VOCABULARY = (
    "relay", "token", "stream", "panel", "model", "answer", "the", "of", "and", "a",
    "<b>bold</b>", "a&b", "&amp;", "x<y>z", '"quoted"', "it's", "naïve", "café", "→",
    "🙂", "世界", "**strong**", "`code`", "<script>alert(1)</script>", "{json:1}", "\\back",
    "#", "-", "1.", "|cell|",
)  # fmt: skip
WARM_MODEL = "warm"  # a short answer for the warm-up, so start-up costs are not measured


def model_name(index: int) -> str:
    """The simulator's name of model `index`; the playground calls it sim:<name>."""
    return f"m{index}"


def expected_text(model: str, tokens: int) -> str:
    """The text the simulator streams for `model`: deterministic, distinct per model, `tokens`
    word pieces long (so its token count is exactly `tokens`)."""
    rng = random.Random(f"relay-bench:{model}")
    words = [f"[{model}]"] + [rng.choice(VOCABULARY) for _ in range(max(tokens - 1, 0))]
    out = [words[0]]
    for word in words[1:]:
        out.append("\n" if rng.random() < 0.05 else " ")
        out.append(word)
    text = "".join(out)
    assert len(split_pieces(text)) == tokens or tokens == 0
    return text


def piece_ends(text: str) -> list[int]:
    """The character offset at which each token of `text` is complete."""
    ends, total = [], 0
    for piece in split_pieces(text):
        total += len(piece)
        ends.append(total)
    return ends


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank on sorted values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def read_command() -> dict[str, Any]:
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        return {"cmd": "quit"}
    command: dict[str, Any] = json.loads(line)
    return command


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# --- per-stream bookkeeping shared by both kinds of client ------------------------------------


@dataclass
class Meter:
    """Token arrival statistics of one phase, over the steady window [w0, w1]."""

    w0: float = 0.0
    w1: float = float("inf")
    ttft_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    tokens: int = 0
    tokens_in_window: int = 0
    streams: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    lost_chars: int = 0  # characters missing, extra or out of place, against the expected text
    bad_streams: int = 0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(message[:300])
            log("error:", message[:300])

    def check(self, label: str, got: str, expected: str, *, complete: bool) -> None:
        """`got` must equal `expected` (complete) or be a prefix of it (stopped part-way)."""
        if got == expected or (not complete and expected.startswith(got)):
            return
        common = 0
        for a, b in zip(got, expected, strict=False):
            if a != b:
                break
            common += 1
        wrong = len(got) - common + (len(expected) - common if complete else 0)
        self.lost_chars += wrong
        self.bad_streams += 1
        self.error(f"{label}: text differs at char {common}: got {got[common : common + 40]!r}")

    def report(self) -> dict[str, Any]:
        return {
            "ttft_ms": [round(v, 3) for v in self.ttft_ms],
            "gaps": summary(self.gaps_ms),
            "gap_p50_ms": percentile(self.gaps_ms, 50),
            "gap_p99_ms": percentile(self.gaps_ms, 99),
            "tokens": self.tokens,
            "tokens_in_window": self.tokens_in_window,
            "streams": self.streams,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "lost_chars": self.lost_chars,
            "bad_streams": self.bad_streams,
        }


@dataclass
class Track:
    """One stream as a client sees it: the text so far and when each token came."""

    meter: Meter
    sent: float
    expected: str
    ends: list[int]
    count_ttft: bool
    chars: int = 0
    next_token: int = 0
    last_token_at: float | None = None
    first_at: float | None = None

    def arrived(self, chars: int, now: float) -> None:
        """`chars` more characters arrived at `now`: note the tokens they complete."""
        meter = self.meter
        if self.first_at is None and chars:
            self.first_at = now
            if self.count_ttft:
                meter.ttft_ms.append((now - self.sent) * 1000)
        self.chars += chars
        ends, index = self.ends, self.next_token
        in_window = meter.w0 <= now <= meter.w1
        while index < len(ends) and ends[index] <= self.chars:
            if self.last_token_at is not None and in_window:
                meter.gaps_ms.append((now - self.last_token_at) * 1000)
            self.last_token_at = now
            index += 1
            meter.tokens += 1
            if in_window:
                meter.tokens_in_window += 1
        self.next_token = index


# --- the simulator process ---------------------------------------------------------------------


def run_simulator(plan: dict[str, Any]) -> None:
    from inference.simulator import Scenario, Simulator

    tokens, ttft, interval = plan["tokens"], plan["ttft"], plan["interval"]
    simulator = Simulator("127.0.0.1", 0)
    for index in range(plan["models"]):
        name = model_name(index)
        simulator.set(
            name, Scenario(text=expected_text(name, tokens), ttft=ttft, interval=interval)
        )
    simulator.set(WARM_MODEL, Scenario(text=expected_text(WARM_MODEL, 8)))

    async def serve() -> None:
        serving = asyncio.ensure_future(simulator.serve())
        await asyncio.to_thread(simulator._listening.wait, 10)
        reply({"event": "listening", "port": simulator.port})
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


# --- the websocket clients (relayed) ------------------------------------------------------------

DELTA = re.compile(r'<span hx-swap-oob="beforeend:#([tr])-(\d+)">(.*?)</span>', re.S)
BOARD = re.compile(r'<article class="panel [^"]*" id="run-(\d+)" data-position="\d+" '
                   r'data-model="([^"]+)"')  # fmt: skip
FINAL = re.compile(
    r'<article class="panel status-(\w+)" id="run-(\d+)" data-position.*?'
    r'<textarea class="raw"[^>]*>(.*?)</textarea>',
    re.S,
)
NOTICE = re.compile(r'<div id="notice" class="notice notice-error"[^>]*>(.*?)</div>', re.S)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ACK_EVERY = 8


@dataclass
class RelayRun:
    track: Track
    model: str
    streamed: list[str] = field(default_factory=list)
    final_at: float | None = None
    status: str = ""


@dataclass
class RelayComparison:
    tag: str
    sent: float
    runs: dict[int, RelayRun] = field(default_factory=dict)
    board: bool = False
    board_at: float | None = None
    finals: int = 0
    failed: bool = False

    @property
    def done(self) -> bool:
        return self.failed or (self.board and self.finals == len(self.runs))


class RelayClient:
    """One browser tab: a logged-in session and a websocket speaking the page's protocol."""

    def __init__(self, worker: RelayWorker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.cookie = ""
        self.ws: Any = None
        self.frames = 0
        self.acked = 0
        self.current: RelayComparison | None = None
        self.meter = Meter()
        self.count = False
        self.closed_at: float | None = None
        self.open_tag = ""
        self.finals: list[dict[str, Any]] = []

    async def login(self, http: Any, username: str, password: str) -> None:
        base = self.worker.base_url
        page = await http.get(f"{base}/accounts/login/")
        token = CSRF.search(page.text)
        if page.status_code != 200 or token is None:
            raise RuntimeError(f"login page: HTTP {page.status_code}")
        response = await http.post(
            f"{base}/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"referer": f"{base}/accounts/login/"},
        )
        session = http.cookies.get("sessionid")
        if response.status_code != 302 or not session:
            raise RuntimeError(f"login as {username} failed: HTTP {response.status_code}")
        self.cookie = f"sessionid={session}"

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        worker = self.worker
        self.ws = await connect(
            worker.ws_url,
            additional_headers={"Origin": worker.base_url, "Cookie": self.cookie},
            compression=None,
            max_size=None,
            open_timeout=30,
            close_timeout=5,
            ping_interval=None,
        )
        self.frames = self.acked = 0

    def payload(self, tag: str, models: list[str]) -> str:
        return json.dumps(
            {
                "action": "compare",
                "prompt": tag,
                "models": models,
                "same_settings": "on",
                "max_tokens": str(self.worker.max_tokens),
                "HEADERS": {"HX-Request": "true"},
            }
        )

    async def compare(self, tag: str, models: list[str], meter: Meter, *, count: bool) -> None:
        """Send one comparison and read until every panel's final panel has come."""
        comparison = RelayComparison(tag=tag, sent=time.monotonic())
        self.current = comparison
        self.meter = meter
        self.count = count
        await self.ws.send(self.payload(tag, models))
        comparison.sent = time.monotonic()
        recv = self.ws.recv
        while not comparison.done:
            frame = await recv()
            await self.on_frame(frame, time.monotonic())
        if comparison.failed:
            await asyncio.sleep(0.2)  # a refused comparison: do not spin
        self.current = None

    async def on_frame(self, frame: str, now: float) -> None:
        self.frames += 1
        if self.frames - self.acked >= ACK_EVERY:
            self.acked = self.frames
            await self.ws.send(f'{{"action": "ack", "frames": {self.frames}}}')
        comparison, meter = self.current, self.meter
        if comparison is None:
            return
        if not comparison.board:
            found = BOARD.findall(frame)
            if found:
                comparison.board = True
                comparison.board_at = now
                worker = self.worker
                for run_id, model in found:
                    expected = worker.expected[model]
                    track = Track(meter, comparison.sent, expected, worker.ends[model], self.count)
                    comparison.runs[int(run_id)] = RelayRun(track=track, model=model)
                    meter.streams += 1
                return
        if "notice-error" in frame:
            for message in NOTICE.findall(frame):
                meter.error(f"{comparison.tag}: notice {html.unescape(message)!r}")
                if not comparison.board:
                    comparison.failed = True
        if "beforeend:#" in frame:
            runs = comparison.runs
            for kind, run_id, escaped in DELTA.findall(frame):
                run = runs.get(int(run_id))
                if run is None:
                    meter.error(f"{comparison.tag}: a delta for unknown run {run_id}")
                    continue
                text = html.unescape(escaped) if "&" in escaped else escaped
                if kind != "t":
                    meter.error(f"{comparison.tag}: unexpected reasoning text")
                    continue
                if run.final_at is not None:  # a browser would append it to the final answer
                    meter.lost_chars += len(text)
                    meter.error(f"{comparison.tag}: {len(text)} chars after the final panel")
                    continue
                run.streamed.append(text)
                run.track.arrived(len(text), now)
        if '<textarea class="raw"' in frame:
            for status, run_id, escaped in FINAL.findall(frame):
                run = comparison.runs.get(int(run_id))
                if run is None or run.final_at is not None:
                    meter.error(f"{comparison.tag}: unexpected final panel for run {run_id}")
                    continue
                self.on_final(comparison, run, status, html.unescape(escaped), now)

    def on_final(
        self, comparison: RelayComparison, run: RelayRun, status: str, text: str, now: float
    ) -> None:
        meter, track = self.meter, run.track
        run.final_at, run.status = now, status
        comparison.finals += 1
        streamed = "".join(run.streamed)
        label = f"{comparison.tag} {run.model}"
        if not text.startswith(streamed):
            meter.check(f"{label} (streamed deltas)", streamed, track.expected, complete=False)
        if status != "done":
            meter.error(f"{label}: ended {status}")
        meter.check(label, text, track.expected, complete=status == "done")
        track.arrived(max(len(text) - track.chars, 0), now)  # the rest came with the panel
        if self.count:
            self.finals.append(
                {
                    "tag": comparison.tag,
                    "model": run.model,
                    "sent": comparison.sent,
                    "board": comparison.board_at,
                    "first": track.first_at,
                    "at": now,
                }
            )

    def stopped_part_way(self) -> None:
        """The socket closed mid-comparison: what streamed must still be a prefix."""
        comparison = self.current
        if comparison is None:
            return
        self.open_tag = comparison.tag
        for run in comparison.runs.values():
            if run.final_at is None:
                streamed = "".join(run.streamed)
                self.meter.check(
                    f"{comparison.tag} {run.model} (stopped)",
                    streamed,
                    run.track.expected,
                    complete=False,
                )
        self.current = None

    async def steady(
        self, start: float, close: float, meter: Meter, window: tuple[float, float]
    ) -> None:
        """Comparisons back to back from `start` until the socket closes at `close`; the TTFT
        of those sent within `window` counts."""
        await sleep_until(start)
        number = 0
        try:
            async with asyncio.timeout_at(close):
                while True:
                    tag = f"relay c{self.index} n{number}"
                    count = window[0] <= time.monotonic() <= window[1]
                    await self.compare(tag, self.worker.models, meter, count=count)
                    number += 1
        except TimeoutError:
            pass
        except Exception as exc:  # the socket broke: an error, and this client stops
            meter.error(f"client {self.index}: {exc!r}")
        self.closed_at = time.monotonic()
        self.stopped_part_way()
        with contextlib.suppress(Exception):
            await self.ws.close(code=1001)


class RelayWorker:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.base_url = plan["base_url"]
        self.ws_url = self.base_url.replace("http://", "ws://") + "/ws/compare/"
        self.models = [f"sim:{model_name(i)}" for i in range(plan["models"])]
        self.max_tokens = max(512, plan["tokens"] + 16)
        self.expected = {
            f"sim:{model_name(i)}": expected_text(model_name(i), plan["tokens"])
            for i in range(plan["models"])
        }
        self.expected[f"sim:{WARM_MODEL}"] = expected_text(WARM_MODEL, 8)
        self.ends = {name: piece_ends(text) for name, text in self.expected.items()}
        self.clients = [RelayClient(self, index) for index in range(plan["clients"])]
        self.logout_http: Any = None
        self.logout_sockets: list[Any] = []

    async def prepare(self, *, login: bool) -> None:
        import httpx

        if login:
            gate = asyncio.Semaphore(4)  # logins are serial in the server anyway

            async def one(client: RelayClient) -> None:
                async with gate, httpx.AsyncClient(timeout=60) as http:
                    await client.login(http, f"bench{client.index}", self.plan["password"])

            await asyncio.gather(*(one(client) for client in self.clients))
        await asyncio.gather(*(client.connect() for client in self.clients))
        if login:  # warm the server up: imports, the HTTP pool, templates
            client = self.clients[0]
            await client.compare("warm-up", [f"sim:{WARM_MODEL}"], Meter(), count=False)

    async def steady(self, command: dict[str, Any]) -> dict[str, Any]:
        t0, duration, ramp = command["t0"], command["duration"], command["ramp"]
        meter = Meter(w0=command["w0"], w1=command["w1"])
        count = len(self.clients)
        starts = [t0 + ramp * index / count for index in range(count)]
        await asyncio.gather(
            *(
                client.steady(start, start + duration, meter, (command["s0"], command["s1"]))
                for client, start in zip(self.clients, starts, strict=True)
            )
        )
        report = meter.report()
        report["frames"] = sum(client.frames for client in self.clients)
        report["closes"] = [
            {"client": c.index, "at": c.closed_at, "tag": c.open_tag} for c in self.clients
        ]
        report["finals"] = [final for client in self.clients for final in client.finals]
        return report

    # --- logout closes a user's sockets on every process ---
    # The orchestrator asks for sockets until they sit on every daphne process (it maps each
    # socket's local port to the process holding its other end), then for the logout, made
    # on one process; the playground's logout signal sends `session.ended` to the user's group
    # through the channel layer, and every socket must close with 4401.

    async def logout_open(self, command: dict[str, Any]) -> dict[str, Any]:
        """Open `count` more websockets of one freshly logged-in user (bench0)."""
        import httpx
        from websockets.asyncio.client import connect

        if self.logout_http is None:
            self.logout_http = httpx.AsyncClient(timeout=60)
            client = RelayClient(self, 0)
            await client.login(self.logout_http, "bench0", self.plan["password"])
            self.logout_cookie = client.cookie
        for _ in range(command["count"]):
            ws = await connect(
                self.ws_url,
                additional_headers={"Origin": self.base_url, "Cookie": self.logout_cookie},
                compression=None,
                max_size=None,
                open_timeout=30,
                ping_interval=None,
            )
            self.logout_sockets.append(ws)
        ports = [ws.transport.get_extra_info("sockname")[1] for ws in self.logout_sockets]
        return {"ports": ports}

    async def logout(self, command: dict[str, Any]) -> dict[str, Any]:
        """Log the user out over one HTTP connection; then every socket's close code."""
        base, http = self.base_url, self.logout_http
        page = await http.get(f"{base}/")
        token = CSRF.search(page.text)
        csrf = token.group(1) if token else http.cookies.get("csrftoken", "")
        sent = time.monotonic()
        response = await http.post(
            f"{base}/accounts/logout/",
            data={"csrfmiddlewaretoken": csrf},
            headers={"referer": f"{base}/"},
        )
        stream = response.extensions.get("network_stream")
        http_port = stream.get_extra_info("client_addr")[1] if stream is not None else None

        async def closed(ws: Any) -> tuple[int, int | None, float | None]:
            port = ws.transport.get_extra_info("sockname")[1]
            try:
                async with asyncio.timeout(command.get("timeout", 30)):
                    while True:
                        await ws.recv()
            except TimeoutError:
                with contextlib.suppress(Exception):
                    await ws.close()
                return port, None, None
            except Exception:
                pass
            code = ws.close_code
            return port, code, (time.monotonic() - sent) * 1000

        closes = await asyncio.gather(*(closed(ws) for ws in self.logout_sockets))
        self.logout_sockets = []
        return {"status": response.status_code, "http_port": http_port, "closes": closes}

    async def logout_end(self) -> None:
        if self.logout_http is not None:
            await self.logout_http.aclose()
            self.logout_http = None

    async def burst(self, command: dict[str, Any]) -> dict[str, Any]:
        meter = Meter()
        frames_before = sum(client.frames for client in self.clients)

        async def one(client: RelayClient) -> None:
            await sleep_until(command["t"])
            try:
                async with asyncio.timeout(command["timeout"]):
                    await client.compare(f"burst c{client.index}", self.models, meter, count=True)
            except Exception as exc:
                meter.error(f"burst client {client.index}: {exc!r}")
                client.stopped_part_way()
            with contextlib.suppress(Exception):
                await client.ws.close(code=1001)

        await asyncio.gather(*(one(client) for client in self.clients))
        report = meter.report()
        report["frames"] = sum(client.frames for client in self.clients) - frames_before
        return report


# --- the control: the same streams straight from the simulator ---------------------------------

CONTENT = re.compile(rb'"delta":\{"content":("(?:[^"\\]|\\.)*")\}')


class DirectClient:
    """M keep-alive HTTP connections to the simulator, one stream on each at a time."""

    def __init__(self, worker: DirectWorker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [
            None
        ] * len(worker.models)
        self.closed_at: float | None = None
        self.open_tag = ""

    async def stream(self, slot: int, model: str, tag: str, meter: Meter, *, count: bool) -> None:
        worker = self.worker
        connection = self.connections[slot]
        if connection is None:
            connection = await asyncio.open_connection("127.0.0.1", worker.port)
            self.connections[slot] = connection
        reader, writer = connection
        body = json.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": tag}],
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_completion_tokens": worker.max_tokens,
            }
        ).encode()
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\naccept: text/event-stream\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        expected = worker.expected[model]
        track = Track(meter, time.monotonic(), expected, worker.ends[model], count)
        meter.streams += 1
        writer.write(head + body)
        status = await reader.readuntil(b"\r\n\r\n")
        if not status.startswith(b"HTTP/1.1 200"):
            self.connections[slot] = None
            writer.close()
            raise RuntimeError(f"{tag} {model}: {status[:40]!r}")
        parts: list[str] = []
        loads, search = json.loads, CONTENT.search
        complete = False
        try:
            while True:
                event = await reader.readuntil(b"\n\n")
                now = time.monotonic()
                found = search(event)
                if found is not None:
                    text = loads(found.group(1))
                    parts.append(text)
                    track.arrived(len(text), now)
                elif b"[DONE]" in event:
                    await reader.readuntil(b"0\r\n\r\n")
                    complete = True
                    break
                elif b'"error"' in event:
                    raise RuntimeError(f"{tag} {model}: {event[:200]!r}")
        finally:
            meter.check(f"{tag} {model}", "".join(parts), expected, complete=complete)

    async def batch(self, tag: str, meter: Meter, *, count: bool) -> None:
        models = self.worker.models
        await asyncio.gather(
            *(
                self.stream(slot, model, tag, meter, count=count)
                for slot, model in enumerate(models)
            )
        )

    def abort(self) -> None:
        self.closed_at = time.monotonic()
        for connection in self.connections:
            if connection is not None:
                connection[1].transport.abort()
        self.connections = [None] * len(self.connections)

    async def steady(
        self, start: float, close: float, meter: Meter, window: tuple[float, float]
    ) -> None:
        await sleep_until(start)
        number = 0
        try:
            async with asyncio.timeout_at(close):
                while True:
                    self.open_tag = tag = f"direct c{self.index} n{number}"
                    count = window[0] <= time.monotonic() <= window[1]
                    await self.batch(tag, meter, count=count)
                    number += 1
        except TimeoutError:
            pass
        except Exception as exc:
            meter.error(f"direct client {self.index}: {exc!r}")
        self.abort()


class DirectWorker:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.port = plan["sim_port"]
        self.models = [model_name(i) for i in range(plan["models"])]
        self.max_tokens = max(512, plan["tokens"] + 16)
        self.expected = {name: expected_text(name, plan["tokens"]) for name in self.models}
        self.ends = {name: piece_ends(text) for name, text in self.expected.items()}
        self.clients = [DirectClient(self, index) for index in range(plan["clients"])]

    async def prepare(self, *, login: bool) -> None:
        return None

    async def steady(self, command: dict[str, Any]) -> dict[str, Any]:
        t0, duration, ramp = command["t0"], command["duration"], command["ramp"]
        meter = Meter(w0=command["w0"], w1=command["w1"])
        count = len(self.clients)
        starts = [t0 + ramp * index / count for index in range(count)]
        await asyncio.gather(
            *(
                client.steady(start, start + duration, meter, (command["s0"], command["s1"]))
                for client, start in zip(self.clients, starts, strict=True)
            )
        )
        report = meter.report()
        report["closes"] = [
            {"client": c.index, "at": c.closed_at, "tag": c.open_tag} for c in self.clients
        ]
        return report

    async def burst(self, command: dict[str, Any]) -> dict[str, Any]:
        meter = Meter()

        async def one(client: DirectClient) -> None:
            await sleep_until(command["t"])
            try:
                async with asyncio.timeout(command["timeout"]):
                    await client.batch(f"burst-direct c{client.index}", meter, count=True)
            except Exception as exc:
                meter.error(f"burst direct client {client.index}: {exc!r}")
            client.abort()

        await asyncio.gather(*(one(client) for client in self.clients))
        return meter.report()


async def serve_worker(worker: RelayWorker | DirectWorker) -> None:
    """Answer the orchestrator's commands until it says quit."""
    while True:
        command = await read_command()
        name = command["cmd"]
        if name == "quit":
            return
        try:
            if name == "prepare":
                await worker.prepare(login=command.get("login", False))
                reply({"event": "ready"})
            elif name == "steady":
                reply({"event": "steady", **await worker.steady(command)})
            elif name == "burst":
                reply({"event": "burst", **await worker.burst(command)})
            elif name == "logout_open" and isinstance(worker, RelayWorker):
                reply({"event": "logout_open", **await worker.logout_open(command)})
            elif name == "logout" and isinstance(worker, RelayWorker):
                reply({"event": "logout", **await worker.logout(command)})
            elif name == "logout_end" and isinstance(worker, RelayWorker):
                await worker.logout_end()
                reply({"event": "logout_end"})
            else:
                reply({"event": "error", "error": f"unknown command {name!r}"})
        except Exception as exc:
            log(f"{name} failed: {exc!r}")
            reply({"event": "error", "error": f"{name}: {exc!r}"})


def main() -> None:
    role = sys.argv[1]
    plan = json.loads(sys.stdin.readline())
    if role == "sim":
        run_simulator(plan)
    elif role == "relay":
        asyncio.run(serve_worker(RelayWorker(plan)))
    elif role == "direct":
        asyncio.run(serve_worker(DirectWorker(plan)))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
