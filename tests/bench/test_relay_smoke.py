"""The relay benchmark, small and end to end, so that it cannot rot: the real processes
(simulator, daphne, websocket clients, direct control) on a database of its own, checked
for structure and correctness, never for timings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "relay.py"


def load_bench() -> ModuleType:
    """bench/ is a folder of scripts, not a package: load the script by its path."""
    name = "bench_relay"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


SMALL = ["--clients", "2", "--models", "2", "--duration", "3", "--ramp", "0.5", "--tokens", "48",
         "--interval", "0.01", "--json"]  # fmt: skip


def run_bench(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    done = subprocess.run(
        [sys.executable, str(BENCH), *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_small_run_relays_every_character() -> None:
    report = run_bench(*SMALL)

    missing = [key for key in load_bench().REQUIRED_KEYS if key not in report]
    assert not missing, missing
    assert report["streams"] == 4
    assert report["lost_chars"] == 0, report["error_samples"]
    assert report["errors"] == 0, report["error_samples"]
    # Streams were relayed, read directly, measured and saved; the burst ran too.
    assert report["streams_relayed"] >= 4 and report["streams_direct"] >= 4
    assert report["ttft_samples"] > 0 and report["tokens_per_s"] > 0
    assert report["frames_per_token"] > 0 and report["server_cpu_percent"] is not None
    assert report["saved_runs"].get("done", 0) >= 4
    assert set(report["saved_runs"]) <= {"done", "stopped"}
    assert report["burst_streams"] == 4 and report["burst_errors"] == 0
    # None only when, by chance, no client was mid-stream when it left.
    close = report["disconnect_close_ms_p99"]
    assert close is None or close >= 0
    assert report["server_us_per_token"] > 0 and isinstance(report["saturated"], bool)
    # A logout closed every socket of the user (one process here: no other to cross to).
    assert report["logout_ok"] and report["logout_sockets"] > 0
    assert report["logout_close_codes"] == {"4401": report["logout_sockets"]}


def _shared_services_missing() -> str:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "--processes needs PostgreSQL (DATABASE_URL)"
    if not os.environ.get("REDIS_URL"):
        return "--processes needs Redis (REDIS_URL)"
    if not Path(sys.executable).with_name("supervisord").exists():
        return "supervisor is not installed (pip install -e '.[serve]')"
    return ""


def test_two_processes_on_one_port_relay_and_log_out_across() -> None:
    """--processes 2: the shipped supervisord configuration on PostgreSQL and Redis (CI sets
    both; there this may not skip): every character relayed, and a logout on one process
    closes the user's sockets on the other through the channel layer."""
    missing = _shared_services_missing()
    if missing:
        if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
            pytest.fail(f"CI runs this test: {missing}")
        pytest.skip(missing)
    report = run_bench(*SMALL, "--processes", "2")
    assert report["processes"] == 2 and report["channel_layer"] == "redis"
    assert report["lost_chars"] == 0, report["error_samples"]
    assert report["errors"] == 0, report["error_samples"]
    assert report["saved_runs"].get("done", 0) >= 4
    assert report["logout_ok"], report
    assert report["logout_processes_with_sockets"] == 2
    assert report["logout_other_process_sockets"] > 0


def test_each_model_streams_a_distinct_text_of_exact_length() -> None:
    load_bench()
    from _workers import expected_text, piece_ends  # bench/ is on the path now

    from inference.simulator import split_pieces

    texts = [expected_text(f"m{i}", 256) for i in range(4)]
    assert len(set(texts)) == 4
    assert all(len(split_pieces(text)) == 256 for text in texts)
    assert expected_text("m0", 256) == texts[0]  # deterministic
    assert piece_ends(texts[0])[-1] == len(texts[0])
    assert any(c in texts[0] for c in "<&\"'")  # escaping is exercised


def test_close_latency_counts_only_requests_open_at_the_close() -> None:
    bench = load_bench()
    closes = [{"client": 0, "at": 10.0, "tag": "relay c0 n3"},
              {"client": 1, "at": 10.0, "tag": ""}]  # fmt: skip
    records = [
        {"prompt": "relay c0 n3", "ended": 10.2},
        {"prompt": "relay c0 n3", "ended": 10.05},
        {"prompt": "relay c0 n3", "ended": 9.0},  # ended before the close
        {"prompt": "relay c0 n2", "ended": 12.0},  # another comparison
    ]
    latencies, never = bench.close_latencies(closes, records)
    assert [round(v) for v in latencies] == [200] and never == 0
    latencies, never = bench.close_latencies(closes, [{"prompt": "relay c0 n3", "ended": None}])
    assert latencies == [] and never == 1
