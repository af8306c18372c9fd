"""Batch files on a Ray cluster: the same file tasks, manifest and resume as the local executor, with the
files spread over the cluster's workers.

The coordinator (:func:`engine.batch.run_batch`) keeps the walk, the manifest, skip-done and resume; this
executor only decides *where* each item runs. Each worker is a Ray actor (:class:`FileWorker`) holding one
process for one task and resource shape, reused for every file it gets, so a model is loaded once per worker
(the process-wide model cache) rather than once per file; an actor asks Ray for ``gpus_per_task`` GPUs, so
GPU work lands on GPU nodes and Ray hides the other GPUs from it. Workers call
:func:`~engine.batch.executor.run_item`, exactly what the local executor runs.

Files: a worker reads the input from its path when it sees the same file there (same size and modification
time: shared storage, or its own node); otherwise the coordinator ships the bytes (at most
``ship_limit_bytes``, :data:`SHIP_LIMIT_BYTES` by default). A worker writes the outputs itself when it
reaches the output folder (its node is the coordinator's, or it sees a probe file the coordinator puts
there); otherwise it writes them into its own scratch folder and returns the bytes, and the coordinator
writes them atomically.

Failures: a file whose task raises is a failed file, as everywhere. A worker process that dies (killed,
out of memory, node lost) is replaced and its file retried, at most ``max_attempts`` times in all; a file
that keeps killing its workers is reported failed, never dropped. Cancel stops handing out files and asks
the running ones to stop (their tasks poll the cancel token); a worker that does not stop within
``stop_grace_s`` is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.batch.executor import FAILED, BatchItem, FileResult, error_text, run_item
from engine.errors import Cancelled, VocalisError
from engine.fileio import TEMP_MARK, atomic_path
from engine.jobs.progress import CancelToken, Progress
from engine.tasks.registry import FileTask

INSTALL_HINT = 'the ray backend needs Ray: pip install "vocalis[cluster]" (or pip install "ray>=2.40")'
# Inputs a worker cannot see are shipped through Ray's object store up to this size; a bigger one fails
# with a message asking for shared storage (the object store of a small node is a few GiB in all).
SHIP_LIMIT_BYTES = 512 * 2**20
POLL_S = 0.25  # how often the coordinator collects the workers' progress


def require_ray():
    """The ``ray`` module, or a :class:`VocalisError` saying how to install it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise VocalisError(INSTALL_HINT) from exc
    return ray


def ray_available() -> bool:
    """Whether Ray is installed (without importing it: that takes a while)."""
    return importlib.util.find_spec("ray") is not None


def ray_connected() -> bool:
    """Whether this process is connected to a Ray cluster."""
    return ray_available() and require_ray().is_initialized()


