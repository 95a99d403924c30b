"""The local model benchmark runs on the CPU with the tiny model and reports every cell."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.local.conftest import TinyModel

pytestmark = pytest.mark.local
BENCH = Path(__file__).resolve().parents[2] / "bench" / "local_gpu.py"


def load_bench() -> ModuleType:
    """bench/ is a folder of scripts, not a package: load the script by its path."""
    name = "bench_local_gpu"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_json_has_a_row_per_prompt_and_output_length(
    tiny_model: TinyModel, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_bench()
    argv = [str(tiny_model.path), "--device", "cpu", "--prompt-lengths", "8,32"]
    assert bench.main([*argv, "--output-lengths", "4,16", "--repeats", "1", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu"
    cells = [(row["prompt_tokens"], row["output_tokens"]) for row in report["rows"]]
    assert cells == [(8, 4), (8, 16), (32, 4), (32, 16)]
    assert all(row["ttft_ms"] > 0 and row["decode_tokens_per_s"] > 0 for row in report["rows"])


def test_the_table_is_printed(tiny_model: TinyModel, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    argv = [str(tiny_model.path), "--device", "cpu", "--prompt-lengths", "8"]
    assert bench.main([*argv, "--output-lengths", "4", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "TTFT ms" in out and "decode tok/s" in out
