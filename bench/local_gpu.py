"""The local backend measured through itself: time to first token, decode speed, cancel latency,
and the GPU seconds it reports against wall time.

    python3 bench/local_gpu.py --device cuda                  # Qwen2.5-0.5B and Llama-3.2-1B shapes
    python3 bench/local_gpu.py --device cpu --tiny            # a tiny shape, in seconds, anywhere
    python3 bench/local_gpu.py /models/Qwen2.5-0.5B-Instruct --device cuda   # a model folder
    python3 bench/local_gpu.py --device cuda --json out.json  # also as JSON (and into $OUT)

Without a model path it builds models of the named shapes from the configs in SHAPES (the
public config.json values of Qwen/Qwen2.5-0.5B-Instruct and meta-llama/Llama-3.2-1B-Instruct)
with random weights, bf16 on CUDA, and a word-level tokenizer made on the spot (token i is the
word "w{i}"), so nothing is downloaded and a prompt of P words is exactly P tokens. EOS is
switched off, so every run produces the full output length.

Every figure comes from `LocalBackend.stream` (its queue, its events, its Usage), the model
already loaded and the device free:

- TTFT: from asking the stream for its first event to its first TextDelta (prompt encoding,
  queue and prefill included);
- decode tokens/s: (output tokens - 1) / (last TextDelta - first TextDelta);
- GPU s / wall s: Usage.gpu_seconds against the wall time of the whole stream;
- cancel: from `aclose()` of a stream that is generating to its return (generate has ended,
  the device is free), and how many tokens were counted after the consumer had seen its last;
- queue: a second request while one generates must see Status("queued", position=1).

A mode is a set of the backend's speed switches: "default" (the device's defaults: static
cache, torch.compile and warm-up on CUDA), "eager" (all off), "static" (static cache, eager).
Each figure is the median of --repeats runs after one unrecorded run. The checks (exact
counts, the queue, cancel within a step or two, GPU seconds within wall time) set the exit
status: 0 when all pass.

Needs only torch, transformers (with tokenizers) and this repository: not Django.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

NEEDED = ("torch", "transformers", "tokenizers")
OUT_FILE = "local_gpu.json"
TARGETS = {"shape": "qwen2.5-0.5b", "prompt_tokens": 128, "decode_tokens_per_s": 150, "ttft_ms": 30}

# config.json of Qwen/Qwen2.5-0.5B-Instruct and meta-llama/Llama-3.2-1B-Instruct (the fields
# that set the work per token), and a tiny Llama for the CPU.
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "use_sliding_window": False,
    },
    "llama-3.2-1b": {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
    },
    "tiny": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "max_position_embeddings": 2048,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
    },
}
MODES: dict[str, dict[str, str]] = {
    "default": {},
    "eager": {"static_cache": "off", "compile": "off", "warmup": "off"},
    "static": {"static_cache": "on", "compile": "off", "warmup": "on"},
}


def missing_dependency() -> str:
    """'' when the benchmark can run, else which package is missing and what to do."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return ""
    return (
        f"missing Python package(s): {', '.join(missing)}. The local backend needs torch and "
        'transformers (pip install ".[local]"); transformers brings tokenizers.'
    )


def import_local_backend() -> types.ModuleType:
    """inference.backends.local, also where the HTTP backends' dependencies are missing.

    inference/backends/__init__.py imports every backend; the local one needs none of httpx,
    httpx-sse or Django, so without them the package is stood in for by a bare one.
    """
    try:
        from inference.backends import local
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in {"inference", *NEEDED}:
            raise
        shell = types.ModuleType("inference.backends")
        shell.__path__ = [str(ROOT / "inference" / "backends")]
        sys.modules["inference.backends"] = shell
        import inference

        inference.backends = shell
        from inference.backends import local
    return local


# --- models and prompts ---------------------------------------------------------------------


