"""The asyncio network backend under httpcore's pool (inference/backends/aionet.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import httpcore
import httpx
import pytest

from inference.backends.aionet import AsyncioBackend, AsyncioTransport


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """A TCP server that says nothing; the test writes through the writers it collects."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    srv = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield port, writers
    for writer in writers:
        writer.close()
    srv.close()
    await srv.wait_closed()


async def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_reads_time_out_whatever_the_order_of_their_timeouts(
    server: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, writers = server
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    with pytest.raises(httpcore.ReadTimeout):
        await stream.read(1024, timeout=0.05)
    await wait_for(lambda: writers)
    writers[0].write(b"hello")
    assert await stream.read(1024, timeout=30) == b"hello"  # a long timer stays armed
    with pytest.raises(httpcore.ReadTimeout):
        await stream.read(1024, timeout=0.05)  # a shorter deadline than the armed timer
    writers[0].write(b"abc")
    assert await stream.read(2, timeout=5) == b"ab"
    assert await stream.read(2, timeout=5) == b"c"
    assert not stream.get_extra_info("is_readable")
    writers[0].write(b"unexpected")
    await wait_for(lambda: stream.get_extra_info("is_readable"))
    await stream.aclose()


async def test_eof_is_readable_and_reads_empty(
    server: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, writers = server
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    await wait_for(lambda: writers)
    writers[0].close()
    await wait_for(lambda: stream.get_extra_info("is_readable"))
    assert await stream.read(1024, timeout=5) == b""
    await stream.aclose()


async def test_connection_refused_is_httpx_connect_error() -> None:
    transport = AsyncioTransport(
        limits=httpx.Limits(max_connections=2), ssl_context=httpx.create_ssl_context()
    )
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
