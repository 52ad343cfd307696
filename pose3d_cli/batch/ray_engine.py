"""``pose3d batch --engine ray``: the clips of a batch spread over the workers of a Ray cluster.

:func:`run_ray` is the Ray counterpart of the local worker pool in :mod:`pose3d_cli.batch`;
:func:`~pose3d_cli.batch.run_batch` calls it with the clips that are not done yet and keeps
everything else (finding clips, skipping done ones, the progress bar, ``batch_summary.json``,
the exit status) as for a local batch.

How the work is spread:

- Each worker is a Ray actor (:class:`ClipWorker`) that loads the detector and the lifter once
  (:meth:`pose3d_cli.pipeline.Models.load`) and then processes one clip at a time with
  :func:`pose3d_cli.batch.process_clip`. It declares ``num_cpus=1`` and, when the device is
  CUDA, ``num_gpus=1``, so Ray places workers on whichever nodes have those resources free.
- The driver (the ``pose3d batch`` process) keeps the queue: it hands the next clip to
  whichever worker is free, so fast nodes take more clips than slow ones. A worker that is
  still waiting for resources holds no clip.
- Workers read the clips and write the outputs themselves, at the paths the driver gives them:
  on a cluster of several machines, the input folder and ``--out-dir`` must be a shared file
  system mounted at the same path on every node (see ``docs/batch.md``).

The guarantees of a local batch hold: a clip counts as done only when all its outputs and its
done-marker exist (the marker is removed before a clip starts and written last); one clip's
failure is reported and the others go on; a worker that dies mid-clip (its process killed, its
node lost) has the clip handed to another worker, at most :data:`MAX_ATTEMPTS` tries in all,
and what the dead worker left is only hidden temporary files (removed by the next writer of
the same output) or complete outputs with no marker, which do not pass for finished.

Without an address a local Ray instance is started (``num_cpus`` = ``jobs``) and shut down at
the end; with one, the driver joins that cluster and only disconnects from it at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pose3d_cli.batch import ClipJob, ClipReport, process_clip
from pose3d_cli.errors import BackendUnavailableError, Pose3DError

log = logging.getLogger(__name__)

#: Tries per clip when workers die while processing it (the first one and two retries).
MAX_ATTEMPTS = 3
#: CPUs each worker declares to Ray (its torch threads follow Ray's OMP_NUM_THREADS).
CPUS_PER_WORKER = 1
INSTALL_HINT = 'pip install "pose3d-cli[ray]"'


def import_ray():
    """The ``ray`` module, or :class:`BackendUnavailableError` naming the install command."""
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(f"--engine ray needs Ray, which is not installed here ({exc}); "
                                      f"install it with: {INSTALL_HINT}") from None
    return ray


class ClipWorker:
    """One Ray worker: the models, loaded once, and :func:`process_clip` over clips it is given.

    A model that cannot be loaded on this node (a missing backend, no GPU) does not kill the
    actor: :meth:`ready` returns the error so the driver can report it as one line.
    """

    def __init__(self, model_kw: dict[str, Any]) -> None:
        from pose3d_cli.pipeline import Models

        self.models = None
        self.error: Pose3DError | None = None
        try:
            self.models = Models.load(**model_kw)
        except Pose3DError as exc:
            self.error = exc

    def ready(self) -> dict[str, Any]:
        """Where this worker runs and whether its models loaded: ``host``, ``pid``,
        ``version`` (of pose3d on this node) and ``error`` (None or the load error)."""
        from pose3d_cli import __version__

        return {"host": socket.gethostname(), "pid": os.getpid(), "version": __version__, "error": self.error}

    def process(self, job: ClipJob, kwargs: dict[str, Any]) -> ClipReport:
        return process_clip(job, kwargs, self.models)


def _absolute(job: ClipJob) -> ClipJob:
    """The job with absolute paths: a worker's current folder is not the driver's."""
    return dataclasses.replace(job, clip=job.clip.absolute(), out_dir=job.out_dir.absolute())


def _worker_model_kw(model_kw: dict[str, Any], checkpoint_name: str) -> dict[str, Any]:
    """``model_kw`` as the workers get it: the lifter the driver resolved (so every node loads
    the same one; a path made absolute) and a plain ``cuda`` device (Ray gives each worker its
    own GPU through ``CUDA_VISIBLE_DEVICES``, where it is device 0)."""
    kw = dict(model_kw)
    ck = kw.get("checkpoint")
    if ck is None:
        kw["checkpoint"] = checkpoint_name
    elif Path(ck).exists():
        kw["checkpoint"] = str(Path(ck).absolute())
    if str(kw.get("device", "auto")).startswith("cuda"):
        kw["device"] = "cuda"
    return kw


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Refuse at once a ``HOST:PORT`` (or ``ray://HOST:PORT``) nobody answers on: Ray itself
    keeps retrying for minutes. ``auto`` and other forms are left to Ray."""
    hostport = address.split("://", 1)[1] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise BackendUnavailableError(f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); "
                                      "start the cluster's head with `ray start --head` or fix the address") from None


