"""Reasoning markers: text inside a leading <think>...</think> is reasoning, the rest the answer."""

from __future__ import annotations

from typing import Literal

from inference.backends.base import ReasoningDelta, TextDelta

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_SplitState = Literal["start", "thinking", "after_thinking", "answer"]


class ThinkSplitter:
    """Routes text inside a leading <think>...</think> to ReasoningDelta, the rest to TextDelta.

    Markers may arrive split across pieces, so a piece that could be the start of one is held.
    """

    def __init__(self, *, thinking: bool = False) -> None:
        self.state: _SplitState = "thinking" if thinking else "start"
        self.saw_reasoning = thinking
        self._held = ""

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        events: list[TextDelta | ReasoningDelta] = []
        text = self._held + text
        self._held = ""
        while text:
            if self.state == "start":
                stripped = text.lstrip()
                if stripped.startswith(THINK_OPEN):
                    self.state, self.saw_reasoning = "thinking", True
                    text = stripped[len(THINK_OPEN) :]
                elif THINK_OPEN.startswith(stripped):
                    self._held = text
                    return events
                else:
                    self.state = "answer"
            elif self.state == "thinking":
                end = text.find(THINK_CLOSE)
                if end >= 0:
                    events.append(ReasoningDelta(text[:end]))
                    self.state, text = "after_thinking", text[end + len(THINK_CLOSE) :]
                    continue
                keep = _partial_marker_length(text, THINK_CLOSE)
                events.append(ReasoningDelta(text[: len(text) - keep]))
                self._held = text[len(text) - keep :]
                text = ""
            elif self.state == "after_thinking":
                text = text.lstrip()
                if text:
                    self.state = "answer"
            else:
                events.append(TextDelta(text))
                text = ""
        return [event for event in events if event.text]

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        held, self._held = self._held, ""
        if not held:
            return []
        return [ReasoningDelta(held) if self.state == "thinking" else TextDelta(held)]


def _partial_marker_length(text: str, marker: str) -> int:
    """The length of the longest end of `text` that begins `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