# -- the worker --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back for one file: the result, or that it needs the input's bytes, or that it
    stopped because it was cancelled. ``files`` holds the outputs' bytes when the worker could not write
    them where they belong."""

    status: str = ""
    error: str = ""
    outputs: tuple[Path, ...] = ()
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    files: dict[str, bytes] | None = None
    needs_input: bool = False
    cancelled: bool = False


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class FileWorker:
    """One worker process for one task: processes one file at a time (``process``), while ``poll`` and
    ``cancel`` answer on other threads of the actor. The task's models stay in this process's model cache
    from one file to the next."""

    def __init__(self, cpu_threads: int):
        import torch

        torch.set_num_threads(max(1, cpu_threads))
        self._cancel = CancelToken()
        self._latest: tuple[float, str] = (0.0, "")

    def identity(self) -> tuple[str, int]:
        """(node id, process id): where this worker runs."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def sees(self, path: str, token: str) -> bool:
        """Whether ``path`` here holds ``token``: the folder the coordinator wrote it to is shared."""
        try:
            return Path(path).read_text(encoding="utf-8") == token
        except OSError:
            return False

    def poll(self) -> tuple[float, str]:
        return self._latest

    def cancel(self) -> None:
        self._cancel.cancel()

    def process(self, task: FileTask, settings: Any, item: BatchItem, input_stat: tuple[int, int] | None,
                payload: bytes | None, writes_outputs: bool) -> _Outcome:
        self._cancel = CancelToken()
        self._latest = (0.0, "")

        def remember(update) -> None:
            self._latest = (update.fraction, update.message)

        with tempfile.TemporaryDirectory(prefix="vocalis-ray-") as scratch_dir:
            scratch = Path(scratch_dir)
            here = item
            if payload is not None:
                local_input = scratch / "in" / item.input.name
                local_input.parent.mkdir()
                local_input.write_bytes(payload)
                here = dataclasses.replace(here, input=local_input)
            elif input_stat is not None and _stat_key(item.input) != input_stat:
                return _Outcome(needs_input=True)
            if not writes_outputs:
                here = _rebased(here, scratch / "out")
            try:
                result = run_item(task, settings, here, Progress(remember), self._cancel)
            except Cancelled:
                return _Outcome(cancelled=True)
            error = result.error.replace(str(here.input), str(item.input)) if result.error else ""
            if writes_outputs or result.status == FAILED:
                return _Outcome(result.status, error, result.outputs, result.timings)
            files = {str(final): local.read_bytes() for final, local in zip(item.outputs, here.outputs)}
            return _Outcome(result.status, error, item.outputs, result.timings, files)


def _rebased(item: BatchItem, folder: Path) -> BatchItem:
    """The item with its outputs moved from beside its output stem into ``folder``."""
    base = item.output_stem.parent
    try:
        outputs = tuple(folder / Path(p).relative_to(base) for p in item.outputs)
    except ValueError as exc:
        raise VocalisError(f"{item.input}: its outputs are not all under {base}; the worker cannot write "
                           "them for the coordinator") from exc
    return dataclasses.replace(item, output_stem=folder / item.output_stem.name, outputs=outputs)


# -- the coordinator's side ------------------------------------------------------------------------------

@dataclass(eq=False)
class _Slot:
    actor: Any
    gpus: float
    node_id: str = ""
    pid: int = 0


@dataclass
class _Running:
    slot: _Slot
    index: int
    started: float


