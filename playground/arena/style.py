"""The Markdown style of an answer, the features Chatbot Arena's style control regresses out.

Li, Angelopoulos and Chiang, "Does style matter? Disentangling style and substance in Chatbot
Arena" (LMSYS blog, 2024-08-29): answer length in tokens and the counts of Markdown headers,
list items and bold spans. As there, code blocks are removed before Markdown is counted (a
`# comment` in a shell snippet is not a header); the length counts the whole answer.
No Django imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from inference.tokens import count_tokens

# CommonMark allows up to three spaces before a fence, a header or a thematic break.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_INLINE_CODE = re.compile(r"(`+)[^`]*?\1")
_BOLD = re.compile(r"\*\*[^\s*](?:[^*\n]*[^\s*])?\*\*|__[^\s_](?:[^_\n]*[^\s_])?__")


@dataclass(frozen=True)
class StyleFeatures:
    """Markdown style of one answer, as Chatbot Arena's style control uses."""

    length: int  # tokens (inference.tokens.count_tokens)
    headers: int  # ATX header lines (#, ##, ... ######)
    lists: int  # list items (-, *, + or 1. / 1) lines)
    bold: int  # **bold** and __bold__ spans

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"style feature {field.name!r} must be a whole number of 0 or more,"
                    f" got {value!r}"
                )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleFeatures:
        """The features back from `as_dict`'s form; keys it does not know are ignored."""
        missing = [field.name for field in fields(cls) if field.name not in data]
        if missing:
            raise ValueError(f"style features lack {', '.join(missing)}")
        return cls(**{field.name: data[field.name] for field in fields(cls)})


def _prose_lines(text: str) -> list[str]:
    """The lines of `text` outside fenced code blocks (an unclosed fence runs to the end)."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
            else:
                lines.append(line)
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not line[match.end() :].strip()
        ):
            fence = None
    return lines


def style_features(text: str) -> StyleFeatures:
    """The style features of one answer's Markdown."""
    headers = lists = bold = 0
    for line in _prose_lines(text):
        if _HEADER.match(line):
            headers += 1
        elif _THEMATIC_BREAK.match(line):
            continue
        elif _LIST_ITEM.match(line):
            lists += 1
        bold += len(_BOLD.findall(_INLINE_CODE.sub("", line)))
    return StyleFeatures(length=count_tokens(text), headers=headers, lists=lists, bold=bold)
