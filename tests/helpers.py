"""Test helpers: websocket clients with a real session, frame readers, simulated providers."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client

from inference.models import Model, Provider
from inference.testing import Simulator

ORIGIN = b"http://127.0.0.1:8000"
DELTA = re.compile(r'<span hx-swap-oob="beforeend:#([tr])-(\d+)">(.*?)</span>', re.S)
RAW = re.compile(
    r'id="run-(\d+)" data-position.*?<textarea class="raw"[^>]*>(.*?)</textarea>', re.S
)
NOTICE = re.compile(r'<div id="notice" class="notice notice-error"[^>]*>(.*?)</div>', re.S)


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
    user: AbstractBaseUser | None, *, origin: bytes = ORIGIN, path: str = "/ws/compare/"
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
class FrameLog:
    """Every frame one socket received, with the text each panel was sent."""

    frames: list[tuple[float, str]] = field(default_factory=list)
    text: dict[int, str] = field(default_factory=dict)
    reasoning: dict[int, str] = field(default_factory=dict)
    final_text: dict[int, str] = field(default_factory=dict)

    def add(self, frame: str) -> None:
        self.frames.append((time.monotonic(), frame))
        for kind, run_id, escaped in DELTA.findall(frame):
            target = self.text if kind == "t" else self.reasoning
            target[int(run_id)] = target.get(int(run_id), "") + html.unescape(escaped)
        for run_id, escaped in RAW.findall(frame):
            self.final_text[int(run_id)] = html.unescape(escaped)

    def notices(self) -> list[str]:
        return [html.unescape(m) for _, f in self.frames for m in NOTICE.findall(f)]

    def contains(self, needle: str) -> bool:
        return any(needle in frame for _, frame in self.frames)

    def finished(self, run_id: int) -> bool:
        """The final panel (with metrics) for this run has arrived."""
        marker = f'id="run-{run_id}" data-position'
        return any(marker in f and 'class="panel-foot"' in f for _, f in self.frames)


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


RUN_ID = re.compile(r'id="run-(\d+)" data-position="(\d+)" data-model="([^"]+)"')


def run_ids(log: FrameLog) -> dict[str, int]:
    """model name -> run id, from the panels sent at start."""
    found: dict[str, int] = {}
    for _, frame in log.frames:
        for run_id, _, model in RUN_ID.findall(frame):
            found.setdefault(model, int(run_id))
    return found


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll without blocking the event loop (the consumer under test runs on it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