class RayExecutor:
    """Runs batch items on Ray actors (see the module docstring).

    ``address``: None starts a Ray instance on this machine for the run (closed by :meth:`close`); "auto"
    joins the cluster this machine belongs to; "HOST:PORT" joins that one. When Ray is already initialised
    in this process, that connection is used. ``max_in_flight``: files processed at once, one worker each
    (default: as many as the cluster's CPUs/GPUs fit; workers are added only for resources free when a run
    starts, at least one). ``gpus_per_task``: None asks for one GPU per worker
    when the task runs on a device that is not "cpu" and the cluster has GPUs. ``shared_storage``: None
    finds out per node; False makes every worker get inputs as bytes and return outputs as bytes (what a
    node without the shared folders does); True trusts that every node sees the coordinator's paths.
    """

    def __init__(self, address: str | None = None, *, gpus_per_task: float | None = None,
                 cpus_per_task: float = 1.0, max_in_flight: int | None = None, max_attempts: int = 3,
                 ship_limit_bytes: int = SHIP_LIMIT_BYTES, shared_storage: bool | None = None,
                 stop_grace_s: float = 30.0, start_timeout_s: float = 300.0, temp_dir: str | None = None):
        self.address = address
        self.gpus_per_task = gpus_per_task
        self.cpus_per_task = cpus_per_task
        self.max_in_flight = max_in_flight
        self.max_attempts = max(1, max_attempts)
        self.ship_limit_bytes = ship_limit_bytes
        self.shared_storage = shared_storage
        self.stop_grace_s = stop_grace_s
        self.start_timeout_s = start_timeout_s
        self.temp_dir = temp_dir
        self.worker_deaths = 0  # worker processes lost while holding a file, over this executor's life
        self._started_ray = False
        self._pools: dict[tuple, list[_Slot]] = {}
        self._reaches_outputs: dict[str, bool] = {}
        self._lock = threading.Lock()

    # -- connection and workers

    def connect(self):
        """Join (or start) the cluster; returns the ``ray`` module."""
        ray = require_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False,
                                       "log_to_driver": False}
            if self.address is None and self.temp_dir:
                options["_temp_dir"] = self.temp_dir
            ray.init(address=self.address, **options)
            self._started_ray = self.address is None
        return ray

    def close(self) -> None:
        """Let the workers go, and stop the Ray instance this executor started."""
        ray = require_ray()
        with self._lock:
            pools, self._pools = self._pools, {}
        if ray.is_initialized():
            for slots in pools.values():
                for slot in slots:
                    with contextlib.suppress(Exception):
                        ray.kill(slot.actor)
            if self._started_ray:
                ray.shutdown()
        self._started_ray = False

    def _gpus(self, task: FileTask, settings: Any, resources: dict[str, float]) -> float:
        if self.gpus_per_task is not None:
            return self.gpus_per_task
        wants_device = task.device_field is not None and getattr(settings, task.device_field, "cpu") != "cpu"
        return 1.0 if wants_device and resources.get("GPU", 0) >= 1 else 0.0

    def _workers(self, ray, task: FileTask, settings: Any, count: int) -> list[_Slot]:
        resources = ray.cluster_resources()
        gpus = self._gpus(task, settings, resources)
        if gpus > resources.get("GPU", 0):
            raise VocalisError(f"each worker asks for {gpus:g} GPU but the cluster has {resources.get('GPU', 0):g}; "
                               "use --gpus-per-task 0 or add GPU nodes")
        if self.cpus_per_task > resources.get("CPU", 0):
            raise VocalisError(f"each worker asks for {self.cpus_per_task:g} CPUs but the cluster has "
                               f"{resources.get('CPU', 0):g}; lower --cpus-per-task")
        fits = [resources.get("CPU", 0) // self.cpus_per_task if self.cpus_per_task else count]
        if gpus:
            fits.append(resources.get("GPU", 0) // gpus)
        wanted = max(1, min(count, self.max_in_flight or int(min(fits)) or 1))
        free = ray.available_resources()
        startable = [free.get("CPU", 0) // self.cpus_per_task if self.cpus_per_task else wanted]
        if gpus:
            startable.append(free.get("GPU", 0) // gpus)
        key = (task.name, self.cpus_per_task, gpus)
        with self._lock:
            slots = self._pools.setdefault(key, [])
            # New workers only for what is free now (at least one), so that a run never waits on resources
            # other workers hold (another executor's idle pool, another job).
            for _ in range(max(0 if slots else 1, min(wanted - len(slots), int(min(startable))))):
                slots.append(self._new_slot(ray, gpus))
            chosen = slots[:wanted]
        return self._identify(ray, chosen)

    def _new_slot(self, ray, gpus: float) -> _Slot:
        actor_class = ray.remote(FileWorker).options(num_cpus=self.cpus_per_task, num_gpus=gpus,
                                                     max_concurrency=3, max_restarts=0)
        return _Slot(actor_class.remote(max(1, int(self.cpus_per_task))), gpus)

    def _identify(self, ray, slots: Sequence[_Slot]) -> list[_Slot]:
        """Wait (at most ``start_timeout_s``) for new workers to start and learn where they run; the ones that
        did not start (no free resources) are dropped. A :class:`VocalisError` when none of ``slots`` runs."""
        unknown = [slot for slot in slots if not slot.node_id]
        refs = [slot.actor.identity.remote() for slot in unknown]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.start_timeout_s) if refs else ([], [])
        for slot, ref in zip(unknown, refs):
            if ref in ready:
                with contextlib.suppress(ray.exceptions.RayError):
                    slot.node_id, slot.pid = ray.get(ref)
            if not slot.node_id:
                self._drop(ray, slot)
        started = [slot for slot in slots if slot.node_id]
        if slots and not started:
            raise VocalisError(f"no Ray worker started within {self.start_timeout_s:g} s: the cluster has no free "
                               f"{self.cpus_per_task:g} CPU (and GPU) for one; other jobs or idle workers hold them")
        return started

    def _drop(self, ray, slot: _Slot) -> None:
        with contextlib.suppress(Exception):
            ray.kill(slot.actor)
        with self._lock:
            for slots in self._pools.values():
                if slot in slots:
                    slots.remove(slot)

    def worker_pids(self) -> list[int]:
        """The process ids of the workers (known once they started), e.g. to watch or kill them."""
        with self._lock:
            return [slot.pid for slots in self._pools.values() for slot in slots if slot.pid]

    def _replace(self, ray, slot: _Slot) -> _Slot:
        """A new worker in place of ``slot``, whose process died."""
        with contextlib.suppress(Exception):
            ray.kill(slot.actor)
        fresh = self._new_slot(ray, slot.gpus)
        with self._lock:
            for slots in self._pools.values():
                if slot in slots:
                    slots[slots.index(slot)] = fresh
        self._identify(ray, [fresh])
        return fresh

    # -- shared storage

    def _writes_outputs(self, ray, slot: _Slot, items: Sequence[BatchItem]) -> bool:
        """Whether ``slot`` reaches the output folder (checked once per node and run with a probe file)."""
        if self.shared_storage is not None:
            return self.shared_storage
        if slot.node_id == ray.get_runtime_context().get_node_id():
            return True
        if slot.node_id not in self._reaches_outputs:
            folder = _existing_folder(Path(os.path.commonpath([str(p.parent) for i in items for p in i.outputs])))
            token = uuid.uuid4().hex
            fd, probe = tempfile.mkstemp(prefix=".vocalis-ray-probe.", suffix=TEMP_MARK, dir=folder)
            try:
                os.write(fd, token.encode())
                os.close(fd)
                self._reaches_outputs[slot.node_id] = bool(ray.get(slot.actor.sees.remote(probe, token)))
            except ray.exceptions.RayError:
                return True  # the worker is gone: its file fails over to the dead-worker path, not decided here
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(probe)
        return self._reaches_outputs[slot.node_id]

    # -- the run

    def run(self, task: FileTask, settings: Any, items: Sequence[BatchItem],
            report: Callable[[FileResult], None], progress_for: Callable[[int], Progress],
            cancel: CancelToken) -> None:
        ray = self.connect()
        self._reaches_outputs = {}
        cancel.check()
        idle = deque(self._workers(ray, task, settings, len(items)))
        pending = deque(range(len(items)))
        attempts: Counter[int] = Counter()
        needs_bytes: set[str] = set()  # nodes that could not see an input by its path
        running: dict[Any, _Running] = {}
        progress = [progress_for(index) for index in range(len(items))]
        last_poll = 0.0

        def submit(slot: _Slot, index: int, payload: bytes | None = None) -> None:
            item = items[index]
            stat = None if self.shared_storage or payload is not None else _stat_key(item.input)
            ref = slot.actor.process.remote(task, settings, item, stat, payload,
                                            self._writes_outputs(ray, slot, items))
            running[ref] = _Running(slot, index, time.monotonic())

        def ship(slot: _Slot, index: int) -> None:
            """Send the input's bytes along, or report the file failed when they cannot go."""
            item = items[index]
            try:
                size = item.input.stat().st_size
                if size > self.ship_limit_bytes:
                    raise VocalisError(
                        f"not visible from the worker's node and {size / 2**20:.0f} MiB is over the "
                        f"{self.ship_limit_bytes / 2**20:.0f} MiB shipping limit; put the input folder on "
                        "storage every node mounts at the same path")
                payload = item.input.read_bytes()
            except (OSError, VocalisError) as exc:
                idle.append(slot)
                cancel.check()
                report(FileResult(item, FAILED, error_text(item, exc)))
                return
            submit(slot, index, payload)

        try:
            while pending or running:
                cancel.check()
                while pending and idle:
                    slot, index = idle.popleft(), pending.popleft()
                    if self.shared_storage is False or slot.node_id in needs_bytes:
                        ship(slot, index)
                    else:
                        submit(slot, index)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    done = running.pop(ref)
                    item = items[done.index]
                    try:
                        outcome = ray.get(ref)
                    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                        self.worker_deaths += 1
                        attempts[done.index] += 1
                        idle.append(self._replace(ray, done.slot))
                        if attempts[done.index] < self.max_attempts:
                            pending.appendleft(done.index)
                            continue
                        cancel.check()
                        report(FileResult(item, FAILED, error_text(
                            item, f"its worker process died {attempts[done.index]} times while processing it "
                                  f"(last: {_first_line(exc)})")))
                        continue
                    if outcome.needs_input:
                        needs_bytes.add(done.slot.node_id)
                        ship(done.slot, done.index)
                        continue
                    idle.append(done.slot)
                    cancel.check()
                    report(self._result(item, outcome, time.monotonic() - done.started))
                if running and time.monotonic() - last_poll >= POLL_S:
                    last_poll = time.monotonic()
                    self._collect_progress(ray, running, progress)
        finally:
            self._stop(ray, running)

    @staticmethod
    def _result(item: BatchItem, outcome: _Outcome, roundtrip_s: float) -> FileResult:
        timings = {**outcome.timings, "roundtrip_s": roundtrip_s}
        if outcome.files:
            try:
                for final, data in outcome.files.items():
                    with atomic_path(final) as temp:
                        temp.write_bytes(data)
            except VocalisError as exc:
                return FileResult(item, FAILED, error_text(item, exc), timings=timings)
        return FileResult(item, outcome.status, outcome.error, outcome.outputs, timings)

    @staticmethod
    def _collect_progress(ray, running: dict[Any, _Running], progress: list[Progress]) -> None:
        polls = {done.index: done.slot.actor.poll.remote() for done in running.values()}
        ready, _ = ray.wait(list(polls.values()), num_returns=len(polls), timeout=POLL_S)
        ready = set(ready)
        for index, ref in polls.items():
            if ref in ready:
                with contextlib.suppress(ray.exceptions.RayError):
                    fraction, message = ray.get(ref)
                    progress[index](fraction, message)

    def _stop(self, ray, running: dict[Any, _Running]) -> None:
        """Ask the files still running to stop, wait for them, and kill the workers that do not stop."""
        if not running:
            return
        for done in running.values():
            done.slot.actor.cancel.remote()
        _, stuck = ray.wait(list(running), num_returns=len(running), timeout=self.stop_grace_s)
        for ref in stuck:
            self._drop(ray, running[ref].slot)


def _first_line(exc: BaseException) -> str:
    line = next((text for text in str(exc).splitlines() if text.strip()), "")
    return f"{type(exc).__name__}: {line[:300]}" if line else type(exc).__name__


def _existing_folder(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def describe_cluster(address: str | None = None) -> str:
    """One line per alive node of the cluster at ``address`` ("auto", "HOST:PORT"; None: the one this
    process is connected to): its address and resources. Joins the cluster when not connected."""
    ray = require_ray()
    if not ray.is_initialized():
        if address is None:
            raise VocalisError("not connected to a Ray cluster; give its address (or auto)")
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=False)
    lines = []
    for node in ray.nodes():
        if node.get("Alive"):
            res = node.get("Resources", {})
            gpus = f", {res['GPU']:g} GPU" if res.get("GPU") else ""
            lines.append(f"{node.get('NodeManagerAddress', '?')}: {res.get('CPU', 0):g} CPU{gpus}, "
                         f"{res.get('memory', 0) / 2**30:.1f} GiB")
    return "\n".join(lines) or "no alive nodes"
