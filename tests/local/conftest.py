"""A tiny causal LM with random weights, saved to a folder and loaded back through the real
`from_pretrained` path, fully offline.

Tests marked `local` need torch and transformers: they are skipped without them, unless
PLAYGROUND_REQUIRE_LOCAL=1 (CI), where a missing extra fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before transformers is imported anywhere: the tests never reach for the hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from inference.backends import local
from inference.backends.base import HostConfig

REQUIRE_ENV = "PLAYGROUND_REQUIRE_LOCAL"
SPECIAL_TOKENS = [
    "<unk>",
    "<pad>",
    "<s>",
    "</s>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a model streams tokens to a panel while the others wait their turn",
    "time to first token and tokens per second tell how fast a model answers",
    "local models run on the gpu or the cpu when there is no gpu",
    "one prompt goes to several models and each answer streams side by side",
] * 20


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("local") is None:
        return
    reason = local.missing_extra_reason()
    if not reason:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires it)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class TinyModel:
    """Where the tiny model lives, and the token ids the tests need."""

    path: Path
    eos_token_id: int

    def backend(self, **options: str) -> local.LocalBackend:
        return local.LocalBackend(
            HostConfig(kind="local", base_url="", options={"path": str(self.path), **options})
        )

    def loaded(self) -> local.LoadedModel:
        """The process-wide cached copy, the same one the backend generates with."""
        return local.load_model(str(self.path), "cpu")


def build_tiny_model(folder: Path) -> int:
    """Train a small BPE tokenizer and save it with a random 2-layer Llama; returns the EOS id.

    EOS is suppressed in the saved generation config, so every run reaches max_tokens and the
    tests never depend on what random weights happen to emit.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(
        CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS)
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id]
    model.save_pretrained(folder)
    return int(tokenizer.eos_token_id)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    folder = tmp_path_factory.mktemp("tiny-llama")
    return TinyModel(path=folder, eos_token_id=build_tiny_model(folder))


@pytest.fixture
def forward_calls(tiny_model: TinyModel) -> Iterator[list[str]]:
    """The name of the thread of every forward pass of the cached tiny model (one per step)."""
    calls: list[str] = []
    model = tiny_model.loaded().model

    def record(*_: Any) -> None:
        import threading

        calls.append(threading.current_thread().name)

    handle = model.register_forward_hook(record)
    try:
        yield calls
    finally:
        handle.remove()
