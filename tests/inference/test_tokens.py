"""Offline token counting with tiktoken's bundled cl100k_base."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from inference.backends.base import Message
from inference.tokens import count_prompt_tokens, count_tokens


def test_count_tokens_matches_cl100k() -> None:
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("tiktoken is great!") == 6


def test_special_token_lookalikes_count_as_text() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_prompt_tokens_follow_the_cookbook_framing() -> None:
    messages = [Message(role="user", content="hello world")]
    # 3 framing + "user" (1) + "hello world" (2) + 3 reply priming
    assert count_prompt_tokens(None, messages) == 9
    # the system prompt is one more message: 3 + "system" (1) + "Be brief." (3)
    assert count_prompt_tokens("Be brief.", messages) == 9 + 7


def test_counting_never_touches_the_network(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        from inference.tokens import count_tokens
        print(count_tokens("hello world"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
