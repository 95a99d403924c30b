"""The shared HTTP clients: one pool of connections per event loop, and the timeouts.

One pool per event loop (an AsyncClient is bound to its loop; a process has one loop in
production, tests make many). The pool is split over a few AsyncClients used in turn:
httpcore 1.0's pool does O(idle x connections) work each time a request starts or ends,
which with hundreds of pooled connections costs seconds of CPU per burst of streams.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import weakref

import httpx

from inference.backends.aionet import AsyncioTransport
from inference.backends.base import HostConfig

USER_AGENT = "model-playground/0.1"


class _ClientPool:
    __slots__ = ("clients", "turn")

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.turn = 0


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ClientPool] = (
    weakref.WeakKeyDictionary()
)


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def pool_limits() -> httpx.Limits:
    """The whole pool's limits, sized for hundreds of concurrent streams.

    PLAYGROUND_HTTP_MAX_CONNECTIONS (1000) and PLAYGROUND_HTTP_MAX_KEEPALIVE (200) override.
    """
    return httpx.Limits(
        max_connections=_env_int("PLAYGROUND_HTTP_MAX_CONNECTIONS", 1000),
        max_keepalive_connections=_env_int("PLAYGROUND_HTTP_MAX_KEEPALIVE", 200),
        keepalive_expiry=20.0,
    )


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The TLS settings every client shares (building one loads the CA bundle: ~30 ms)."""
    return httpx.create_ssl_context()


def _new_pool() -> _ClientPool:
    limits = pool_limits()
    shards = _env_int("PLAYGROUND_HTTP_POOL_SHARDS", 16)
    assert limits.max_connections is not None and limits.max_keepalive_connections is not None
    shard_limits = httpx.Limits(
        max_connections=-(-limits.max_connections // shards),
        max_keepalive_connections=-(-limits.max_keepalive_connections // shards),
        keepalive_expiry=limits.keepalive_expiry,
    )
    clients = [
        httpx.AsyncClient(
            transport=AsyncioTransport(limits=shard_limits, ssl_context=ssl_context()),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
        )
        for _ in range(shards)
    ]
    return _ClientPool(clients)


def shared_client() -> httpx.AsyncClient:
    """A client from the running loop's shared pool (the pool's clients are used in turn)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.clients[0].is_closed:
        # Pools of loops that have been closed cannot be closed any more; drop them.
        for old_loop in [old for old in _pools if old.is_closed()]:
            del _pools[old_loop]
        pool = _pools[loop] = _new_pool()
    pool.turn += 1
    return pool.clients[pool.turn % len(pool.clients)]


async def aclose_shared_client() -> None:
    """Close the running loop's pool (at shutdown, and between tests)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await asyncio.gather(*(client.aclose() for client in pool.clients))


def timeouts(config: HostConfig) -> httpx.Timeout:
    """httpx timeouts from a host's config; `read` is the longest silence between chunks."""
    return httpx.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=max(config.connect_timeout, 30.0),
        pool=config.connect_timeout,
    )
