"""One HTTP/1.1 request read off an asyncio stream, and what its JSON body says in any of the
three dialects (messages, system prompts, token limit, API key)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body)


def texts(value: object) -> Iterator[str]:
    """The text of messages, system prompts and parts, in any of the three dialects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "parts"):
            if key in value:
                yield from texts(value[key])


def messages(body: dict[str, Any]) -> object:
    return body.get("messages") or body.get("contents")


def prompt_words(body: dict[str, Any]) -> int:
    keys = ("system", "messages", "systemInstruction", "contents")
    return sum(len(text.split()) for key in keys for text in texts(body.get(key)))


def max_tokens(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    for value in (
        body.get("max_completion_tokens"),
        body.get("max_tokens"),
        config.get("maxOutputTokens") if isinstance(config, dict) else None,
    ):
        if isinstance(value, int) and value >= 0:
            return value
    return None


def key_of(headers: dict[str, str], query: dict[str, str]) -> str:
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:]
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or query.get("key", "")
