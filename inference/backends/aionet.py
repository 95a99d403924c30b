"""An httpx transport on httpcore's connection pool, over plain asyncio connections.

httpx reads through httpcore, whose default network backend goes through anyio: every read
opens a cancel scope (asking sniffio which library is running) and pauses and resumes the
socket, two epoll calls per chunk. A streamed answer is hundreds of small chunks, so that
was a large share of what a relayed token cost. `AsyncioBackend` does the same work with an
asyncio protocol that keeps what the socket delivered: a read that finds data buffered
returns at once.

Everything here is public API: httpcore's `AsyncNetworkBackend` / `AsyncNetworkStream`
interfaces (https://www.encode.io/httpcore/network-backends/) plugged into its
`AsyncConnectionPool(network_backend=...)` (https://www.encode.io/httpcore/connection-pools/),
and the pool wrapped in an `httpx.AsyncBaseTransport`
(https://www.python-httpx.org/advanced/transports/#custom-transports). h11, pooling and
everything httpx does above the transport are unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable
from typing import Any

import httpcore
import httpx

# The shape of httpcore's socket options (setsockopt's arguments).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

READ_LIMIT = 2**20  # bytes buffered from a socket before it is paused


class _Connection(asyncio.Protocol):
    """What the event loop delivers for one connection, kept until httpcore reads it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.reader: asyncio.Future[None] | None = None  # a read waiting for data
        self.writer: asyncio.Future[None] | None = None  # a write waiting for drain
        self.reading_paused = False
        self.writing_paused = False
        self.closed = asyncio.get_running_loop().create_future()  # set at connection_lost
        self.read_deadline: float | None = None  # when the waiting read times out
        self.timer: asyncio.TimerHandle | None = None  # fires at or before read_deadline

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        if self.writer is not None and not self.writer.done():
            self.writer.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.writer is not None and not self.writer.done():
            self.writer.set_result(None)

    def arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Time out the waiting read at `deadline` (the timer is kept while it is early)."""
        self.read_deadline = deadline
        timer = self.timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = loop.call_at(deadline, self._check_deadline, loop)

    def _check_deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        deadline, reader = self.read_deadline, self.reader
        if deadline is None or reader is None or reader.done():
            return  # no read waiting: the next one arms a timer again
        if loop.time() >= deadline:
            reader.set_exception(httpcore.ReadTimeout("no data within the read timeout"))
        else:
            self.timer = loop.call_at(deadline, self._check_deadline, loop)

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection, as httpcore's network stream."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.buffer and not connection.eof:
            # A future woken by the protocol. A read that waits is the common case, once per
            # token, so its timeout is a deadline checked by one lazy timer per connection
            # rather than a timer made and cancelled per read (asyncio.timeout()).
            loop = asyncio.get_running_loop()
            waiter = connection.reader = loop.create_future()
            if timeout is not None:
                connection.arm(loop, loop.time() + timeout)
            try:
                await waiter
            finally:
                connection.reader = None
                connection.read_deadline = None
        buffer = connection.buffer
        if not buffer:
            if connection.error is not None:
                raise httpcore.ReadError(str(connection.error)) from connection.error
            return b""  # the peer closed the connection
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if connection.reading_paused and len(buffer) <= READ_LIMIT // 2:
            connection.reading_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        if connection.eof or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if connection.writing_paused:
            waiter = connection.writer = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError as exc:
                raise httpcore.WriteTimeout("the write did not drain in time") from exc
            finally:
                connection.writer = None
            if connection.error is not None:
                raise httpcore.WriteError(str(connection.error)) from connection.error

    async def aclose(self) -> None:
        # Wait until the socket is really closed (the loop does it on its next turn), as
        # asyncio's StreamWriter.wait_closed() does: the peer sees the client leave now.
        self._transport.close()
        await self._connection.closed

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout("no TLS handshake within the connect timeout") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        assert isinstance(transport, asyncio.Transport)
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks before reusing an idle connection: EOF or unexpected bytes mean
            # the server is done with it.
            return self._connection.eof or bool(self._connection.buffer)
        return None


async def _open(
    opener: Awaitable[tuple[asyncio.BaseTransport, _Connection]], timeout: float | None
) -> tuple[asyncio.Transport, _Connection]:
    try:
        async with asyncio.timeout(timeout):
            transport, connection = await opener
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout("no connection within the connect timeout") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    assert isinstance(transport, asyncio.Transport) and isinstance(connection, _Connection)
    return transport, connection


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens `AsyncioStream`s for httpcore's connection pool."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        opener = loop.create_connection(
            _Connection, host, port, local_addr=(local_address, 0) if local_address else None
        )
        transport, connection = await _open(opener, timeout)
        # asyncio sets TCP_NODELAY on TCP connections itself.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        transport, connection = await _open(loop.create_unix_connection(_Connection, path), timeout)
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# httpcore's exceptions -> httpx's, most specific first (the same names in both).
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _to_httpx(exc: Exception) -> Exception:
    for core, mapped in _EXCEPTIONS:
        if isinstance(exc, core):
            return mapped(str(exc))
    return exc


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's response body as httpx's, its errors as httpx's."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self.stream:
                yield part
        except Exception as exc:
            mapped = _to_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        close = getattr(self.stream, "aclose", None)
        if close is not None:
            await close()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """httpcore's HTTP/1.1 connection pool on `AsyncioBackend`, as an httpx transport."""

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self.pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = _to_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()
