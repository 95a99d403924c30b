"""Time to first token and decode speed of a local model, for a few prompt and output lengths.

    python bench/local_gpu.py Qwen/Qwen3-0.6B --device cuda
    python bench/local_gpu.py ~/models/tiny --device cpu --prompt-lengths 16,64 --json

The model is loaded the way the playground loads it (same device and dtype choice), then, for
each prompt length P and output length N, `generate` runs greedily on a prompt of exactly P
tokens and is made to produce exactly N tokens. A streamer stamps each new token as it
leaves the device:

- TTFT: from calling `generate` to the first new token (tokenizing excluded, prefill included);
- decode tokens/s: (N - 1) / (last token - first token), the steady speed after prefill.

Each figure is the median of --repeats runs, after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

FILLER = (
    "The playground sends one prompt to several models and streams every answer side by "
    "side, with time to first token, tokens per second, token counts and cost. "
)


@dataclass(frozen=True)
class Row:
    prompt_tokens: int
    output_tokens: int
    ttft_ms: float
    decode_tokens_per_s: float
    total_ms: float


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive: {text!r}")
    return lengths


def prompt_ids(tokenizer: Any, length: int) -> list[int]:
    """Exactly `length` token ids of ordinary text."""
    ids: list[int] = tokenizer(FILLER, add_special_tokens=False)["input_ids"]
    if not ids:
        raise SystemExit("The tokenizer turns the filler text into no tokens.")
    return (ids * (length // len(ids) + 1))[:length]


def time_one(loaded: Any, ids: list[int], new_tokens: int) -> tuple[float, float, float]:
    """(ttft seconds, decode tokens/s, total seconds) of one greedy generate."""
    from transformers.generation.streamers import BaseStreamer

    stamps: list[float] = []

    class Stamps(BaseStreamer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if self.prompt_seen:
                stamps.append(time.perf_counter())
            self.prompt_seen = True

        def end(self) -> None:
            pass

    import torch

    tokenizer = loaded.tokenizer
    input_ids = torch.tensor([ids], device=loaded.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    started = time.perf_counter()
    with torch.inference_mode():
        loaded.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad,
            streamer=Stamps(),
        )
    ended = time.perf_counter()
    decode = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return stamps[0] - started, decode, ended - started


def measure(
    loaded: Any, prompt_lengths: list[int], output_lengths: list[int], repeats: int
) -> list[Row]:
    context = getattr(loaded.model.config, "max_position_embeddings", None)
    time_one(loaded, prompt_ids(loaded.tokenizer, 8), 4)  # warm-up: allocations, kernels
    rows = []
    for prompt_length in prompt_lengths:
        ids = prompt_ids(loaded.tokenizer, prompt_length)
        for output_length in output_lengths:
            if context and prompt_length + output_length > context:
                print(
                    f"skipped {prompt_length}+{output_length}: over the context of {context}",
                    file=sys.stderr,
                )
                continue
            runs = [time_one(loaded, ids, output_length) for _ in range(repeats)]
            rows.append(
                Row(
                    prompt_tokens=prompt_length,
                    output_tokens=output_length,
                    ttft_ms=round(statistics.median(r[0] for r in runs) * 1000, 2),
                    decode_tokens_per_s=round(statistics.median(r[1] for r in runs), 1),
                    total_ms=round(statistics.median(r[2] for r in runs) * 1000, 2),
                )
            )
    return rows


def table(rows: list[Row]) -> str:
    header = ("prompt tok", "output tok", "TTFT ms", "decode tok/s", "total ms")
    lines = [
        (
            str(r.prompt_tokens),
            str(r.output_tokens),
            f"{r.ttft_ms:.1f}",
            f"{r.decode_tokens_per_s:.1f}",
            f"{r.total_ms:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *lines]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="A model folder or hub id.")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--dtype", default=None, help="default, auto, bfloat16, float16, float32")
    parser.add_argument("--prompt-lengths", type=parse_lengths, default=[16, 256, 1024])
    parser.add_argument("--output-lengths", type=parse_lengths, default=[32, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = parser.parse_args(argv)

    from inference.backends import local

    if reason := local.missing_extra_reason():
        print(reason, file=sys.stderr)
        return 2
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    load_started = time.perf_counter()
    loaded = local.load_model(args.model, args.device, args.dtype)
    load_seconds = time.perf_counter() - load_started
    rows = measure(loaded, args.prompt_lengths, args.output_lengths, max(1, args.repeats))
    about = {
        "model": args.model,
        "device": loaded.device,
        "device_name": torch.cuda.get_device_name() if loaded.device == "cuda" else loaded.device,
        "dtype": loaded.dtype,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_seconds": round(load_seconds, 2),
        "repeats": max(1, args.repeats),
    }
    if args.json:
        print(json.dumps({**about, "rows": [asdict(row) for row in rows]}, indent=2))
    else:
        print(", ".join(f"{key} {value}" for key, value in about.items()))
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
