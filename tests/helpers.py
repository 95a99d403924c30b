"""Test helpers: websocket clients with a real session, frame readers, simulated providers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from inference.models import Model, Provider
from inference.simulator import Simulator

ORIGIN = b"http://127.0.0.1:8000"


def create_sim_providers(sim: Simulator) -> dict[str, Model]:
    """Three simulated providers (one per wire format) with priced models on them."""
    openai = Provider.objects.create(
        slug="sim",
        label="Simulated",
        kind="openai",
        base_url=sim.openai_base_url,
        key_required=False,
    )
    anthropic = Provider.objects.create(
        slug="sima",
        label="Simulated Anthropic",
        kind="anthropic",
        base_url=sim.anthropic_base_url,
        api_key="sk-ant-test-key-0001",
    )
    gemini = Provider.objects.create(
        slug="simg",
        label="Simulated Gemini",
        kind="gemini",
        base_url=sim.gemini_base_url,
        api_key="gm-test-key-0002",
    )
    prices = {"input_price": Decimal("1.00"), "output_price": Decimal("4.00")}
    models = {
        "alpha": Model.objects.create(provider=openai, api_name="alpha", label="Alpha", **prices),
        "beta": Model.objects.create(provider=openai, api_name="beta", label="Beta", **prices),
        "gamma": Model.objects.create(provider=openai, api_name="gamma", label="Gamma"),
        "claude": Model.objects.create(
            provider=anthropic, api_name="claude-sim", label="Claude Sim", **prices
        ),
        "gemini": Model.objects.create(
            provider=gemini, api_name="gemini-sim", label="Gemini Sim", **prices
        ),
    }
    return models


async def ws_connect(
    user: User | None, *, origin: bytes = ORIGIN, path: str = "/ws/compare/"
) -> tuple[WebsocketCommunicator, bool, Any]:
    from playground.asgi import application

    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@dataclass
class Frame:
    """What one frame carries, read with an HTML parser (attribute order does not matter)."""

    deltas: list[tuple[str, int, str]] = field(default_factory=list)  # (t|r, run, text)
    panels: list[tuple[int, int, str]] = field(default_factory=list)  # (run, position, model)
    raw: dict[int, str] = field(default_factory=dict)  # run -> the final answer's text
    finished: set[int] = field(default_factory=set)  # runs whose final panel (metrics) came
    notices: list[str] = field(default_factory=list)  # error notices


class _FrameParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.frame = Frame()
        self._runs: list[int | None] = []  # the <article> each open element belongs to
        self._open: list[tuple[str, list[str], Callable[[str], None] | None]] = []

    def _run(self) -> int | None:
        return next((run for run in reversed(self._runs) if run is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        classes = found.get("class", "").split()
        run = self._run()
        if tag == "article" and found.get("id", "").startswith("run-"):
            run = int(found["id"][4:])
            position = int(found.get("data-position") or 0)
            self.frame.panels.append((run, position, found.get("data-model", "")))
        self._runs.append(run if tag == "article" else None)
        sink: Callable[[str], None] | None = None
        swap = found.get("hx-swap-oob", "")
        if tag == "span" and swap.startswith("beforeend:#") and swap[11:13] in ("t-", "r-"):
            kind, target = swap[11], int(swap[13:])
            sink = lambda text, k=kind, r=target: self.frame.deltas.append((k, r, text))  # noqa: E731
        elif tag == "textarea" and "raw" in classes and run is not None:
            sink = lambda text, r=run: self.frame.raw.__setitem__(r, text)  # noqa: E731
        elif tag == "div" and found.get("id") == "notice" and "notice-error" in classes:
            sink = self.frame.notices.append
        elif tag == "footer" and "panel-foot" in classes and run is not None:
            self.frame.finished.add(run)
        self._open.append((tag, [], sink))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, parts, sink = self._open.pop()
            self._runs.pop()
            if sink is not None:
                sink("".join(parts))
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, parts, sink in reversed(self._open):
            if sink is not None:
                parts.append(data)
                break


def parse_frame(frame: str) -> Frame:
    parser = _FrameParser()
    parser.feed(frame)
    parser.close()
    while parser._open:  # an element left open at the end of the frame
        parser.handle_endtag(parser._open[-1][0])
    return parser.frame


@dataclass
class FrameLog:
    """Every frame one socket received, with the text each panel was sent."""

    frames: list[tuple[float, str]] = field(default_factory=list)
    parsed: list[Frame] = field(default_factory=list)
    text: dict[int, str] = field(default_factory=dict)
    reasoning: dict[int, str] = field(default_factory=dict)
    final_text: dict[int, str] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)

    def add(self, frame: str) -> None:
        self.frames.append((time.monotonic(), frame))
        parsed = parse_frame(frame)
        self.parsed.append(parsed)
        for kind, run_id, text in parsed.deltas:
            target = self.text if kind == "t" else self.reasoning
            target[run_id] = target.get(run_id, "") + text
        self.final_text.update(parsed.raw)
        self.done |= parsed.finished

    def notices(self) -> list[str]:
        return [notice for frame in self.parsed for notice in frame.notices]

    def contains(self, needle: str) -> bool:
        return any(needle in frame for _, frame in self.frames)

    def finished(self, run_id: int) -> bool:
        """The final panel (with metrics) for this run has arrived."""
        return run_id in self.done


async def read_until(
    communicator: WebsocketCommunicator,
    log: FrameLog,
    predicate: Callable[[FrameLog], bool],
    timeout: float = 10.0,
) -> FrameLog:
    deadline = time.monotonic() + timeout
    while not predicate(log):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out; last frames: {[f[:300] for _, f in log.frames[-5:]]}")
        try:
            log.add(await communicator.receive_from(timeout=remaining))
        except TimeoutError:
            continue
    return log


def compare_frame(models: list[str], prompt: str = "Hello there", **extra: Any) -> str:
    payload: dict[str, Any] = {
        "action": "compare",
        "prompt": prompt,
        "system": "",
        "models": models,
        "same_settings": "on",
        "HEADERS": {"HX-Request": "true"},
        **extra,
    }
    return json.dumps(payload)


def run_ids(log: FrameLog) -> dict[str, int]:
    """model name -> run id, from the panels sent at start."""
    found: dict[str, int] = {}
    for frame in log.parsed:
        for run_id, _, model in frame.panels:
            found.setdefault(model, run_id)
    return found


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll without blocking the event loop (the consumer under test runs on it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
