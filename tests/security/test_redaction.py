"""A near-copy of the key is redacted too (hole 9), and connection errors keep internal
addresses to the log and the staff (hole 10): frames, pages, exports and shares."""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import quote

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from inference.backends.base import HostConfig
from inference.backends.http import MAX_ERROR_BODY_BYTES, ErrorMapper, read_capped, redact
from inference.models import Model, Provider
from inference.simulator import Scenario
from playground.models import Run, Share
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

SECRET = "sk-live-NEARCOPY-0123456789abcdefXYZ"


def key_runs(text: str, secret: str = SECRET, size: int = 8) -> list[str]:
    """Every run of `size` characters of the key that appears in `text` (any case)."""
    lowered = text.lower()
    return [
        secret[i : i + size]
        for i in range(len(secret) - size + 1)
        if secret[i : i + size].lower() in lowered
    ]


# --- the redaction itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "echo",
    [
        SECRET,
        SECRET[:-1],  # the key minus one character
        SECRET[1:],
        SECRET[3:14],  # any 8+ run of it
        SECRET.upper(),
        quote(SECRET, safe=""),
        quote("sk/live+NEAR COPY-0123456789", safe=""),
        f"Authorization: Bearer {SECRET[:-2]}",
    ],
)
def test_near_copies_of_the_key_are_redacted(echo):
    secret = "sk/live+NEAR COPY-0123456789" if "COPY-01" in echo and "%" in echo else SECRET
    text = redact(f"Incorrect API key provided: {echo} (see the docs)", secret)
    assert "[redacted]" in text
    assert not key_runs(text, secret)
    assert text.startswith("Incorrect API key provided: ") and text.endswith(" (see the docs)")


def test_bearer_credentials_are_redacted_whatever_the_key():
    text = redact("sent Bearer abcd1234efgh5678 and token=zz9988776655yy", "")
    assert "abcd1234efgh5678" not in text and "zz9988776655yy" not in text
    assert redact("Missing bearer authentication", "") == "Missing bearer authentication"
    # Short runs of the key and ordinary words are left alone.
    assert redact("sk-live-", SECRET) == "[redacted]"
    assert redact("status 401: unauthorised", SECRET) == "status 401: unauthorised"


def test_redaction_happens_before_the_message_is_cut():
    errors = ErrorMapper("Leaky API", SECRET)
    body = json.dumps({"error": {"message": "x" * 270 + " key " + SECRET[:-1]}}).encode()
    error = errors.from_response(401, {}, body)
    assert not key_runs(error.message, size=5)  # not even the head of it survived the cut
    malformed = errors.malformed("y" * 70 + SECRET)
    assert not key_runs(malformed.message, size=5)


async def test_error_bodies_are_read_up_to_a_cap():
    pulled = 0

    async def body():
        nonlocal pulled
        for _ in range(5 * 1024):  # 5 MiB in 1 KiB chunks
            pulled += 1
            yield b"x" * 1024

    response = httpx.Response(500, content=body())
    data = await read_capped(response)
    assert len(data) == MAX_ERROR_BODY_BYTES
    assert pulled <= MAX_ERROR_BODY_BYTES // 1024 + 1  # the rest was never read
    await response.aclose()


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture
def near_copy(sim, db):
    provider = Provider.objects.create(
        slug="leaky", label="Leaky", kind="openai", base_url=sim.openai_base_url, api_key=SECRET
    )
    Model.objects.create(provider=provider, api_name="echo", label="Echo")
    message = (
        f"Incorrect API key provided: {SECRET[:-1]}; also {quote(SECRET, safe='')} and "
        f"Bearer {SECRET[1:]}" + " padding" * 2000  # long: cut after redaction
    )
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    sim.set(
        "echo",
        Scenario(
            raw=body.encode(),
            raw_status=401,
            raw_content_type="application/json",
        ),
    )
    return provider


