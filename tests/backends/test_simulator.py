"""The upstream simulator itself: HTTP/1.1 keep-alive, disconnect detection, records, routing,
concurrency, the in-loop and command-line modes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.backends.base import TextDelta
from inference.simulator import Scenario, Simulator, split_pieces

from .support import REQUEST, collect, make_backend

REQUEST_BODY = json.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
).encode()
RAW_REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%b" % (len(REQUEST_BODY), REQUEST_BODY)
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_pieces_join_back_to_the_text(text: str) -> None:
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert all(piece.strip() for piece in pieces[:-1])


def test_word_pieces_keep_leading_spaces() -> None:
    assert split_pieces("The quick  fox.\n") == ["The", " quick", "  fox.", "\n"]
    assert Scenario(chunks=["a", "b"]).pieces() == ["a", "b"]


def test_unknown_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Scenario(fault="explode")


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readexactly(2)
    return body


async def test_keep_alive_serves_several_requests_on_one_connection(sim: Simulator) -> None:
    sim.set("m", Scenario(text="one two"))
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        for _ in range(3):
            writer.write(RAW_REQUEST)
            body = await read_response(reader)
            assert body.endswith(b"data: [DONE]\n\n")
    finally:
        writer.close()
    assert [r.completed for r in sim.requests] == [True, True, True]


async def test_a_client_leaving_during_the_wait_for_the_first_token_is_noticed(
    sim: Simulator,
) -> None:
    sim.set("m", Scenario(ttft=30))
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(RAW_REQUEST)
    await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    # Its first token was 30 s away: ended and not completed means the leaving was seen.
    assert await asyncio.to_thread(sim.wait_for, lambda rs: rs[0].disconnected, 30)
    (record,) = sim.requests
    assert not record.completed and record.first_byte is None
    assert record.ended is not None


async def test_records_time_the_first_piece(sim: Simulator) -> None:
    sim.set("sim-model", Scenario(text="a b c", ttft=0.1, interval=0.02))
    backend = make_backend("anthropic", sim.anthropic_base_url)
    events = await collect(backend)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", " b", " c"]
    (record,) = sim.requests
    assert record.wire == "anthropic" and record.model == "sim-model"
    assert record.body["messages"] == [{"role": "user", "content": "Say hello please"}]
    assert record.first_byte is not None and record.ended is not None
    assert 0.09 <= record.first_byte - record.started <= 2
    assert 0.03 <= record.ended - record.first_byte <= 2
    assert record.completed and not record.disconnected


async def test_routing_errors(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        response = await client.post("/v1beta/models/m:streamGenerateContent", json={})
        assert response.status_code == 404  # alt=sse is required
        response = await client.post("/nowhere", json={})
        assert response.status_code == 404
        response = await client.post(
            "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        listing = await client.get("/v1/models")
        assert listing.json()["object"] == "list"


async def test_fault_counts_and_reset(sim: Simulator) -> None:
    sim.set("m", Scenario(fault="server_error", fault_count=2))
    async with httpx.AsyncClient(base_url=sim.openai_base_url) as client:
        statuses = []
        for _ in range(3):
            response = await client.post("/chat/completions", json={"model": "m"})
            statuses.append(response.status_code)
        assert statuses == [500, 500, 200]
        sim.set("m", Scenario(fault="server_error", fault_count=2))  # counters restart
        response = await client.post("/chat/completions", json={"model": "m"})
        assert response.status_code == 500
    assert len(sim.requests) == 4
    sim.reset()
    assert sim.requests == []


async def test_two_hundred_concurrent_streams(sim: Simulator) -> None:
    """The simulator (and the client side) keep up with 200 streams at 50 tokens/s."""
    text = " ".join(f"w{i}" for i in range(25))
    sim.set("sim-model", Scenario(text=text, interval=0.02))
    backend = make_backend("openai", sim.openai_base_url)
    results = await asyncio.gather(*(collect(backend, REQUEST) for _ in range(200)))
    for events in results:
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert len(sim.requests) == 200 and all(r.completed for r in sim.requests)


async def test_serve_in_the_current_loop() -> None:
    simulator = Simulator(default=Scenario(text="in loop"))
    serving = asyncio.ensure_future(simulator.serve())
    for _ in range(100):
        if simulator.port:
            break
        await asyncio.sleep(0.01)
    events = await collect(make_backend("gemini", simulator.gemini_base_url))
    assert events[0] == TextDelta("in")
    simulator.stop()
    await asyncio.wait_for(serving, 2)


def test_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "inference.simulator", "--port", "0", "--tokens", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Upstream simulator listening on http://127.0.0.1:")
        url = line.split()[-1]
        models = httpx.get(f"{url}/v1/models", timeout=5).json()
        assert {m["id"] for m in models["data"]} >= {"sim-fast"}
        body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=5).text
        assert answer.count('"content":') == 6 and answer.endswith("data: [DONE]\n\n")
    finally:
        process.terminate()
        process.wait(timeout=5)
