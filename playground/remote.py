"""Following a comparison that streams in another process, through the channel layer.

Only what must cross processes crosses: a socket that attaches on process B to a comparison
streaming on process A asks A (through the comparison's group) to follow it; A then sends
that socket its board and frames (`live.frame`), and B forwards its stops and its leaving.
The ordinary path (a socket on the process that streams) never touches the channel layer.
"""

from __future__ import annotations

from typing import Any

ATTACH = "live.attach"
STOP = "live.stop"
DETACH = "live.detach"
FRAME = "live.frame"


def group_for(comparison_id: int) -> str:
    """The group of the hubs streaming one comparison (one, normally)."""
    return f"live-comparison-{comparison_id}"


async def attach(layer: Any, comparison_id: int, user_id: int, reply: str) -> None:
    await layer.group_send(
        group_for(comparison_id),
        {"type": ATTACH, "comparison": comparison_id, "user": user_id, "reply": reply},
    )


async def stop(layer: Any, comparison_id: int, user_id: int, run_id: int | None) -> None:
    await layer.group_send(
        group_for(comparison_id),
        {"type": STOP, "comparison": comparison_id, "user": user_id, "run": run_id},
    )


async def detach(layer: Any, comparison_id: int, reply: str) -> None:
    await layer.group_send(
        group_for(comparison_id), {"type": DETACH, "comparison": comparison_id, "reply": reply}
    )


def frame(comparison_id: int, text: str) -> dict[str, Any]:
    return {"type": FRAME, "comparison": comparison_id, "text": text}