def everywhere(user, run_id: int, comparison_id: int, provider: Provider) -> list[str]:
    """The run's error as every page, export, share and admin page shows it."""
    owner = Client()
    owner.force_login(user)
    share = Share.objects.create(comparison_id=comparison_id, audience="public")
    staff = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    admin = Client()
    admin.force_login(staff)
    urls = [
        "/",
        f"/c/{comparison_id}/",
        "/history/",
        f"/c/{comparison_id}/export.json",
        f"/c/{comparison_id}/export.csv",
        f"/c/{comparison_id}/export.md",
    ]
    bodies = [owner.get(url).content.decode() for url in urls]
    for path in ("", "export.json", "export.csv", "export.md"):
        bodies.append(Client().get(f"/s/{share.token}/{path}").content.decode())
    bodies.append(admin.get(f"/admin/playground/run/{run_id}/change/").content.decode())
    bodies.append(admin.get(f"/admin/inference/provider/{provider.pk}/change/").content.decode())
    return bodies


async def run_one(user, model: str) -> tuple[FrameLog, int]:
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame([model]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    run_id = run_ids(log)[model]
    await read_until(communicator, log, lambda lg: lg.finished(run_id), 20)
    await communicator.disconnect()
    return log, run_id


@pytest.mark.django_db(transaction=True)
async def test_a_near_copy_of_the_key_is_redacted_everywhere(user, sim, near_copy, caplog):
    caplog.set_level(logging.DEBUG)
    log, run_id = await run_one(user, "leaky:echo")
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.ERROR and "[redacted]" in run.error
    assert not key_runs(run.error)
    assert not any(key_runs(frame) for _, frame in log.frames)
    assert not key_runs(caplog.text)
    bodies = await sync_to_async(everywhere)(user, run_id, run.comparison_id, near_copy)
    assert all(len(body) > 50 for body in bodies)
    assert any("[redacted]" in body for body in bodies[3:10])  # the error is in the exports
    for body in bodies:
        assert not key_runs(body.replace(f"…{SECRET[-4:]}", "")), body[:200]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed


@pytest.mark.django_db(transaction=True)
async def test_the_internal_address_stays_out_of_frames_pages_and_exports(user, caplog):
    port = closed_port()
    address = f"127.0.0.1:{port}"

    def make() -> Provider:
        provider = Provider.objects.create(
            slug="inhouse",
            label="In-house vLLM",
            kind="openai",
            base_url=f"http://{address}/v1",
            key_required=False,
            read_timeout=5,
        )
        Model.objects.create(provider=provider, api_name="m", label="M")
        return provider

    provider = await sync_to_async(make)()
    caplog.set_level(logging.WARNING)
    log, run_id = await run_one(user, "inhouse:m")
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.ERROR
    assert "could not connect to In-house vLLM" in run.error
    assert "could not connect to In-house vLLM" in "".join(f for _, f in log.frames)
    assert str(port) not in run.error and "127.0.0.1" not in run.error
    assert not any(str(port) in frame for _, frame in log.frames)
    bodies = await sync_to_async(everywhere)(user, run_id, run.comparison_id, provider)
    # The admin pages of the run and the provider show the address, to staff only.
    for body in bodies[:-2]:
        assert f":{port}" not in body, body[:300]
    assert f":{port}" in bodies[-2]  # the run's error detail, for staff
    assert any("could not connect to In-house vLLM" in body for body in bodies[3:10])
    # The detail is in the log, for the operator.
    assert address in caplog.text or f"'127.0.0.1', {port}" in caplog.text


def test_connection_errors_carry_the_detail_for_staff_only():
    errors = ErrorMapper("OpenAI-compatible API", "")
    config = HostConfig(kind="openai", base_url="http://10.0.0.7:8000/v1", label="Lab vLLM")
    error = errors.from_transport(
        httpx.ConnectError("All connection attempts failed ('10.0.0.7', 8000)"),
        config,
        in_body=False,
    )
    assert "could not connect to Lab vLLM" in error.message
    assert "10.0.0.7" not in error.message
    assert "10.0.0.7" in error.detail
