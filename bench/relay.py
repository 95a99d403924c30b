"""The relay benchmark: what the playground adds to streams, measured end to end.

    python bench/relay.py                      # K=50 clients x M=4 models = 200 streams, 30 s
    python bench/relay.py --clients 10 --models 4 --duration 20 --json
    python bench/relay.py --sweep              # K = 1, 10, 50, 100: how each figure grows
    python bench/relay.py --processes 2        # 2 daphne processes on one port (deploy/)

It starts, each in its own process: the upstream simulator (TTFT 300 ms, a token every
20 ms, 256 tokens, one distinct text per model), a real daphne serving the playground on a
fresh database (a temporary SQLite file, or a database of its own on the PostgreSQL server
that DATABASE_URL names, dropped afterwards), K websocket clients that log in and run
comparisons of M models back to back (their first starts spread evenly over --ramp seconds,
so about K x M streams are open at any moment), and a control client that reads the same
pattern of streams straight from the simulator. Both run at once, so they share the
machine's conditions. Then every client leaves (closing its socket mid-stream), and,
separately and without a target, all K start one comparison in the same instant (burst).

Figures (steady window: after the ramp and a first token, until the first client leaves):
time to first token and inter-token gap, relayed and direct, added time and ratio; tokens
per second; websocket frames per token; daphne's CPU (% of one core) and resident memory
per stream (peak under load minus idle) and after the load; the time from a final token to
its final panel and to save every run; the time from a socket closing to the simulator
seeing each of its upstream requests closed; and any lost, duplicated or reordered text
(each answer is checked character for character, streamed, final and saved).

With --processes N the server is the shipped deployment instead (deploy/serve.sh:
supervisord, N daphne processes on one listening socket) on PostgreSQL and Redis; the
clients connect to the one port and the kernel spreads them; server CPU and memory are
summed over the N processes. Every run ends with a logout check: one user's sockets, on
every process, must all close with 4401 when that user logs out on one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(BENCH), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

from _workers import (  # noqa: E402
    WARM_MODEL,
    expected_text,
    model_name,
    percentile,
)

WORKERS = BENCH / "_workers.py"
SERVE = ROOT / "deploy" / "serve.sh"
SWEEP_CLIENTS = (1, 10, 50, 100)
REQUIRED_KEYS = (
    "streams",
    "added_ttft_ms_p50",
    "added_ttft_ms_p99",
    "ttft_ratio_p50",
    "added_gap_ms_p99",
    "tokens_per_s",
    "frames_per_token",
    "server_cpu_percent",
    "server_rss_kb_per_stream",
    "disconnect_close_ms_p99",
    "lost_chars",
    "errors",
    "server_us_per_token",
    "saturated",
    "processes",
    "logout_ok",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", "-k", type=int, default=50, help="websocket clients (K)")
    parser.add_argument("--models", "-m", type=int, default=4, help="models per comparison (M)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each client runs")
    parser.add_argument("--ramp", type=float, default=3.0, help="first starts spread over this")
    parser.add_argument("--ttft", type=float, default=0.3, help="simulator: s to first token")
    parser.add_argument("--interval", type=float, default=0.02, help="simulator: s per token")
    parser.add_argument("--tokens", type=int, default=256, help="simulator: tokens per answer")
    parser.add_argument("--no-burst", action="store_true", help="skip the burst phase")
    parser.add_argument(
        "--grace",
        type=float,
        default=0.0,
        help="the server's reattach grace (s); close latencies are reported after it",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="serve with N daphne processes on one port (deploy/supervisord.conf); needs "
        "PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sweep", action="store_true", help="run K = 1, 10, 50, 100")
    parser.add_argument(
        "--sweep-clients",
        default=",".join(map(str, SWEEP_CLIENTS)),
        help="the K values of --sweep (comma separated)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="record daphne with py-spy during the steady window (collapsed stacks to FILE)",
    )
    parser.add_argument("--profile-gil", action="store_true", help="py-spy --gil: CPU only")
    parser.add_argument(
        "--patch",
        default="",
        metavar="NAMES",
        help="what-if: serve with these suggested changes patched in (see bench/_patched_asgi.py)",
    )
    parser.add_argument(
        "--dump", type=Path, metavar="FILE", help="write the raw measurements (JSON) to FILE"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.models < 1 or args.tokens < 2:
        parser.error("--clients and --models must be at least 1, --tokens at least 2")
    if args.duration <= args.ramp + args.ttft + 0.5:
        parser.error("--duration must exceed --ramp + --ttft by at least half a second")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.processes > 1:
        database = os.environ.get("DATABASE_URL", "")
        if not database.startswith(("postgres://", "postgresql://", "pgsql://")):
            parser.error(
                "--processes needs DATABASE_URL naming a PostgreSQL server (the bench makes "
                "a database of its own there): several processes cannot share SQLite"
            )
        if not os.environ.get("REDIS_URL"):
            parser.error(
                "--processes needs REDIS_URL (e.g. redis://127.0.0.1:6379/0): several "
                "processes cannot share the in-memory channel layer"
            )
        if args.profile is not None or args.patch:
            parser.error("--profile and --patch run one daphne: not with --processes")
        if not Path(sys.executable).with_name("supervisord").exists():
            parser.error("--processes runs deploy/serve.sh: pip install -e '.[serve]'")
    return args


# --- processes ---------------------------------------------------------------------------------


class Worker:
    """A child process that speaks JSON lines: commands on stdin, events on stdout."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: IO[str], plan: object
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        if plan is not None:
            self.send(plan)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.events.put(json.loads(line))
        self.events.put(None)

    def send(self, payload: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            message = self.events.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: no {event!r} within {timeout:.0f} s") from None
        if message is None:
            raise RuntimeError(f"{self.name} exited (code {self.process.poll()})")
        if message.get("event") != event:
            raise RuntimeError(f"{self.name}: expected {event!r}, got {message}")
        return message

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send({"cmd": "quit"})
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


@dataclass
class Servers:
    """The playground's daphne processes: one started here, or N under supervisord."""

    process: subprocess.Popen[Any]  # daphne itself, or supervisord
    pids: list[int]
    supervised: bool


def start_servers(
    args: argparse.Namespace, env: dict[str, str], port: int, app: str, workdir: Path, log: IO[str]
) -> Servers:
    argv: list[str]
    if args.processes == 1:
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
        daphne = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{port}/accounts/login/", daphne)
        return Servers(daphne, [daphne.pid], supervised=False)
    # The shipped deployment: deploy/serve.sh -> supervisord -> N x daphne --fd 0.
    serve_env = {
        **env,
        "PLAYGROUND_PROCESSES": str(args.processes),
        "PLAYGROUND_BIND": "127.0.0.1",
        "PLAYGROUND_PORT": str(port),
        "PLAYGROUND_RUN_DIR": str(workdir / "run"),
        "PLAYGROUND_DAPHNE": str(Path(sys.executable).with_name("daphne")),
    }
    supervisor = subprocess.Popen(
        [str(SERVE)], cwd=ROOT, env=serve_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    servers = Servers(supervisor, [], supervised=True)
    wait_http(f"http://127.0.0.1:{port}/accounts/login/", supervisor)
    from playground.models import ServerProcess

    # Every process is up when each has named itself in the database (its hub's row).
    deadline = time.monotonic() + 60
    while True:
        servers.pids = daphne_children(supervisor.pid)
        rows = set(ServerProcess.objects.values_list("pid", flat=True))
        if len(servers.pids) == args.processes and set(servers.pids) <= rows:
            return servers
        if supervisor.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{args.processes} daphne processes did not start")
        time.sleep(0.2)


def daphne_children(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return sorted(
            child.pid
            for child in psutil.Process(pid).children()
            if "daphne" in " ".join(child.cmdline())
        )
    return []


def stop_servers(servers: Servers | None) -> None:
    """SIGTERM; each daphne saves its runs within PLAYGROUND_SHUTDOWN_SECONDS; supervisord
    waits for them (stopwaitsecs 20), so it gets longer than a lone daphne."""
    if servers is None:
        return
    if not servers.supervised:
        stop_process(servers.process)
        return
    import psutil

    process = servers.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()
    for pid in servers.pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def socket_owners(pids: list[int], port: int) -> dict[int, int]:
    """Client-side port -> pid of the server process holding the other end (on `port`)."""
    import psutil

    owners = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections("tcp"):
                if conn.raddr and conn.laddr.port == port:
                    owners[conn.raddr.port] = pid
    return owners


def logout_check(relay: Worker, servers: Servers, port: int) -> dict[str, Any]:
    """One user's sockets on every process; a logout on one process must close them all
    with 4401 (through the channel layer for the sockets on the other processes)."""
    pids = servers.pids
    covered: dict[int, int] = {}
    for _ in range(10):  # the kernel picks the process: ask for more until each holds one
        relay.send({"cmd": "logout_open", "count": 4 * len(pids)})
        ports = relay.expect("logout_open", 60)["ports"]
        owners = socket_owners(pids, port)
        covered = {p: owners[p] for p in ports if p in owners}
        if set(covered.values()) == set(pids):
            break
    relay.send({"cmd": "logout", "timeout": 30})
    done = relay.expect("logout", 90)
    logout_pid = socket_owners(pids, port).get(done["http_port"]) if done["http_port"] else None
    relay.send({"cmd": "logout_end"})
    relay.expect("logout_end", 30)
    closes = done["closes"]
    by_code: dict[str, int] = {}
    for _, code, _ in closes:
        by_code[str(code)] = by_code.get(str(code), 0) + 1
    others = [c for c in closes if logout_pid is None or covered.get(c[0]) != logout_pid]
    ok = (
        done["status"] in (200, 302)
        and bool(closes)
        and all(code == 4401 for _, code, _ in closes)
        and set(covered.values()) == set(pids)
    )
    close_ms = [c[2] for c in closes if c[2] is not None]
    return {
        "logout_ok": ok,
        "logout_sockets": len(closes),
        "logout_processes_with_sockets": len(set(covered.values())),
        "logout_other_process_sockets": len(others) if logout_pid is not None else None,
        "logout_close_codes": by_code,
        "logout_close_ms_max": rounded(max(close_ms, default=None)),
    }


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        payload: dict[str, Any] = json.loads(response.read())
        return payload


def stop_process(process: subprocess.Popen[Any] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the database ------------------------------------------------------------------------------


class BenchDatabase:
    """SQLite in a fresh temporary file, or a database of its own on DATABASE_URL's server."""

    def __init__(self, workdir: Path) -> None:
        self.server_url = os.environ.get("DATABASE_URL", "")
        self.name = ""
        if self.server_url.startswith(("postgres://", "postgresql://", "pgsql://")):
            self.name = f"playground_bench_{os.getpid()}"
            parts = urlsplit(self.server_url)
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
            self._admin(f'CREATE DATABASE "{self.name}"')
        elif self.server_url and not self.server_url.startswith("sqlite"):
            raise SystemExit(f"bench/relay.py: unsupported DATABASE_URL {self.server_url!r}")
        else:
            self.url = f"sqlite:///{workdir / 'bench.sqlite3'}"

    @property
    def kind(self) -> str:
        return "postgresql" if self.name else "sqlite"

    def _admin(self, statement: str) -> None:
        import psycopg

        parts = urlsplit(self.server_url)
        admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(statement)

    def drop(self) -> None:
        if self.name:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def bench_redis_url(url: str) -> str:
    """A Redis database of its own on REDIS_URL's server (number 1 + pid % 15): the bench's
    users get ids from 1 as anyone's do, and a logout here must not close a socket of another
    deployment or test run whose per-user groups live on the same Redis."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    return urlunsplit(parts._replace(path=f"/{1 + os.getpid() % 15}"))


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "playground.settings"
    import django

    django.setup()


def populate(args: argparse.Namespace, sim_port: int, password: str) -> None:
    """Migrate, then the simulated provider, its models and K users with a high quota."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from inference.models import Model, Provider
    from playground.models import UserQuota

    call_command("migrate", interactive=False, verbosity=0)
    provider = Provider.objects.create(
        slug="sim",
        label="Simulator",
        kind="openai",
        base_url=f"http://127.0.0.1:{sim_port}/v1",
        key_required=False,
    )
    for name in [model_name(i) for i in range(args.models)] + [WARM_MODEL]:
        Model.objects.create(
            provider=provider,
            api_name=name,
            label=f"Sim {name}",
            input_price="1.00",
            output_price="4.00",
        )
    user_model = get_user_model()
    hashed = make_password(password)
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench{i}", password=hashed) for i in range(args.clients)]
    )
    UserQuota.objects.bulk_create(
        [UserQuota(user=user, comparisons_per_minute=100_000) for user in users]
    )


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def unfinished_runs() -> int:
    from playground.models import Run

    busy = [Run.Status.PENDING, Run.Status.STREAMING]
    return Run.objects.filter(status__in=busy).count()


def check_saved_runs(args: argparse.Namespace) -> dict[str, Any]:
    """Every saved run against the text the simulator sent: done = equal, stopped = prefix."""
    from playground.models import Run

    expected = {f"sim:{model_name(i)}": expected_text(model_name(i), args.tokens)
                for i in range(args.models)}  # fmt: skip
    expected[f"sim:{WARM_MODEL}"] = expected_text(WARM_MODEL, 8)
    counts: dict[str, int] = {}
    lost = errors = 0
    samples: list[str] = []
    for run_id, name, status, text in Run.objects.values_list(
        "pk", "model_name", "status", "text"
    ).iterator():
        counts[status] = counts.get(status, 0) + 1
        want = expected.get(name, "")
        if status == Run.Status.DONE and text == want:
            continue
        if status == Run.Status.STOPPED and want.startswith(text):
            continue
        if status in (Run.Status.DONE, Run.Status.STOPPED):
            common = common_prefix(text, want)
            lost += len(text) - common + (len(want) - common if status == "done" else 0)
        errors += 1
        if len(samples) < 5:
            samples.append(f"run {run_id} ({name}) saved {status} with {len(text)} chars")
    return {"runs": counts, "lost_chars": lost, "errors": errors, "samples": samples}


# --- resource sampling -------------------------------------------------------------------------

MACHINE_BUSY = ("user", "nice", "system", "irq", "softirq")


def process_times() -> dict[int, tuple[str, float]]:
    """CPU seconds of every process of the machine (to name what else was busy)."""
    import psutil

    out = {}
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = process.info["cpu_times"]
        if times is not None:
            label = " ".join((process.info["cmdline"] or [process.info["name"] or "?"])[:3])
            out[process.pid] = (label[:80], times.user + times.system)
    return out


def busiest(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    seconds: float,
    exclude: set[int],
) -> list[str]:
    deltas = [
        (after[pid][1] - before[pid][1], after[pid][0])
        for pid in after
        if pid in before and pid not in exclude
    ]
    deltas.sort(reverse=True)
    shown = [(cpu, label) for cpu, label in deltas[:4] if cpu >= 0.01 * seconds]
    return [f"{cpu / seconds * 100:.0f}% {label}" for cpu, label in shown]


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]  # process name -> CPU seconds (user + system)
    rss_kb: dict[str, float]


@dataclass
class Sampler:
    """CPU time and resident memory of the benchmark's processes, every 100 ms."""

    processes: dict[str, Any]  # name -> psutil.Process, or a list of them (summed)
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def take(self) -> Sample:
        import psutil

        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        for name, group in self.processes.items():
            for process in group if isinstance(group, list) else [group]:
                with contextlib.suppress(psutil.Error), process.oneshot():
                    times = process.cpu_times()
                    cpu[name] = cpu.get(name, 0.0) + times.user + times.system
                    rss[name] = rss.get(name, 0.0) + process.memory_info().rss / 1024
        machine = psutil.cpu_times()
        for part in ("user", "nice", "system", "irq", "softirq", "steal", "iowait"):
            cpu[f"machine_{part}"] = getattr(machine, part, 0.0)
        cpu["machine"] = sum(cpu[f"machine_{part}"] for part in MACHINE_BUSY)
        return Sample(time.monotonic(), cpu, rss)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append(self.take())

    def stop(self) -> None:
        self._stop.set()

    def nearest(self, moment: float) -> Sample:
        return min(self.samples, key=lambda sample: abs(sample.at - moment))

    def cpu_seconds(self, name: str, start: float, end: float) -> tuple[float, float] | None:
        """(CPU seconds of `name`, wall seconds) between the samples nearest start and end."""
        first, last = self.nearest(start), self.nearest(end)
        if name not in first.cpu or name not in last.cpu or last.at <= first.at:
            return None
        return last.cpu[name] - first.cpu[name], last.at - first.at

    def cpu_percent(self, name: str, start: float, end: float) -> float | None:
        measured = self.cpu_seconds(name, start, end)
        return None if measured is None else round(measured[0] / measured[1] * 100, 1)

    def rss_peak(self, name: str, start: float, end: float) -> float:
        values = [s.rss_kb[name] for s in self.samples if start <= s.at <= end and name in s.rss_kb]
        return max(values) if values else 0.0

    def rss_now(self, name: str, seconds: float = 1.0) -> float:
        values = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            values.append(self.take().rss_kb.get(name, 0.0))
            time.sleep(0.1)
        return sorted(values)[len(values) // 2]


# --- the run -----------------------------------------------------------------------------------


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def close_latencies(
    closes: list[dict[str, Any]], records: list[dict[str, Any]], grace: float = 0.0
) -> tuple[list[float], int]:
    """Per client that left mid-comparison: from its close (plus the server's reattach grace)
    to the last of its upstream requests ending. Also the number of requests that never
    ended."""
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_tag.setdefault(record["prompt"], []).append(record)
    latencies, never = [], 0
    for close in closes:
        at, tag = close["at"], close["tag"]
        if not tag or at is None:
            continue
        open_then = [r for r in by_tag.get(tag, []) if r["ended"] is None or r["ended"] > at]
        if not open_then:
            continue  # its streams had all ended upstream; only the saving was left
        never += sum(1 for r in open_then if r["ended"] is None)
        ended = [r["ended"] for r in open_then if r["ended"] is not None]
        if ended:
            latencies.append((max(ended) - at - grace) * 1000)
    return latencies, never


def stages(finals: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Where the added time goes, per relayed stream (ms), by joining the client's clock with
    the simulator's: compare sent -> board received (validation, rows, board HTML); compare
    sent -> upstream request received; simulator's first byte -> first delta at the client;
    simulator's last byte -> final panel at the client (saving and rendering included)."""
    by_key = {(r["prompt"], f"sim:{r['model']}"): r for r in records}
    out: dict[str, list[float]] = {"board": [], "request": [], "first": [], "finish": []}
    for final in finals:
        record = by_key.get((final["tag"], final["model"]))
        if final.get("board") is not None:
            out["board"].append((final["board"] - final["sent"]) * 1000)
        if record is None:
            continue
        out["request"].append((record["started"] - final["sent"]) * 1000)
        if record["first_byte"] is not None and final.get("first") is not None:
            out["first"].append((final["first"] - record["first_byte"]) * 1000)
        if record["completed"] and record["ended"] is not None:
            out["finish"].append((final["at"] - record["ended"]) * 1000)
    return out


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    workdir = Path(tempfile.mkdtemp(prefix="playground-bench-"))
    log = (workdir / "processes.log").open("w")
    database = BenchDatabase(workdir)
    password = secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "relay-bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    if env.get("REDIS_URL"):
        env["REDIS_URL"] = bench_redis_url(env["REDIS_URL"])
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    python = sys.executable
    sim = relay = direct = None
    servers: Servers | None = None
    sampler: Sampler | None = None
    try:
        plan = {"models": args.models, "tokens": args.tokens, "ttft": args.ttft,
                "interval": args.interval, "clients": args.clients}  # fmt: skip
        sim = Worker("simulator", [python, str(WORKERS), "sim"], env, log, plan)
        sim_port = int(sim.expect("listening", 30)["port"])
        stats_url = f"http://127.0.0.1:{sim_port}/_stats"

        setup_django(env)
        populate(args, sim_port, password)
        from playground.conf import playground_settings

        window_s = playground_settings().coalesce_seconds

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = "playground.asgi:application"
        daphne_env = {**env, "PLAYGROUND_REATTACH_GRACE_SECONDS": str(args.grace)}
        if args.patch:
            app = "_patched_asgi:application"
            path = os.pathsep.join([str(BENCH), str(ROOT), env.get("PYTHONPATH", "")])
            daphne_env = {**daphne_env, "BENCH_PATCHES": args.patch, "PYTHONPATH": path}
        servers = start_servers(args, daphne_env, port, app, workdir, log)

        worker_plan = {**plan, "base_url": base_url, "sim_port": sim_port, "password": password}
        relay = Worker("relay clients", [python, str(WORKERS), "relay"], env, log, worker_plan)
        direct = Worker("direct control", [python, str(WORKERS), "direct"], env, log, worker_plan)
        sampler = Sampler(
            {
                "daphne": [psutil.Process(pid) for pid in servers.pids],
                "simulator": psutil.Process(sim.process.pid),
                "relay_clients": psutil.Process(relay.process.pid),
                "direct_client": psutil.Process(direct.process.pid),
                "orchestrator": psutil.Process(),
            }
        ).start()

        setup_timeout = 60 + args.clients * 1.0
        for worker in (relay, direct):
            worker.send({"cmd": "prepare", "login": True})
        for worker in (relay, direct):
            worker.expect("ready", setup_timeout)
        time.sleep(1.0)
        rss_idle = sampler.rss_now("daphne")
        cursor = max((r["id"] for r in get_json(stats_url)["records"]), default=0)

        # --- steady state ---
        t0 = time.monotonic() + 0.5
        t_end = t0 + args.duration
        s0, s1 = t0 + args.ramp, t_end  # comparisons sent here count for TTFT
        w0, w1 = s0 + args.ttft, t_end  # tokens, gaps, CPU and memory under load
        last_close = t_end + args.ramp * (args.clients - 1) / args.clients
        command = {"cmd": "steady", "t0": t0, "duration": args.duration, "ramp": args.ramp,
                   "s0": s0, "s1": s1, "w0": w0, "w1": w1}  # fmt: skip
        relay.send(command)
        direct.send(command)
        time.sleep(max(0.0, w0 - time.monotonic()))
        spy = start_profiler(args, servers.pids[0], w0, w1, log)
        before = process_times()
        time.sleep(max(0.0, w1 - time.monotonic()))
        ours = {p.pid for p in sampler.processes.values() if not isinstance(p, list)}
        ours |= {*servers.pids, servers.process.pid}
        others = busiest(before, process_times(), w1 - w0, ours)
        time.sleep(max(0.0, last_close - time.monotonic()))
        all_saved_at = None
        deadline = time.monotonic() + 60 + args.grace
        while time.monotonic() < deadline:
            if unfinished_runs() == 0:
                all_saved_at = time.monotonic()
                break
            time.sleep(0.01)
        phase_timeout = args.ramp + 120
        if spy is not None:
            spy.wait(timeout=30)
        relayed = relay.expect("steady", phase_timeout)
        directed = direct.expect("steady", phase_timeout)
        # Every upstream request of a closed socket must end; give them 5 s past the grace.
        deadline = time.monotonic() + 5 + args.grace
        while get_json(stats_url)["open"] and time.monotonic() < deadline:
            time.sleep(0.05)
        records = get_json(f"{stats_url}?since={cursor}")["records"]
        relay_close, relay_never = close_latencies(relayed["closes"], records, args.grace)
        direct_close, direct_never = close_latencies(directed["closes"], records)
        stage = stages(relayed["finals"], records)
        if args.dump is not None:
            raw = {"relayed": relayed, "direct": directed, "records": records}
            args.dump.write_text(json.dumps(raw))
        actual_last_close = max((c["at"] for c in relayed["closes"] if c["at"]), default=t_end)
        save_all_ms = ms(all_saved_at - actual_last_close) if all_saved_at else None
        steady_saved = check_saved_runs(args)

        time.sleep(2.0)
        rss_after = sampler.rss_now("daphne")

        # --- burst: all K at once ---
        burst: dict[str, Any] = {}
        if not args.no_burst:
            for worker in (relay, direct):
                worker.send({"cmd": "prepare", "login": False})
            for worker in (relay, direct):
                worker.expect("ready", setup_timeout)
            time.sleep(0.5)
            t_burst = time.monotonic() + 0.5
            timeout = args.ttft + args.tokens * args.interval + 60
            command = {"cmd": "burst", "t": t_burst, "timeout": timeout}
            relay.send(command)
            direct.send(command)
            burst_relay = relay.expect("burst", timeout + 30)
            burst_direct = direct.expect("burst", timeout + 30)
            burst = burst_report(burst_relay, burst_direct)
        logout = logout_check(relay, servers, port)
        final_saved = check_saved_runs(args)
        deadline = time.monotonic() + 10
        while unfinished_runs() and time.monotonic() < deadline:
            time.sleep(0.05)
        unfinished = unfinished_runs()

        streams = args.clients * args.models
        cpu = {name: sampler.cpu_percent(name, w0, w1) for name in sampler.processes}
        breakdown = {
            part: sampler.cpu_percent(f"machine_{part}", w0, w1)
            for part in (*MACHINE_BUSY, "steal", "iowait")
        }
        machine = sampler.cpu_percent("machine", w0, w1)
        server_cpu = sampler.cpu_seconds("daphne", w0, w1)
        rss_load = sampler.rss_peak("daphne", w0, w1)
        r_ttft, d_ttft = relayed["ttft_ms"], directed["ttft_ms"]
        r50, r99 = percentile(r_ttft, 50), percentile(r_ttft, 99)
        d50, d99 = percentile(d_ttft, 50), percentile(d_ttft, 99)
        rg50, rg99 = relayed["gap_p50_ms"], relayed["gap_p99_ms"]
        dg50, dg99 = directed["gap_p50_ms"], directed["gap_p99_ms"]
        window = w1 - w0
        lost = relayed["lost_chars"] + directed["lost_chars"] + final_saved["lost_chars"]
        lost += burst.get("lost_chars", 0)
        errors = (
            relayed["errors"] + directed["errors"] + final_saved["errors"] + relay_never
            + direct_never + unfinished + burst.get("errors", 0) + (not logout["logout_ok"])
        )  # fmt: skip
        logout_samples = [] if logout["logout_ok"] else [f"logout check failed: {logout}"]
        cores = psutil.cpu_count() or 1
        report: dict[str, Any] = {
            "streams": streams,
            "grace_s": args.grace,
            "clients": args.clients,
            "models": args.models,
            "duration_s": args.duration,
            "database": database.kind,
            "channel_layer": "redis" if os.environ.get("REDIS_URL") else "in-memory",
            "processes": args.processes,
            "coalesce_window_ms": window_s * 1000,
            "patches": args.patch,
            "ttft_ms_p50": rounded(r50),
            "ttft_ms_p99": rounded(r99),
            "direct_ttft_ms_p50": rounded(d50),
            "direct_ttft_ms_p99": rounded(d99),
            "added_ttft_ms_p50": rounded(r50 - d50) if r50 is not None and d50 else None,
            "added_ttft_ms_p99": rounded(r99 - d99) if r99 is not None and d99 else None,
            "ttft_ratio_p50": rounded(r50 / d50, 3) if r50 is not None and d50 else None,
            "ttft_samples": len(r_ttft),
            "gap_ms_p50": rounded(rg50),
            "gap_ms_p99": rounded(rg99),
            "direct_gap_ms_p50": rounded(dg50),
            "direct_gap_ms_p99": rounded(dg99),
            "added_gap_ms_p50": rounded(rg50 - dg50) if rg50 is not None and dg50 else None,
            "added_gap_ms_p99": rounded(rg99 - dg99) if rg99 is not None and dg99 else None,
            "tokens_per_s": rounded(relayed["tokens_in_window"] / window, 1),
            "direct_tokens_per_s": rounded(directed["tokens_in_window"] / window, 1),
            "offered_tokens_per_s": rounded(
                streams * args.tokens / (args.ttft + (args.tokens - 1) * args.interval), 1
            ),
            "frames_per_token": rounded(relayed["frames"] / max(relayed["tokens"], 1), 4),
            "server_cpu_percent": cpu["daphne"],
            # Server CPU (all its processes) per token relayed in the window, in µs.
            "server_us_per_token": rounded(server_cpu[0] / relayed["tokens_in_window"] * 1e6, 1)
            if server_cpu is not None and relayed["tokens_in_window"]
            else None,
            # The machine itself was the limit: busy above 90% of all its cores.
            "saturated": machine is not None and machine > 0.9 * cores * 100,
            "simulator_cpu_percent": cpu["simulator"],
            "relay_clients_cpu_percent": cpu["relay_clients"],
            "direct_client_cpu_percent": cpu["direct_client"],
            "machine_cpu_percent": machine,
            "other_cpu_percent": rounded(machine - sum(v for v in cpu.values() if v is not None), 1)
            if machine is not None
            else None,
            "machine_cores": psutil.cpu_count(),
            "machine_cpu_breakdown": breakdown,
            "busiest_other_processes": others,
            "server_rss_kb_idle": round(rss_idle),
            "server_rss_kb_load": round(rss_load),
            "server_rss_kb_per_stream": rounded((rss_load - rss_idle) / streams, 1),
            "server_rss_kb_after": round(rss_after),
            "server_rss_after_vs_idle": rounded(rss_after / rss_idle, 3) if rss_idle else None,
            "board_ms_p50": rounded(percentile(stage["board"], 50)),
            "board_ms_p99": rounded(percentile(stage["board"], 99)),
            "upstream_request_ms_p50": rounded(percentile(stage["request"], 50)),
            "upstream_request_ms_p99": rounded(percentile(stage["request"], 99)),
            "first_delta_ms_p50": rounded(percentile(stage["first"], 50)),
            "first_delta_ms_p99": rounded(percentile(stage["first"], 99)),
            "finish_ms_p50": rounded(percentile(stage["finish"], 50)),
            "finish_ms_p99": rounded(percentile(stage["finish"], 99)),
            "save_all_ms": save_all_ms,
            "disconnect_close_ms_p50": rounded(percentile(relay_close, 50)),
            "disconnect_close_ms_p99": rounded(percentile(relay_close, 99)),
            "disconnect_close_ms_max": rounded(max(relay_close, default=None)),
            "disconnect_samples": len(relay_close),
            "direct_disconnect_close_ms_p99": rounded(percentile(direct_close, 99)),
            "streams_relayed": relayed["streams"],
            "streams_direct": directed["streams"],
            "lost_chars": lost,
            "errors": errors,
            "error_samples": (
                relayed["error_samples"]
                + directed["error_samples"]
                + final_saved["samples"]
                + burst.get("error_samples", [])
                + logout_samples
            )[:10],
            "saved_runs": final_saved["runs"],
            "steady_saved_runs": steady_saved["runs"],
            **{f"burst_{key}": value for key, value in burst.items() if key != "error_samples"},
            **logout,
        }
        return report
    except BaseException:
        log.flush()
        sys.stderr.write(f"bench/relay.py failed; the processes' log is {workdir}/processes.log\n")
        sys.stderr.write((workdir / "processes.log").read_text()[-4000:])
        args.keep = True
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        for running in (relay, direct):
            if running is not None:
                running.stop()
        stop_servers(servers)
        if sim is not None:
            sim.stop()
            stop_process(sim.process)
        log.close()
        with contextlib.suppress(Exception):
            database.drop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def start_profiler(
    args: argparse.Namespace, pid: int, start: float, end: float, log: IO[str]
) -> subprocess.Popen[Any] | None:
    """py-spy on daphne from `start` to `end` (in the background), when --profile asks."""
    if args.profile is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    seconds = max(1, int(end - time.monotonic()))
    argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
            "--format", "raw", "--threads", "--nonblocking"]  # fmt: skip
    argv += ["--output", str(args.profile)]
    if args.profile_gil:
        argv.append("--gil")
    return subprocess.Popen(argv, stdout=log, stderr=log)


def burst_report(relayed: dict[str, Any], directed: dict[str, Any]) -> dict[str, Any]:
    r50, r99 = percentile(relayed["ttft_ms"], 50), percentile(relayed["ttft_ms"], 99)
    d50, d99 = percentile(directed["ttft_ms"], 50), percentile(directed["ttft_ms"], 99)
    return {
        "ttft_ms_p50": rounded(r50),
        "ttft_ms_p99": rounded(r99),
        "direct_ttft_ms_p50": rounded(d50),
        "direct_ttft_ms_p99": rounded(d99),
        "added_ttft_ms_p50": rounded(r50 - d50) if r50 is not None and d50 else None,
        "added_ttft_ms_p99": rounded(r99 - d99) if r99 is not None and d99 else None,
        "gap_ms_p99": rounded(relayed["gap_p99_ms"]),
        "direct_gap_ms_p99": rounded(directed["gap_p99_ms"]),
        "streams": relayed["streams"],
        "lost_chars": relayed["lost_chars"] + directed["lost_chars"],
        "errors": relayed["errors"] + directed["errors"],
        "error_samples": relayed["error_samples"] + directed["error_samples"],
    }


# --- output ------------------------------------------------------------------------------------


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(figure, target, met) for the issue's targets; they are set for 200 streams."""
    window = report["coalesce_window_ms"]

    def at_most(key: str, limit: float) -> bool | None:
        value = report.get(key)
        return None if value is None else value <= limit

    offered = report["direct_tokens_per_s"] or 0
    tokens_ok = report["tokens_per_s"] is not None and report["tokens_per_s"] >= 0.98 * offered
    after = report["server_rss_after_vs_idle"]
    return [
        ("added TTFT p50", "<= 10 ms", at_most("added_ttft_ms_p50", 10)),
        ("added TTFT p99", "<= 30 ms", at_most("added_ttft_ms_p99", 30)),
        ("TTFT ratio p50", "<= 1.05", at_most("ttft_ratio_p50", 1.05)),
        ("added gap p99", f"<= {window + 10:g} ms", at_most("added_gap_ms_p99", window + 10)),
        ("lost chars", "0", report["lost_chars"] == 0),
        ("errors", "0", report["errors"] == 0),
        ("tokens/s", "= direct (within 2%)", tokens_ok),
        ("daphne CPU", "<= 60% of a core", at_most("server_cpu_percent", 60)),
        ("server CPU per token", "<= 60 µs", at_most("server_us_per_token", 60)),
        ("logout closes every socket", "4401 on every process", report["logout_ok"]),
        ("RSS per stream", "<= 250 KB", at_most("server_rss_kb_per_stream", 250)),
        ("RSS after load", "<= idle + 10%", None if after is None else after <= 1.10),
        ("disconnect -> closed p99", "<= 1000 ms", at_most("disconnect_close_ms_p99", 1000)),
    ]


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    return f"{value}{unit}"


def print_report(report: dict[str, Any]) -> None:
    r = report
    print(
        f"relay benchmark: {r['clients']} clients x {r['models']} models = {r['streams']} "
        f"streams, {r['duration_s']:g} s each, {r['database']}, {r['channel_layer']} channel "
        f"layer, {r['machine_cores']} cores, {r['processes']} daphne process"
        f"{'es on one port (deploy/supervisord.conf)' if r['processes'] > 1 else ''}"
    )
    if r["patches"]:
        print(f"WHAT-IF: served with these changes patched in: {r['patches']}")
    rows = [
        ("TTFT p50 ms", r["ttft_ms_p50"], r["direct_ttft_ms_p50"], r["added_ttft_ms_p50"]),
        ("TTFT p99 ms", r["ttft_ms_p99"], r["direct_ttft_ms_p99"], r["added_ttft_ms_p99"]),
        ("gap p50 ms", r["gap_ms_p50"], r["direct_gap_ms_p50"], r["added_gap_ms_p50"]),
        ("gap p99 ms", r["gap_ms_p99"], r["direct_gap_ms_p99"], r["added_gap_ms_p99"]),
        ("tokens/s", r["tokens_per_s"], r["direct_tokens_per_s"], None),
    ]
    print(f"\n  {'steady state':<22}{'relayed':>12}{'direct':>12}{'added':>12}")
    for name, relayed, direct, added in rows:
        print(f"  {name:<22}{fmt(relayed):>12}{fmt(direct):>12}{fmt(added):>12}")
    print(f"  {'TTFT ratio p50':<22}{fmt(r['ttft_ratio_p50']):>12}")
    print(f"\n  frames per token         {fmt(r['frames_per_token'])}")
    print(f"  server CPU per token     {fmt(r['server_us_per_token'])} µs (all daphne processes)")
    if r["saturated"]:
        print("  SATURATED: the machine's CPU was above 90% of its cores; latency is queueing")
    print(
        f"  CPU, % of one core       daphne {fmt(r['server_cpu_percent'])}, simulator "
        f"{fmt(r['simulator_cpu_percent'])}, relay clients {fmt(r['relay_clients_cpu_percent'])}"
        f", direct client {fmt(r['direct_client_cpu_percent'])}; machine "
        f"{fmt(r['machine_cpu_percent'])} of {r['machine_cores'] * 100}, of which other "
        f"processes {fmt(r['other_cpu_percent'])}"
    )
    if (r["other_cpu_percent"] or 0) > 20:
        print("  WARNING: other processes were busy during the run; the figures are skewed")
    parts = ", ".join(f"{k} {v:g}" for k, v in r["machine_cpu_breakdown"].items() if v)
    print(f"  machine CPU by kind      {parts}")
    if r["busiest_other_processes"]:
        print(f"  busiest other processes  {'; '.join(r['busiest_other_processes'])}")
    print(
        f"  daphne RSS               idle {fmt(r['server_rss_kb_idle'])} KB, load "
        f"{fmt(r['server_rss_kb_load'])} KB ({fmt(r['server_rss_kb_per_stream'])} KB/stream), "
        f"after {fmt(r['server_rss_kb_after'])} KB (x{fmt(r['server_rss_after_vs_idle'])})"
    )
    print("  where relayed time goes, p50 / p99 ms:")
    print(
        f"    compare sent -> board received       {fmt(r['board_ms_p50'])} / "
        f"{fmt(r['board_ms_p99'])}\n"
        f"    compare sent -> upstream request     {fmt(r['upstream_request_ms_p50'])} / "
        f"{fmt(r['upstream_request_ms_p99'])}\n"
        f"    upstream first byte -> first delta   {fmt(r['first_delta_ms_p50'])} / "
        f"{fmt(r['first_delta_ms_p99'])}"
    )
    print(
        f"  last token -> final panel p50 {fmt(r['finish_ms_p50'])} ms, p99 "
        f"{fmt(r['finish_ms_p99'])} ms; all runs saved {fmt(r['save_all_ms'])} ms after the "
        "last socket closed"
    )
    print(
        f"  socket closed -> upstream closed p50 {fmt(r['disconnect_close_ms_p50'])} ms, p99 "
        f"{fmt(r['disconnect_close_ms_p99'])} ms, max {fmt(r['disconnect_close_ms_max'])} ms "
        f"({r['disconnect_samples']} clients; direct p99 "
        f"{fmt(r['direct_disconnect_close_ms_p99'])} ms)"
    )
    print(
        f"  checked {r['streams_relayed']} relayed and {r['streams_direct']} direct streams: "
        f"lost/duplicated/reordered chars {r['lost_chars']}, errors {r['errors']}"
    )
    for sample in r["error_samples"]:
        print(f"    ! {sample}")
    print(
        f"  logout closes sockets on every process: {'ok' if r['logout_ok'] else 'FAILED'} "
        f"({r['logout_sockets']} sockets on {r['logout_processes_with_sockets']} process(es), "
        f"{fmt(r['logout_other_process_sockets'])} on others than the logout's; close codes "
        f"{r['logout_close_codes']}, last after {fmt(r['logout_close_ms_max'])} ms)"
    )
    if "burst_ttft_ms_p50" in r:
        print(
            f"\n  burst ({r['clients']} at once, no target): TTFT p50 {fmt(r['burst_ttft_ms_p50'])}"
            f" ms vs direct {fmt(r['burst_direct_ttft_ms_p50'])} ms (+"
            f"{fmt(r['burst_added_ttft_ms_p50'])}), p99 {fmt(r['burst_ttft_ms_p99'])} ms vs "
            f"{fmt(r['burst_direct_ttft_ms_p99'])} ms (+{fmt(r['burst_added_ttft_ms_p99'])}); "
            f"gap p99 {fmt(r['burst_gap_ms_p99'])} vs {fmt(r['burst_direct_gap_ms_p99'])} ms"
        )
    print(f"\n  targets (set for 200 streams on 2 cores; this run has {r['streams']}):")
    for name, target, met in targets(r):
        mark = {True: "ok", False: "MISSED", None: "-"}[met]
        print(f"    {name:<26}{target:<24}{mark}")


SWEEP_ROWS = (
    ("streams", "streams", ""),
    ("added_ttft_ms_p50", "added TTFT p50", " ms"),
    ("added_ttft_ms_p99", "added TTFT p99", " ms"),
    ("ttft_ratio_p50", "TTFT ratio p50", ""),
    ("added_gap_ms_p99", "added gap p99", " ms"),
    ("tokens_per_s", "tokens/s relayed", ""),
    ("direct_tokens_per_s", "tokens/s direct", ""),
    ("frames_per_token", "frames/token", ""),
    ("server_cpu_percent", "daphne CPU %", ""),
    ("server_us_per_token", "server µs/token", ""),
    ("saturated", "saturated", ""),
    ("simulator_cpu_percent", "simulator CPU %", ""),
    ("machine_cpu_percent", "machine CPU %", ""),
    ("server_rss_kb_per_stream", "RSS KB/stream", ""),
    ("server_rss_after_vs_idle", "RSS after/idle", ""),
    ("finish_ms_p99", "token->final p99", " ms"),
    ("save_all_ms", "save all runs", " ms"),
    ("disconnect_close_ms_p99", "close->upstream p99", " ms"),
    ("burst_added_ttft_ms_p50", "burst +TTFT p50", " ms"),
    ("burst_added_ttft_ms_p99", "burst +TTFT p99", " ms"),
    ("lost_chars", "lost chars", ""),
    ("errors", "errors", ""),
)


def print_sweep(reports: list[dict[str, Any]]) -> None:
    print("relay benchmark sweep: how each figure grows with load\n")
    header = "".join(f"{'K=' + str(r['clients']):>12}" for r in reports)
    print(f"  {'':<22}{header}")
    for key, label, unit in SWEEP_ROWS:
        cells = "".join(f"{fmt(r.get(key), unit):>12}" for r in reports)
        print(f"  {label:<22}{cells}")


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each K in a fresh set of processes (its own database, server and simulator)."""
    reports = []
    for clients in [int(k) for k in args.sweep_clients.split(",") if k.strip()]:
        argv = [sys.executable, str(Path(__file__).resolve()), "--json",
                "--clients", str(clients), "--models", str(args.models),
                "--duration", str(args.duration), "--ramp", str(args.ramp),
                "--ttft", str(args.ttft), "--interval", str(args.interval),
                "--tokens", str(args.tokens), "--processes", str(args.processes),
                "--grace", str(args.grace)]  # fmt: skip
        if args.no_burst:
            argv.append("--no-burst")
        print(f"sweep: K={clients} ...", file=sys.stderr, flush=True)
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"sweep: the run with K={clients} failed")
        reports.append(json.loads(done.stdout))
        time.sleep(2)  # let the machine settle
    return reports


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sweep:
        reports = sweep(args)
        if args.json:
            print(json.dumps(reports, indent=1))
        else:
            print_sweep(reports)
        return 0
    report = run_once(args)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    if args.profile is not None and args.profile.exists():
        from _profile import summarize

        print(f"\nprofile of daphne during the steady window ({args.profile}):", file=sys.stderr)
        print(summarize(args.profile), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
