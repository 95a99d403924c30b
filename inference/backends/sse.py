"""Server-sent events, split at the byte level.

The event-stream format is the WHATWG HTML standard's
(https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream):
lines end in CRLF, LF or a lone CR; a blank line dispatches the event gathered so far;
`data:` lines are joined with LF; a line starting with a colon is a comment; a field name
is followed by an optional single space; a leading UTF-8 byte order mark is ignored; and an
event cut off before its blank line (the stream ended mid-event) is not dispatched.

`SSEDecoder.feed` takes the body's bytes as they arrive and returns every event they
complete, all at once: several events in one read cost one call, and a token costs no
async generator of its own. The usual event, one `data:` line, takes a single split and a
single decode.

Like httpx-sse (which this replaces on the hot path), an event with an `event:`, `id:` or
`retry:` field but no data is still dispatched, with empty data; the wire-format readers
skip events without data.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable

BOM = b"\xef\xbb\xbf"


class ServerSentEvent:
    """One dispatched event: its type ("message" unless an `event:` line said otherwise),
    its data (the `data:` lines joined by LF) and the last event id seen on the stream."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self,
        event: str,
        data: str,
        id: str = "",
        retry: int | None = None,
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r})"


class SSEDecoder:
    """Incremental event-stream parser: bytes in, complete events out."""

    __slots__ = ("_bom", "_buffer", "_cr", "last_event_id")

    def __init__(self) -> None:
        self._buffer = b""  # the start of an event whose blank line has not come yet
        self._cr = False  # the last chunk ended in CR: an LF first in the next is its CRLF
        self._bom = True  # the stream's first bytes may still be a byte order mark
        self.last_event_id = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that `chunk` completes, in order (often none, often one)."""
        if not chunk:
            return []
        if self._bom:
            head = self._buffer + chunk
            if len(head) < len(BOM) and BOM.startswith(head):
                self._buffer = head
                return []
            self._bom = False
            self._buffer = b""
            chunk = head[len(BOM) :] if head.startswith(BOM) else head
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # CRLF and a lone CR are both one line break: make every break an LF. A CR that
            # ends the chunk is already a break; an LF that follows it in the next chunk is
            # the same break, dropped above.
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\n\n" not in buffer:
            self._buffer = buffer
            return []
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        events: list[ServerSentEvent] = []
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:  # the usual event: one line
                events.append(
                    ServerSentEvent(
                        "message", block[6:].decode("utf-8", "replace"), self.last_event_id
                    )
                )
            elif block:
                event = self._event(block)
                if event is not None:
                    events.append(event)
        return events

    def _event(self, block: bytes) -> ServerSentEvent | None:
        """The event of one block of lines (the text between two blank lines)."""
        kind = b""
        data: list[bytes] = []
        retry: int | None = None
        for line in block.split(b"\n"):
            if not line or line[0] == 0x3A:  # an empty line (leading), or a ":" comment
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                kind = value
            elif name == b"id":
                if b"\0" not in value:
                    self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                retry = int(value)
        if not data and not kind and not self.last_event_id and retry is None:
            return None
        return ServerSentEvent(
            kind.decode("utf-8", "replace") or "message",
            b"\n".join(data).decode("utf-8", "replace"),
            self.last_event_id,
            retry,
        )


async def sse_from_bytes(chunks: AsyncIterable[bytes]) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of a byte stream, framed exactly as a live response's (tests, transcripts)."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
