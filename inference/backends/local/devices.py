"""Which device and dtype to run on, and the long-lived threads that run generations there.

Every generation and every warm-up on a device runs on one of that device's worker threads,
which live as long as the process. That is what lets a CUDA graph recorded by torch.compile
("reduce-overhead") be replayed by the next request: PyTorch keeps its graphs per thread, so
a fresh thread per request would record them again each time. With one generation per device
(the default), the device's first worker runs them all.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from inference.backends.base import BadRequestError
from inference.backends.local.runtime import runtime

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("default", "auto", "bfloat16", "float16", "float32")
WORKER_PREFIX = "local-generate"

_T = TypeVar("_T")
logger = logging.getLogger(__name__)


def resolve_device(requested: str | None = None) -> str:
    """The device to run on: the one asked for, else CUDA, else Apple MPS, else CPU."""
    requested = (requested or "auto").strip().lower()
    if requested not in DEVICES:
        raise BadRequestError(f"Unknown device {requested!r}; use one of {', '.join(DEVICES)}.")
    if requested != "auto":
        return requested
    torch = runtime().torch
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(device: str, requested: str | None = None) -> str:
    """A dtype name: bf16 on GPUs that support it, else fp16 on GPUs, fp32 on CPU.

    "auto" keeps the dtype the weights were saved in.
    """
    requested = (requested or "default").strip().lower()
    if requested not in DTYPES:
        raise BadRequestError(f"Unknown dtype {requested!r}; use one of {', '.join(DTYPES)}.")
    if requested != "default":
        return requested
    if device == "cuda":
        return "bfloat16" if runtime().torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "float32"  # float16 matmuls on CPU are slow or unsupported


def synchronize(device: str) -> None:
    """Wait until the device has finished its queued work (a no-op on the CPU)."""
    torch = runtime().torch
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


# --- worker threads -------------------------------------------------------------------------


@dataclass(slots=True)
class Job:
    """`run` on a worker; then `after`, once that worker is back among the idle ones."""

    run: Callable[[], Any]
    after: Callable[[], None] | None = None
    future: Future[Any] | None = None


class _Worker:
    def __init__(self, pool: DeviceWorkers, number: int) -> None:
        self.pool = pool
        self.number = number
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=self._loop, name=f"{WORKER_PREFIX}-{pool.device}-{number}", daemon=True
        )
        self.thread.start()

    def _loop(self) -> None:
        _current.worker = self
        while True:
            job = self.jobs.get()
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.run()
            except BaseException as exc:  # handed to whoever waits on the future
                error = exc
            self.pool._idle_again(self)
            if job.after is not None:
                try:
                    job.after()
                except Exception:  # the worker must outlive any one job
                    logger.exception("A local generation's clean-up failed")
            if job.future is not None:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)


_current = threading.local()


class DeviceWorkers:
    """The worker threads of one device: as many as have ever run at once, lowest first."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._numbers = itertools.count(1)
        self._count = 0

    @property
    def busy(self) -> int:
        """How many workers are running a job now."""
        with self._lock:
            return self._count - len(self._idle)

    @property
    def threads(self) -> int:
        return self._count

    def submit(self, job: Job) -> None:
        """Run `job` on the lowest-numbered idle worker, or on a new one when all are busy."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop(0)
            else:
                self._count += 1
                worker = _Worker(self, next(self._numbers))
        worker.jobs.put(job)

    def call(self, function: Callable[[], _T]) -> _T:
        """`function()` on a worker of this device, waiting for it (inline on a worker itself)."""
        if getattr(_current, "worker", None) is not None:
            return function()
        future: Future[_T] = Future()
        self.submit(Job(run=function, future=future))
        return future.result()

    def _idle_again(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)
            self._idle.sort(key=lambda idle: idle.number)


_pools: dict[str, DeviceWorkers] = {}
_pools_lock = threading.Lock()


def device_workers(device: str) -> DeviceWorkers:
    """The process-wide worker threads of `device`."""
    with _pools_lock:
        return _pools.setdefault(device, DeviceWorkers(device))
