"""A tiny causal LM with random weights, saved to a folder and loaded back through the real
`from_pretrained` path, fully offline.

Tests marked `local` need torch and transformers: they are skipped without them, unless
PLAYGROUND_REQUIRE_LOCAL=1 (CI), where a missing extra fails them instead. They run on the CPU,
or on the device PLAYGROUND_LOCAL_DEVICE names (`PLAYGROUND_LOCAL_DEVICE=cuda pytest -m local
tests/local` on a GPU machine; the tiny model is float32 there, so that greedy decoding gives
the same tokens eager and compiled).

These tests also run where only torch, transformers and pytest are installed (the GPU
machine): the local backend is then imported on its own, the tests that need Django are left
out, and async tests run on a plain event loop when pytest-asyncio is missing. Run them there
with `--confcutdir tests/local -p no:django` (bench/gpu_check.sh does).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from inference.backends.local import LoadedModel, LocalBackend

# Before transformers is imported anywhere: the tests never reach for the hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[2]
DEVICE_ENV = "PLAYGROUND_LOCAL_DEVICE"
DEVICE = os.environ.get(DEVICE_ENV, "cpu").strip().lower() or "cpu"
DTYPE = "float32"  # the tiny model's dtype on every device


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def import_local_backend() -> types.ModuleType:
    """inference.backends.local, also where the HTTP backends' dependencies are missing.

    inference/backends/__init__.py imports every backend; the local one needs none of httpx,
    httpx-sse or Django, so without them the package is stood in for by a bare one.
    """
    try:
        from inference.backends import local
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in {"inference", "torch", "transformers"}:
            raise
        shell = types.ModuleType("inference.backends")
        shell.__path__ = [str(ROOT / "inference" / "backends")]
        sys.modules["inference.backends"] = shell
        import inference

        inference.backends = shell
        from inference.backends import local
    return local


local = import_local_backend()
from inference.backends.base import HostConfig  # noqa: E402

STANDALONE = not all(_has(name) for name in ("django", "channels", "httpx", "httpx_sse"))
if STANDALONE:  # no Django here: only the backend's own tests and the benchmark's
    collect_ignore = [
        "test_add_local_model.py",
        "test_local_websocket.py",
        "test_local_without_extra.py",
    ]

if not _has("pytest_asyncio"):

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
        """Async tests on a fresh event loop each, as pytest-asyncio's auto mode runs them."""
        if not inspect.iscoroutinefunction(pyfuncitem.obj):
            return None
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
        return True


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

    def backend(self, **options: str) -> LocalBackend:
        """A backend on the tests' device; `options` add to or replace the defaults."""
        defaults = {"path": str(self.path), "device": DEVICE, "dtype": DTYPE}
        return local.LocalBackend(
            HostConfig(kind="local", base_url="", options={**defaults, **options})
        )

    def loaded(self) -> LoadedModel:
        """The process-wide cached copy, the same one the backend generates with."""
        return local.load_model(str(self.path), DEVICE, DTYPE)


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


class Step(NamedTuple):
    """One forward pass: the thread it ran on and how many tokens it took in."""

    thread: str
    tokens: int


@pytest.fixture
def forward_calls(tiny_model: TinyModel) -> Iterator[list[Step]]:
    """Every forward pass of the cached tiny model (one per decoding step, the prefill first).

    The tests that use it turn compile off: a hook would make torch.compile trace it.
    """
    calls: list[Step] = []
    model = tiny_model.loaded().model

    def record(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        import threading

        ids = kwargs.get("input_ids", args[0] if args else None)
        tokens = int(ids.shape[-1]) if ids is not None else 0
        calls.append(Step(threading.current_thread().name, tokens))

    handle = model.register_forward_hook(record, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()
