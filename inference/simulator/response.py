"""HTTP/1.1 responses as bytes: status lines and headers, chunked bodies, JSON bodies."""

from __future__ import annotations

import json

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}
END = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    # An empty chunk would end the body, so there is none.
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


def response_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_response(status: int, payload: object, extra: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    return response_head(status, {**headers, **(extra or {})}) + body


def stream_head() -> bytes:
    return response_head(
        200,
        {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
        },
    )
