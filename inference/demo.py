"""The offline demo: the upstream simulator registered as providers, so a newcomer with no
keys sees streaming work (`make demo`)."""

from __future__ import annotations

from decimal import Decimal

from inference.models import Model, Provider
from inference.simulator import Scenario, Simulator

DEMO_ANSWER = """Here is a short answer, streamed by the **offline simulator**.

1. Each panel streams on its own; a slow model never holds up a fast one.
2. Time to first token, decode speed, tokens and cost are measured on the server.

```python
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)
```

| model | what it shows |
|-------|---------------|
| fast  | a quick first token |
| steady | a slower, even pace |
"""

DEMO_REASONING = "The user wants a demonstration. I will outline the features, then give code."

# (provider slug, wire kind, model name, label, scenario, input price, output price)
DEMO_MODELS: list[tuple[str, str, str, str, Scenario, str | None, str | None]] = [
    ("sim", "openai", "fast", "Sim Fast", Scenario(text=DEMO_ANSWER, ttft=0.2, interval=0.012),
     "0.15", "0.60"),
    ("sim", "openai", "steady", "Sim Steady", Scenario(text=DEMO_ANSWER, ttft=0.6, interval=0.035),
     "2.50", "10.00"),
    ("sim", "openai", "thinker", "Sim Thinker",
     Scenario(text=DEMO_ANSWER, reasoning=DEMO_REASONING, ttft=0.5, interval=0.02), "1.10", "4.40"),
    ("sim", "openai", "flaky", "Sim Flaky (fails mid-stream)",
     Scenario(text=DEMO_ANSWER, ttft=0.3, interval=0.02, fault="error_event", fault_after=25),
     "0.50", "1.50"),
    ("sim-anthropic", "anthropic", "claude-sim", "Claude Sim",
     Scenario(text=DEMO_ANSWER, reasoning=DEMO_REASONING, ttft=0.4, interval=0.02),
     "3.00", "15.00"),
    ("sim-gemini", "gemini", "gemini-sim", "Gemini Sim",
     Scenario(text=DEMO_ANSWER, ttft=0.3, interval=0.025), None, None),
]  # fmt: skip

PROVIDER_LABELS = {
    "sim": "Simulated (offline)",
    "sim-anthropic": "Simulated Anthropic (offline)",
    "sim-gemini": "Simulated Gemini (offline)",
}


def configure_demo_scenarios(simulator: Simulator) -> None:
    for _slug, _kind, name, _label, scenario, _inp, _out in DEMO_MODELS:
        simulator.set(name, scenario)


def register_simulated_providers(simulator: Simulator) -> list[str]:
    """Create or update the simulated providers and models; returns the model names."""
    urls = {
        "openai": simulator.openai_base_url,
        "anthropic": simulator.anthropic_base_url,
        "gemini": simulator.gemini_base_url,
    }
    names = []
    for slug, kind, name, label, _scenario, input_price, output_price in DEMO_MODELS:
        provider, _ = Provider.objects.update_or_create(
            slug=slug,
            defaults={
                "label": PROVIDER_LABELS[slug],
                "kind": kind,
                "base_url": urls[kind],
                "key_required": False,
                "enabled": True,
            },
        )
        Model.objects.update_or_create(
            provider=provider,
            api_name=name,
            defaults={
                "label": label,
                "input_price": None if input_price is None else Decimal(input_price),
                "output_price": None if output_price is None else Decimal(output_price),
                "supports_reasoning": bool(_scenario.reasoning),
                "enabled": True,
            },
        )
        names.append(f"{slug}:{name}")
    return names
