"""The local backend without torch and transformers, and the parts that never need them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference.backends import local
from inference.backends.base import (
    BackendUnavailableError,
    ChatRequest,
    HostConfig,
    Message,
    ReasoningDelta,
    TextDelta,
)
from inference.models import Provider


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch and transformers become unimportable for this test only."""
    for name in local.REQUIRED_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


def test_the_missing_extra_gives_the_install_hint(without_extra: None) -> None:
    assert (
        local.missing_extra_reason() == 'the local extra is not installed: pip install ".[local]"'
    )
    assert Provider(slug="local", kind="local", label="Local GPU").unavailable_reason() == (
        local.INSTALL_HINT
    )


async def test_streaming_without_the_extra_raises_unavailable(without_extra: None) -> None:
    backend = local.LocalBackend(HostConfig(kind="local", base_url="", options={"path": "x"}))
    request = ChatRequest(model="x", messages=(Message("user", "hi"),))
    with pytest.raises(BackendUnavailableError, match=r'pip install "\.\[local\]"'):
        async for _ in backend.stream(request):
            pass
    assert await backend.list_models() == ["x"]


def test_importing_the_backend_does_not_import_torch() -> None:
    code = (
        "import sys; import inference.backends.local as m; "
        "assert m.missing_extra_reason() in ('', m.INSTALL_HINT); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_model_name_is_the_last_part() -> None:
    assert local.default_model_name("Qwen/Qwen3-0.6B") == "Qwen3-0.6B"
    assert local.default_model_name("/models/tiny-llama/") == "tiny-llama"
    assert local.default_model_name("gpt2") == "gpt2"


def split(pieces: list[str], *, thinking: bool = False) -> list[tuple[str, str]]:
    splitter = local.ThinkSplitter(thinking=thinking)
    events = [event for piece in pieces for event in splitter.feed(piece)] + splitter.flush()
    merged: list[tuple[str, str]] = []
    for event in events:
        kind = "reasoning" if isinstance(event, ReasoningDelta) else "text"
        assert isinstance(event, ReasoningDelta | TextDelta)
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + event.text)
        else:
            merged.append((kind, event.text))
    return merged


def test_think_markers_route_reasoning_even_when_split_across_pieces() -> None:
    expected = [("reasoning", "let me see"), ("text", "Yes.")]
    assert split(["<think>let me see</think>\n\nYes."]) == expected
    assert split(["<th", "ink>let me", " see</th", "ink>", "\n", "Yes."]) == expected
    assert split(["let me see</think>Yes."], thinking=True) == expected


def test_text_without_markers_is_all_answer() -> None:
    assert split(["Plain ", "answer < 3 and <b>bold</b>"]) == [
        ("text", "Plain answer < 3 and <b>bold</b>")
    ]
    assert split(["Answer first <think>not reasoning</think>"]) == [
        ("text", "Answer first <think>not reasoning</think>")
    ]
    assert split(["<thi"]) == [("text", "<thi")]
    assert split(["<think>cut off"]) == [("reasoning", "cut off")]
