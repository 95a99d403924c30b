"""The upstream simulator: a real HTTP/1.1 server on loopback that speaks the OpenAI, Anthropic
and Gemini streaming wire formats as the providers document them, with scripted timing and
faults (the documentation each wire follows is cited in `wires.py`).

Used by the tests, the relay benchmark and the offline demo. It is written on raw asyncio
(keep-alive, chunked streams, content-length bodies) so one core can serve a few hundred
concurrent streams; each answer piece costs one small bytes object and one write.

    sim = Simulator().start_in_thread()
    sim.set("gpt-x", Scenario(text="Hello there", ttft=0.2, interval=0.02))
    ...  # point a backend at sim.openai_base_url / sim.anthropic_base_url / sim.gemini_base_url
    sim.stop()

Command line: `python -m inference.simulator --port 8765 --ttft 0.3 --interval 0.02 --tokens 256`.

- `scenario`: Scenario, the faults, RequestRecord
- `request` / `response`: HTTP/1.1 requests read, responses written
- `wires`: the three wire encoders
- `listing`: the model listings
- `server`: Simulator, the asyncio server and its request handling
"""

from __future__ import annotations

from .listing import MODELS_PAGE_SIZE
from .scenario import (
    CREATED,
    FAULTS,
    MODELS,
    PRE_STREAM_FAULTS,
    RequestRecord,
    Scenario,
    default_text,
    split_pieces,
)
from .server import Simulator

__all__ = [
    "CREATED",
    "FAULTS",
    "MODELS",
    "MODELS_PAGE_SIZE",
    "PRE_STREAM_FAULTS",
    "RequestRecord",
    "Scenario",
    "Simulator",
    "default_text",
    "split_pieces",
]
