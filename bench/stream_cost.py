"""CPU per token of reading upstream streams, without the rest of the relay.

    python bench/stream_cost.py                 # 200 streams of 256 tokens, both readers
    python bench/stream_cost.py --streams 50 --reader backend
    python bench/stream_cost.py --repeat 3      # the median of three runs (and each run)

`backend` reads through the project's own OpenAI backend (the shared httpx client on the
asyncio transport of inference/backends/aionet.py, the byte-level SSE reader, orjson, retries
and timeouts: exactly what each panel's task runs); `raw` reads the same streams with the
benchmark's lean asyncio reader, as a floor. The simulator runs in its
own process (TTFT 300 ms, a token every 20 ms). CPU is this process's user + system time
over the tokens read, so the figure is what each token costs the server, whatever the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for path in (str(BENCH), str(BENCH.parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

from _workers import DirectWorker, Meter, model_name  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def read_backend(port: int, streams: int) -> int:
    from inference.backends.base import ChatRequest, HostConfig, Message, TextDelta
    from inference.backends.openai import OpenAIBackend

    backend = OpenAIBackend(HostConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1"))
    request = ChatRequest(
        model=model_name(0), messages=(Message(role="user", content="cost"),), max_tokens=4096
    )
    tokens = 0

    async def one() -> None:
        nonlocal tokens
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                tokens += 1

    await asyncio.gather(*(one() for _ in range(streams)))
    return tokens


async def read_raw(port: int, streams: int, tokens: int) -> int:
    worker = DirectWorker({"sim_port": port, "models": 1, "tokens": tokens, "clients": streams})
    meter = Meter()
    await asyncio.gather(*(client.batch("cost", meter, count=False) for client in worker.clients))
    if meter.errors:
        raise SystemExit(f"raw reader: {meter.error_samples}")
    return meter.tokens


def measure(reader: str, port: int, args: argparse.Namespace) -> dict[str, float]:
    async def run() -> tuple[int, float, float]:
        if reader == "backend":
            await read_backend(port, 1)  # imports and the pool, outside the measurement
        started_cpu, started = cpu_seconds(), time.monotonic()
        if reader == "backend":
            count = await read_backend(port, args.streams)
        else:
            count = await read_raw(port, args.streams, args.tokens)
        cpu, wall = cpu_seconds() - started_cpu, time.monotonic() - started
        if reader == "backend":  # a repeat starts from an empty pool, as the first run did
            from inference.backends.http import aclose_shared_client

            await aclose_shared_client()
        return count, cpu, wall

    count, cpu, wall = asyncio.run(run())
    return {
        "streams": args.streams,
        "tokens": count,
        "us_per_token": round(cpu / max(count, 1) * 1e6, 1),
        "cpu_percent": round(cpu / wall * 100, 1),
        "tokens_per_s": round(count / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--reader", choices=("backend", "raw", "both"), default="both")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per reader; the median run is reported"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    plan = {"models": 1, "tokens": args.tokens, "ttft": 0.3, "interval": 0.02, "clients": 1}
    sim = subprocess.Popen(
        [sys.executable, str(BENCH / "_workers.py"), "sim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdin is not None and sim.stdout is not None
        sim.stdin.write(json.dumps(plan) + "\n")
        sim.stdin.flush()
        port = int(json.loads(sim.stdout.readline())["port"])
        readers = ["backend", "raw"] if args.reader == "both" else [args.reader]
        results: dict[str, dict[str, object]] = {}
        for reader in readers:
            runs = sorted(
                (measure(reader, port, args) for _ in range(max(1, args.repeat))),
                key=lambda run: run["us_per_token"],
            )
            results[reader] = {
                **runs[len(runs) // 2],
                "runs_us_per_token": [run["us_per_token"] for run in runs],
            }
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    if args.json:
        print(json.dumps(results))
    else:
        for reader, result in results.items():
            print(
                f"{reader:8} {result['streams']} streams, {result['tokens']} tokens: "
                f"{result['us_per_token']} us of CPU per token, {result['cpu_percent']}% of a "
                f"core at {result['tokens_per_s']:,.0f} tokens/s"
                + (f" (median of {result['runs_us_per_token']})" if args.repeat > 1 else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
