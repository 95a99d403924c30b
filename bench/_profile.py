"""Where daphne's time goes: py-spy's collapsed stacks, summed by thread and by function.

    python bench/_profile.py daphne.txt [--top 30] [--match playground]

bench/relay.py --profile daphne.txt records them during the steady window (py-spy must be
installed: pip install py-spy) and prints this summary. "self" is the share of samples in
which a function was the innermost frame, "total" the share in which it was on the stack.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def short(frame: str) -> str:
    """`func (path:line)` as `func (module/file.py)` without line numbers."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = SITE.sub("", match["file"])
    path = re.sub(r"^/work/[^/]+/", "", path)
    return f"{match['func']} ({path})"


# Libraries by what they do for the relay, matched on the innermost frame's file.
AREAS = (
    ("upstream HTTP (httpx, httpcore, h11, anyio)", ("httpx/", "httpcore/", "h11/", "anyio/")),
    ("SSE parsing (httpx_sse)", ("httpx_sse/",)),
    ("JSON", ("json/",)),
    ("Markdown and sanitising", ("markdown_it/", "mdurl/", "nh3", "pygments/", "rendering.py")),
    ("templates", ("django/template/", "django/utils/html", "django/utils/safestring")),
    ("database (Django ORM, driver)", ("django/db/", "sqlite3", "psycopg")),
    ("websocket out (twisted, autobahn, daphne)", ("twisted/", "autobahn/", "daphne/", "txaio/")),
    ("channels, asgiref", ("channels/", "asgiref/")),
    ("playground", ("playground/",)),
    ("inference backends", ("inference/",)),
    ("asyncio, threads, selectors", ("asyncio/", "selectors.py", "concurrent/", "threading.py")),
)


def area(frame: str) -> str:
    for name, needles in AREAS:
        if any(needle in frame for needle in needles):
            return name
    return "other"


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarize(path: Path, top: int = 30, match: str = "") -> str:
    stacks = load(path)
    total = sum(count for _, count in stacks) or 1
    threads: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        threads[thread] += count
        names = [short(frame) for frame in frames[1:]] if thread != "?" else frames
        if names:
            own[names[-1]] += count
            areas[area(frames[-1])] += count
        for name in set(names):
            inclusive[name] += count
    lines = [f"{total} samples"]
    lines.append("by thread:")
    lines += [f"  {count / total:6.1%}  {name}" for name, count in threads.most_common(8)]
    lines.append("self time by area:")
    lines += [f"  {count / total:6.1%}  {name}" for name, count in areas.most_common()]
    lines.append(f"self (innermost frame), top {top}:")
    lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines.append(f"total (on the stack), top {top}" + (f" matching {match!r}:" if match else ":"))
    chosen = [(n, c) for n, c in inclusive.most_common() if match in n][:top]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in chosen]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    print(summarize(args.path, args.top, args.match))


if __name__ == "__main__":
    main()