def word_tokenizer(vocab_size: int) -> Any:
    """Token i is the word "w{i}"; no special tokens but padding (w0), no chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({f"w{i}": i for i in range(vocab_size)}, unk_token="w0"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="w0", pad_token="w0")


def build_shape(local: Any, name: str, device: str, dtype: str) -> tuple[Any, Any, int]:
    """A model of the shape `name` with random weights on `device`, its tokenizer, its size."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from inference.backends.local.runtime import dtype_keyword

    spec = dict(SHAPES[name])
    config = AutoConfig.for_model(spec.pop("model_type"), **spec)
    config.bos_token_id = config.eos_token_id = None
    config.pad_token_id = 0
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, **{dtype_keyword(): getattr(torch, dtype)})
    model.generation_config.eos_token_id = None  # every run makes the full output length
    model.generation_config.pad_token_id = 0
    parameters = sum(p.numel() for p in model.parameters())
    return model, word_tokenizer(config.vocab_size), parameters


def word_prompt(length: int, vocab_size: int, salt: int) -> str:
    """Exactly `length` tokens of the word tokenizer (never w0, the padding)."""
    return " ".join(f"w{1 + (i * 7919 + salt * 104729) % (vocab_size - 1)}" for i in range(length))


def text_prompt(tokenizer: Any, length: int) -> str:
    """About `length` tokens of ordinary text for a real tokenizer (the template adds a few)."""
    filler = (
        "The playground sends one prompt to several models and streams every answer side by "
        "side, with time to first token, tokens per second, token counts and cost. "
    )
    ids: list[int] = tokenizer(filler, add_special_tokens=False)["input_ids"]
    return str(tokenizer.decode((ids * (length // len(ids) + 1))[:length]))


# --- one stream, timed ----------------------------------------------------------------------


@dataclass
class Run:
    ttft_s: float
    decode_tokens_per_s: float
    wall_s: float
    gpu_s: float
    input_tokens: int
    output_tokens: int
    finish: str


async def timed_stream(backend: Any, request: Any) -> Run:
    from inference.backends.base import Finish, TextDelta, Usage

    started = time.perf_counter()
    first = last = 0.0
    usage: Any = None
    finish = ""
    async for event in backend.stream(request):
        now = time.perf_counter()
        if isinstance(event, TextDelta):
            first = first or now
            last = now
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Finish):
            finish = event.reason
    wall = time.perf_counter() - started
    assert usage is not None, "the stream ended without Usage"
    steps = usage.output_tokens - 1
    return Run(
        ttft_s=(first or time.perf_counter()) - started,
        decode_tokens_per_s=steps / (last - first) if steps > 0 and last > first else 0.0,
        wall_s=wall,
        gpu_s=usage.gpu_seconds or 0.0,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        finish=finish,
    )


async def cancel_once(backend: Any, request: Any, after_tokens: int) -> dict[str, float]:
    """Stop a generating stream once `after_tokens` tokens have arrived; time the stop."""
    from inference.backends.base import TextDelta

    stream = backend.stream(request)
    seen = 0
    async for event in stream:
        if isinstance(event, TextDelta):
            seen += len(event.text.split())  # one word per token
            if seen >= after_tokens:
                break
    started = time.perf_counter()
    await stream.aclose()
    latency = time.perf_counter() - started
    counted = backend.partial_usage.output_tokens if backend.partial_usage else -1
    return {"latency_ms": latency * 1000, "tokens_seen": seen, "tokens_counted": counted}


async def queue_check(local: Any, backend: Any, request: Any) -> dict[str, Any]:
    """While one stream generates, a second must be queued first, then run to its end."""
    from inference.backends.base import Finish, Status, TextDelta

    first = backend.stream(request)
    async for event in first:
        if isinstance(event, TextDelta):  # generating (the stream starts it past "generating")
            break
    second = backend.stream(request)
    head = await anext(second)
    rest = [event async for event in second]
    first_rest = [event async for event in first]
    gate = local.device_gate(backend.options.get("device", "cpu"))
    return {
        "second_first_event": str(head),
        "queued_at_1": head == Status("queued", position=1),
        "both_finished": isinstance(rest[-1], Finish) and isinstance(first_rest[-1], Finish),
        "device_idle_after": (gate.running, gate.waiting) == (0, 0),
    }


# --- the measurement ------------------------------------------------------------------------


@dataclass
class Plan:
    device: str
    dtype: str
    prompt_lengths: list[int]
    output_tokens: int
    repeats: int
    modes: list[str]
    cancel_after: int


@dataclass
class Report:
    about: dict[str, Any]
    models: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def request_for(
    model: str, prompt: str, max_tokens: int
) -> Any:  # a ChatRequest with one user message
    from inference.backends.base import ChatRequest, Message

    return ChatRequest(model=model, messages=(Message("user", prompt),), max_tokens=max_tokens)


async def measure_model(
    local: Any, report: Report, label: str, path: str, plan: Plan, words: int | None
) -> None:
    """Every mode and prompt length of one loaded (or adopted) model; rows go to `report`."""
    from inference.backends.base import HostConfig

    for mode in plan.modes:
        options = {"path": path, "device": plan.device, "dtype": plan.dtype, **MODES[mode]}
        backend = local.LocalBackend(HostConfig(kind="local", base_url="", options=options))
        loaded = local.load_model(path, plan.device, plan.dtype)
        acceleration = local.resolve_acceleration(plan.device, options)
        started = time.perf_counter()  # adopted again, to warm up the way this mode does
        loaded = local.adopt_model(
            path, loaded.model, loaded.tokenizer, plan.device, plan.dtype, acceleration
        )
        warm_seconds = time.perf_counter() - started
        report.models.append(
            {
                "model": label,
                "mode": mode,
                "acceleration": loaded.usable(acceleration).describe(),
                "warmup_s": round(warm_seconds, 2),
                "warmup_error": loaded.warmup_error,
            }
        )
        if loaded.warmup_error:
            report.failures.append(f"{label} {mode}: warm-up failed: {loaded.warmup_error}")

        for index, length in enumerate(plan.prompt_lengths):
            tokenizer = loaded.tokenizer
            prompt = (
                word_prompt(length, words, index)
                if words is not None
                else text_prompt(tokenizer, length)
            )
            request = request_for(label, prompt, plan.output_tokens)
            await timed_stream(backend, request)  # unrecorded: first use of this length
            runs = [await timed_stream(backend, request) for _ in range(plan.repeats)]
            row = summarize(label, mode, length, plan.output_tokens, runs)
            report.rows.append(row)
            if words is not None:
                check_row(report, row, runs)
            print(f"  {label} {mode} P={length}: {row_line(row)}", file=sys.stderr, flush=True)

        room = plan.prompt_lengths[0] + 8 * plan.cancel_after
        prompt = word_prompt(16, words, 99) if words is not None else text_prompt(tokenizer, 16)
        cancels = [
            await cancel_once(backend, request_for(label, prompt, room), plan.cancel_after)
            for _ in range(max(1, plan.repeats))
        ]
        cancel: dict[str, Any] = {
            "model": label,
            "mode": mode,
            "latency_ms": round(statistics.median(c["latency_ms"] for c in cancels), 2),
            "latency_ms_max": round(max(c["latency_ms"] for c in cancels), 2),
            "tokens_after_last_seen_max": max(
                c["tokens_counted"] - c["tokens_seen"] for c in cancels
            ),
        }
        report.cancels.append(cancel)
        if words is not None and not 0 <= cancel["tokens_after_last_seen_max"] <= 2:
            report.failures.append(f"{label} {mode}: cancel counted {cancels}")

        if mode == plan.modes[0]:
            long_enough = max(64, plan.output_tokens)  # still generating when the second asks
            queue = await queue_check(local, backend, request_for(label, prompt, long_enough))
            report.about.setdefault("queue", {})[label] = queue
            if not all(value for key, value in queue.items() if key != "second_first_event"):
                report.failures.append(f"{label}: queue check {queue}")


def summarize(label: str, mode: str, length: int, output: int, runs: list[Run]) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    wall = median([r.wall_s for r in runs])
    gpu = median([r.gpu_s for r in runs])
    return {
        "model": label,
        "mode": mode,
        "prompt_tokens": length,
        "input_tokens": runs[0].input_tokens,
        "output_tokens": runs[0].output_tokens,
        "requested_output_tokens": output,
        "ttft_ms": round(median([r.ttft_s for r in runs]) * 1000, 2),
        "decode_tokens_per_s": round(median([r.decode_tokens_per_s for r in runs]), 1),
        "wall_s": round(wall, 4),
        "gpu_s": round(gpu, 4),
        "gpu_over_wall": round(gpu / wall, 3) if wall else 0.0,
        "runs": len(runs),
    }


def check_row(report: Report, row: dict[str, Any], runs: list[Run]) -> None:
    where = f"{row['model']} {row['mode']} P={row['prompt_tokens']}"
    for run in runs:
        if run.input_tokens != row["prompt_tokens"]:
            report.failures.append(f"{where}: counted {run.input_tokens} input tokens")
        if run.output_tokens != row["requested_output_tokens"] or run.finish != "length":
            report.failures.append(f"{where}: {run.output_tokens} tokens, finish {run.finish}")
        if not 0 < run.gpu_s <= run.wall_s:
            report.failures.append(f"{where}: GPU {run.gpu_s:.4f} s, wall {run.wall_s:.4f} s")


def row_line(row: dict[str, Any]) -> str:
    return (
        f"TTFT {row['ttft_ms']:.1f} ms, {row['decode_tokens_per_s']:.1f} tok/s, "
        f"GPU/wall {row['gpu_over_wall']:.2f}"
    )


def table(report: Report) -> str:
    header = (
        "model",
        "mode",
        "prompt tok",
        "output tok",
        "TTFT ms",
        "decode tok/s",
        "GPU s",
        "wall s",
    )
    lines: list[tuple[str, ...]] = [
        (
            r["model"],
            r["mode"],
            str(r["input_tokens"]),
            str(r["output_tokens"]),
            f"{r['ttft_ms']:.1f}",
            f"{r['decode_tokens_per_s']:.1f}",
            f"{r['gpu_s']:.3f}",
            f"{r['wall_s']:.3f}",
        )
        for r in report.rows
    ]
    cancel_header = ("model", "mode", "cancel ms (median)", "cancel ms (max)", "tokens after")
    cancel_lines: list[tuple[str, ...]] = [
        (
            c["model"],
            c["mode"],
            f"{c['latency_ms']:.1f}",
            f"{c['latency_ms_max']:.1f}",
            str(c["tokens_after_last_seen_max"]),
        )
        for c in report.cancels
    ]
    return _grid(header, lines) + "\n\n" + _grid(cancel_header, cancel_lines)


def _grid(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *lines]
    )


def machine(local: Any, plan: Plan) -> dict[str, Any]:
    import torch
    import transformers

    about: dict[str, Any] = {
        "device": plan.device,
        "dtype": plan.dtype,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "prompt_lengths": plan.prompt_lengths,
        "output_tokens": plan.output_tokens,
        "repeats": plan.repeats,
        "modes": plan.modes,
        "targets": TARGETS,
    }
    if plan.device == "cuda":
        about["device_name"] = torch.cuda.get_device_name()
        about["capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        about["cuda"] = torch.version.cuda
    return about


def compile_counters() -> dict[str, dict[str, int]]:
    """torch._dynamo's counters (graphs compiled, recompiles, graph breaks), where readable."""
    try:
        from torch._dynamo.utils import counters
    except Exception:
        return {}
    return {
        group: {str(key): int(value) for key, value in values.items()}
        for group, values in counters.items()
        if group in {"stats", "inductor", "frames", "recompiles", "graph_break"}
    }


def write(report: Report, paths: list[Path]) -> None:
    data = {**asdict(report), "compile_counters": compile_counters()}
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")


def target_verdict(report: Report) -> str:
    """The issue's target for the 0.5B shape at 128 prompt tokens, in the default mode."""
    for row in report.rows:
        if (row["model"], row["mode"], row["prompt_tokens"]) == (
            TARGETS["shape"],
            "default",
            TARGETS["prompt_tokens"],
        ):
            met = (
                row["decode_tokens_per_s"] >= TARGETS["decode_tokens_per_s"]
                and row["ttft_ms"] < TARGETS["ttft_ms"]
            )
            return f"{'met' if met else 'missed'}: {row_line(row)}"
    return "not measured"


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


def parse_names(known: dict[str, Any]) -> Any:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; use some of {', '.join(known)}")
        return names

    return parse


async def run(args: argparse.Namespace, local: Any, paths: list[Path]) -> Report:
    import torch

    device = local.resolve_device(args.device)
    dtype = local.resolve_dtype(device, args.dtype)
    tiny = args.tiny
    plan = Plan(
        device=device,
        dtype=dtype,
        prompt_lengths=args.prompt_lengths or ([16, 64] if tiny else [128, 2048]),
        output_tokens=args.output_tokens or (16 if tiny else 256),
        repeats=max(1, args.repeats or (1 if tiny else 3)),
        modes=args.modes or (["default", "eager"] if device == "cuda" else ["default", "static"]),
        cancel_after=args.cancel_after or (4 if tiny else 32),
    )
    report = Report(about=machine(local, plan))
    if args.model:
        started = time.perf_counter()
        local.load_model(args.model, device, dtype, local.Acceleration())
        report.about["load_s"] = round(time.perf_counter() - started, 2)
        await measure_model(
            local, report, local.default_model_name(args.model), args.model, plan, None
        )
        return report
    for name in args.shapes or (["tiny"] if tiny else ["qwen2.5-0.5b", "llama-3.2-1b"]):
        started = time.perf_counter()
        model, tokenizer, parameters = build_shape(local, name, device, dtype)
        path = f"shape:{name}"
        local.adopt_model(path, model, tokenizer, device, dtype, local.Acceleration())
        report.about.setdefault("shapes", {})[name] = {
            "parameters": parameters,
            "build_s": round(time.perf_counter() - started, 2),
            "config": SHAPES[name],
        }
        print(f"{name}: {parameters / 1e6:.0f}M parameters on {device} ({dtype})", file=sys.stderr)
        try:
            await measure_model(local, report, name, path, plan, len(tokenizer))
        finally:
            if device == "cuda":
                report.about["shapes"][name]["max_memory_gib"] = round(
                    torch.cuda.max_memory_allocated() / 2**30, 2
                )
            local.unload_all()
            del model, tokenizer
            if device == "cuda":
                torch._dynamo.reset()  # the next shape compiles afresh, within dynamo's limits
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            write(report, paths)  # what was measured survives a later failure or timeout
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="A model folder or hub id (default: --shapes).")
    parser.add_argument("--shapes", type=parse_names(SHAPES), help=f"Of {', '.join(SHAPES)}.")
    parser.add_argument("--tiny", action="store_true", help="The tiny shape, short lengths.")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--dtype", default=None, help="default, auto, bfloat16, float16, float32")
    parser.add_argument("--prompt-lengths", type=parse_lengths, help="Default 128,2048.")
    parser.add_argument("--output-tokens", type=int, help="Default 256.")
    parser.add_argument("--repeats", type=int, help="Default 3.")
    parser.add_argument("--modes", type=parse_names(MODES), help="Default: default and eager.")
    parser.add_argument("--cancel-after", type=int, help="Tokens before the stop (default 32).")
    parser.add_argument("--json", type=Path, help="Also write the report as JSON here.")
    args = parser.parse_args(argv)

    if reason := missing_dependency():
        print(f"bench/local_gpu.py cannot run: {reason}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    local = import_local_backend()
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    paths = [args.json] if args.json else []
    if os.environ.get("OUT"):
        paths.append(Path(os.environ["OUT"]) / OUT_FILE)
    report = asyncio.run(run(args, local, paths))
    report.about["target"] = target_verdict(report)
    write(report, paths)
    print(", ".join(f"{k} {v}" for k, v in report.about.items() if not isinstance(v, dict | list)))
    print(table(report))
    for failure in report.failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    print("all checks passed" if not report.failures else f"{len(report.failures)} checks failed")
    return 0 if not report.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
