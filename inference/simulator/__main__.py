"""The simulator from the command line:
`python -m inference.simulator --port 8765 --ttft 0.3 --interval 0.02 --tokens 256`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .scenario import Scenario, default_text
from .server import Simulator


def main(argv: list[str] | None = None) -> None:
    """Serve forever with a default scenario built from the arguments."""
    parser = argparse.ArgumentParser(
        description="Upstream LLM simulator (OpenAI, Anthropic, Gemini)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ttft", type=float, default=0.3, help="seconds before the first token")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--tokens", type=int, default=256, help="answer length in tokens")
    parser.add_argument("--reasoning-tokens", type=int, default=0, help="thinking tokens first")
    args = parser.parse_args(argv)
    scenario = Scenario(
        text=default_text(args.tokens),
        reasoning=default_text(args.reasoning_tokens),
        ttft=args.ttft,
        interval=args.interval,
    )
    simulator = Simulator(args.host, args.port, default=scenario)

    async def run() -> None:
        serving = asyncio.ensure_future(simulator.serve())
        await asyncio.to_thread(simulator._listening.wait, 10)
        print(f"Upstream simulator listening on {simulator.base_url}", flush=True)
        print(f"  OpenAI:    {simulator.openai_base_url}", flush=True)
        print(f"  Anthropic: {simulator.anthropic_base_url}", flush=True)
        print(f"  Gemini:    {simulator.gemini_base_url}", flush=True)
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