def _short(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else exc.__class__.__name__


def run_ray(todo: list[ClipJob], kwargs: dict[str, Any], model_kw: dict[str, Any], *, jobs: int,
            address: str | None, on_report: Callable[[ClipJob, ClipReport], None]) -> None:
    """Process ``todo`` on Ray workers, calling ``on_report(job, report)`` as each clip finishes.

    Args:
        todo: the clips to process (done ones already left out by the caller).
        kwargs: per-clip :func:`~pose3d_cli.pipeline.infer_video` keywords.
        model_kw: :meth:`~pose3d_cli.pipeline.Models.load` keywords (detector, checkpoint,
            device, causal, quiet): each worker loads the models once with them.
        jobs: workers (Ray actors) to start, i.e. clips processed at once; on a cluster that
            has fewer free resources, the others start as resources free up.
        address: a Ray cluster to join (``HOST:6379``, ``ray://HOST:10001``, ``auto``); None
            starts a local Ray instance with ``jobs`` CPUs and shuts it down at the end.
        on_report: called in the driver with each clip's :class:`~pose3d_cli.batch.ClipReport`
            (``attempts`` counts the tries when workers died under it).

    Raises:
        BackendUnavailableError: Ray is not installed, the cluster cannot be reached, it has no
            GPU for ``--device cuda``, or no worker could load the models.
        Pose3DError: a bad ``--checkpoint`` (checked once in the driver before any worker starts),
            or an output error a worker hit (as a local batch stops on it).
    """
    ray = import_ray()
    from pose3d_cli.pipeline import Models

    if not todo:
        return
    if address is not None and not ray.is_initialized():
        if address.startswith("ray://") and importlib.util.find_spec("grpc") is None:
            raise BackendUnavailableError(f"--ray-address {address}: a ray:// address needs Ray Client, which "
                                          f'is not installed here; install it with: pip install "ray[client]=='
                                          f'{ray.__version__}" (or give the cluster\'s HOST:6379 address)')
        check_reachable(address)
    # A bad --checkpoint or --device fails here, once, not in every worker (a CUDA device is
    # checked on CPU: the driver of a GPU cluster need not have a GPU itself).
    cuda = str(model_kw.get("device", "auto")).lower().startswith("cuda")
    probe = Models.load(**{**model_kw, **({"device": "cpu"} if cuda else {})}, need_detector=False)
    worker_kw = _worker_model_kw(model_kw, probe.checkpoint_name)
    del probe

    started = False
    t0 = time.perf_counter()
    if not ray.is_initialized():
        on_term = signal.getsignal(signal.SIGTERM)
        try:
            if address is None:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                # Ray starts its workers at niceness 15 (RAY_worker_niceness); here they are the
                # batch's own work, like local batch's processes, so they keep the driver's priority
                # (on a shared machine they were measured 3.4x slower than local workers otherwise).
                os.environ.setdefault("RAY_worker_niceness", "0")
                ray.init(address="local", num_cpus=jobs * CPUS_PER_WORKER, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise BackendUnavailableError(f"--engine ray: could not start or join {where}: {_short(exc)}; "
                                          "check --ray-address and that `ray status` works there") from None
        finally:
            # Ray's core installs a C-level SIGTERM handler that prints a stack dump and exits;
            # the batch's own (SIGTERM → the Ctrl-C path: end the workers, exit 130) goes back.
            if on_term is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_term)
        started = True
        log.debug("Ray %s in %.1f s", "joined" if address else "started", time.perf_counter() - t0)
    try:
        _drive(ray, todo, kwargs, worker_kw, jobs=jobs, address=address, on_report=on_report)
    finally:
        if started:
            # Disconnects this driver; a local instance it started stops with it, a cluster it
            # joined keeps running (its workers for this batch are ended).
            ray.shutdown()


def _drive(ray, todo: list[ClipJob], kwargs: dict[str, Any], worker_kw: dict[str, Any], *, jobs: int,
           address: str | None, on_report: Callable[[ClipJob, ClipReport], None]) -> None:
    """The driver loop: start workers, hand each free one the next clip, collect reports,
    replace workers that die and requeue their clip."""
    from ray.exceptions import RayActorError, RayError, RayTaskError

    gpu = worker_kw.get("device") == "cuda"
    if str(worker_kw.get("device", "auto")) == "auto":
        # auto on a cluster: CUDA when the cluster has GPUs (one per worker), else CPU.
        gpu = ray.cluster_resources().get("GPU", 0) >= 1
        worker_kw = {**worker_kw, "device": "cuda" if gpu else "cpu"}
    resources = ray.cluster_resources()
    if gpu and resources.get("GPU", 0) < 1:
        where = f"the Ray cluster at {address}" if address else "the local Ray instance"
        raise BackendUnavailableError(f"--device cuda: {where} has no GPU; use --device cpu or add GPU nodes")
    fits = int(resources.get("GPU", 0) if gpu else resources.get("CPU", 0) // CPUS_PER_WORKER)
    if fits < jobs:
        log.warning("--jobs %d: the cluster has room for %d workers now; the others start when "
                    "resources free up", jobs, fits)

    Worker = ray.remote(ClipWorker).options(num_cpus=CPUS_PER_WORKER, num_gpus=1 if gpu else 0,
                                            max_restarts=0, max_task_retries=0)
    queue: deque[ClipJob] = deque(todo)
    sendable = {job.clip: _absolute(job) for job in todo}
    attempts: dict[Path, int] = {}
    starting: dict[Any, Any] = {}  # ready() ref -> actor
    idle: list[Any] = []
    running: dict[Any, tuple[Any, ClipJob]] = {}  # process() ref -> (actor, job)
    start_failures = 0
    load_errors: list[Pose3DError] = []
    versions: set[str] = set()

    def start_worker() -> None:
        actor = Worker.remote(worker_kw)
        starting[actor.ready.remote()] = actor

    def want_workers() -> int:
        return min(jobs, len(queue) + len(running)) - len(starting) - len(idle) - len(running)

    t0 = time.perf_counter()
    for _ in range(min(jobs, len(queue))):
        start_worker()
    try:
        while queue or running:
            # Hand out clips to free workers.
            while idle and queue:
                actor, job = idle.pop(), queue.popleft()
                attempts[job.clip] = attempts.get(job.clip, 0) + 1
                running[actor.process.remote(sendable[job.clip], kwargs)] = (actor, job)
            if not running and not starting:
                if load_errors:
                    raise load_errors[-1]
                raise BackendUnavailableError(f"--engine ray: no worker could start ({start_failures} tried); "
                                              "see the Ray logs of the cluster (`ray status`)")
            # A short wait: Ctrl-C / SIGTERM is acted on between waits.
            done, _ = ray.wait([*starting, *running], num_returns=1, timeout=0.25)
            for ref in done:
                if ref in starting:
                    actor = starting.pop(ref)
                    try:
                        info = ray.get(ref)
                    except RayError as exc:  # the worker died while starting (node lost, killed)
                        start_failures += 1
                        log.warning("a Ray worker died while starting: %s", _short(exc))
                        if start_failures <= jobs * MAX_ATTEMPTS and want_workers() > 0:
                            start_worker()
                        continue
                    if info["error"] is not None:  # the models do not load on that node
                        load_errors.append(info["error"])
                        log.warning("a Ray worker on %s could not load the models: %s", info["host"], info["error"])
                        ray.kill(actor)
                        continue
                    log.debug("Ray worker %s:%d ready after %.1f s", info["host"], info["pid"],
                              time.perf_counter() - t0)
                    versions.add(info["version"])
                    if len(versions) > 1:
                        log.warning("the Ray workers run different pose3d versions (%s); install the same "
                                    "one on every node", ", ".join(sorted(versions)))
                    idle.append(actor)
                    continue
                actor, job = running.pop(ref)
                try:
                    report = ray.get(ref)
                except RayTaskError as exc:  # process_clip itself raised: an output error
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Pose3DError):
                        raise cause from None
                    report = ClipReport(job.display, "failed", error=f"internal error: {_short(exc)}")
                    idle.append(actor)
                except (RayActorError, RayError) as exc:  # the worker died under the clip
                    tries = attempts[job.clip]
                    log.warning("%s: the Ray worker died (try %d of %d): %s", job.display, tries,
                                MAX_ATTEMPTS, _short(exc))
                    if tries < MAX_ATTEMPTS:
                        queue.appendleft(job)
                    else:
                        report = ClipReport(job.display, "failed", attempts=tries,
                                            error=f"the worker processing it died {tries} times (last: "
                                                  f"{_short(exc)}); rerun the batch to try again")
                        on_report(job, report)
                    if want_workers() > 0:
                        start_worker()
                    continue
                else:
                    idle.append(actor)
                on_report(job, dataclasses.replace(report, attempts=attempts[job.clip]))
            if want_workers() < 0:  # fewer clips left than workers: let the spare ones go
                for actor in idle[:-want_workers()]:
                    ray.kill(actor)
                    idle.remove(actor)
    finally:
        # Ends this batch's workers, mid-clip ones too (Ctrl-C, an error). Ray cannot interrupt
        # a running method of a plain actor, so they are killed: a killed clip has no
        # done-marker (processed again by the next run) and leaves at most hidden temporary
        # files, which the next writer of the same output removes.
        for actor in [*starting.values(), *idle, *(a for a, _ in running.values())]:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)
