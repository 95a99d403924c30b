"""The local GPU benchmark in its tiny CPU mode: every cell, the checks, the JSON, the table."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.local
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "local_gpu.py"


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


def test_tiny_cpu_run_measures_every_cell_through_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    bench = load_bench()
    assert bench.main(["--device", "cpu", "--tiny", "--json", str(tmp_path / "r.json")]) == 0

    out = capsys.readouterr().out
    assert "TTFT ms" in out and "decode tok/s" in out and "cancel ms" in out
    assert "all checks passed" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert json.loads((tmp_path / "out" / "local_gpu.json").read_text()) == report
    assert report["about"]["device"] == "cpu" and report["failures"] == []
    cells = [(r["mode"], r["prompt_tokens"], r["output_tokens"]) for r in report["rows"]]
    assert cells == [
        ("default", 16, 16),
        ("default", 64, 16),
        ("static", 16, 16),
        ("static", 64, 16),
    ]
    for row in report["rows"]:
        assert row["input_tokens"] == row["prompt_tokens"]  # a word is a token
        assert row["ttft_ms"] > 0 and row["decode_tokens_per_s"] > 0
        assert 0 < row["gpu_s"] <= row["wall_s"]
    assert [m["acceleration"] for m in report["models"]] == [
        "eager, dynamic cache",
        "static cache, eager",
    ]
    assert all(0 <= c["tokens_after_last_seen_max"] <= 2 for c in report["cancels"])
    assert report["about"]["queue"]["tiny"]["queued_at_1"]


def test_the_shapes_are_the_public_configs() -> None:
    bench = load_bench()
    qwen, llama = bench.SHAPES["qwen2.5-0.5b"], bench.SHAPES["llama-3.2-1b"]
    assert (qwen["hidden_size"], qwen["num_hidden_layers"], qwen["vocab_size"]) == (896, 24, 151936)
    assert (qwen["num_attention_heads"], qwen["num_key_value_heads"]) == (14, 2)
    assert (llama["hidden_size"], llama["num_hidden_layers"], llama["vocab_size"]) == (
        2048,
        16,
        128256,
    )
    assert (llama["num_attention_heads"], llama["num_key_value_heads"]) == (32, 8)
    assert llama["rope_scaling"]["rope_type"] == "llama3"


def test_it_runs_without_django_or_the_http_backends(tmp_path: Path) -> None:
    """As on the GPU machine: torch and transformers, but no Django, channels or httpx-sse."""
    code = (
        "import runpy, sys\n"
        "for name in ('django', 'channels', 'httpx', 'httpx_sse'):\n"
        "    sys.modules[name] = None\n"
        f"sys.argv = ['local_gpu.py', '--device', 'cpu', '--tiny', '--modes', 'default',"
        f" '--prompt-lengths', '8', '--json', {str(tmp_path / 'r.json')!r}]\n"
        f"runpy.run_path({str(BENCH)!r}, run_name='__main__')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "OUT"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert [row["prompt_tokens"] for row in report["rows"]] == [8]


def test_a_missing_dependency_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load_bench()
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tokenizers" else real(name)
    )
    assert "tokenizers" in bench.missing_dependency()
