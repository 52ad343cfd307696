"""``run_batch``: :func:`~pose3d_cli.pipeline.infer_video` over every video in a folder.

Models are loaded once (once per worker with ``jobs > 1``). A clip counts as done only when its
done-marker ``<stem>.pose3d.done.json`` exists — written last, atomically, after every output
of the clip was renamed into place — and those outputs are all still there; so an interrupted
run never leaves a clip that passes for finished, and running the same batch again resumes.
Clips that are not done are (re)processed, replacing any outputs a previous interrupted run
left. One clip's failure does not stop the others; the summary goes to ``batch_summary.json``
in the output folder.

Two clips whose names differ only by extension (``clip.mp4``, ``clip.mkv``) in one output
folder get distinct outputs: the extension is kept in the stem (``clip.mp4.pose3d.npz``,
``clip.mkv.pose3d.npz``).

Workers (``jobs > 1``) die with the batch: each asks the kernel for SIGKILL when its parent
dies (Linux) and also watches its parent, so a batch killed with SIGKILL leaves no worker
writing behind it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pose3d_cli.errors import InputError, Pose3DError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.io.exports import parse_exports
from pose3d_cli.pipeline import OUTPUT_TAG, Models, output_paths

log = logging.getLogger(__name__)

#: Video suffixes picked up when no ``pattern`` is given.
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
SUMMARY_NAME = "batch_summary.json"
DONE_SUFFIX = ".done.json"
#: ``infer_video`` keywords that choose the models (loaded once per worker), not per clip.
MODEL_KEYS = ("detector", "checkpoint", "device", "causal")


@dataclass(frozen=True)
class ClipReport:
    """One row of the batch summary."""

    clip: str
    status: str  # "done", "skipped" (done before) or "failed"
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    outputs: tuple[str, ...] = ()
    attempts: int = 1


@dataclass(frozen=True)
class ClipJob:
    """One clip to process: where its outputs go and under which stem."""

    clip: Path
    out_dir: Path
    stem: str
    display: str

    @property
    def marker(self) -> Path:
        return self.out_dir / f"{self.stem}{OUTPUT_TAG}{DONE_SUFFIX}"

    def paths(self, export: Iterable[str], render: bool) -> dict[str, Path]:
        return output_paths(self.clip, out_dir=self.out_dir, export=tuple(export), render=render, stem=self.stem)


@dataclass(frozen=True)
class BatchResult:
    """What :func:`run_batch` did: one report per clip (in folder order) and the summary file."""

    folder: Path
    reports: tuple[ClipReport, ...]
    summary_path: Path
    engine: str = "local"
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.reports)

    def table(self) -> str:
        """The summary table: clip, frames, status, seconds, error."""
        head = ("clip", "frames", "status", "seconds", "error")
        body = [(r.clip, str(r.frames), r.status, f"{r.seconds:.1f}", r.error) for r in self.reports]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in [head, *body]]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "engine": self.engine, "clips": len(self.reports),
                "done": self.counts.get("done", 0), "skipped": self.counts.get("skipped", 0),
                "failed": self.counts.get("failed", 0), "seconds": round(self.seconds, 3),
                "results": [asdict(r) for r in self.reports]}


def find_clips(folder: str | os.PathLike, pattern: str | None = None, recursive: bool = False) -> list[Path]:
    """Videos under ``folder``, sorted; our own outputs (``*.pose3d.*``) and hidden files excluded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the folder that holds the videos")
    it = folder.rglob(pattern or "*") if recursive else folder.glob(pattern or "*")
    clips = []
    for path in it:
        if not path.is_file() or path.name.startswith(".") or f"{OUTPUT_TAG}." in path.name:
            continue
        if pattern is None and path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        clips.append(path)
    return sorted(clips)


def plan_jobs(clips: list[Path], folder: Path, out_dir: Path | None) -> list[ClipJob]:
    """Where each clip's outputs go; clips sharing a stem in one output folder keep their
    extension in the stem so their outputs never collide."""
    jobs = []
    for clip in clips:
        cdir = clip.parent if out_dir is None else Path(out_dir) / clip.parent.relative_to(folder)
        jobs.append(ClipJob(clip, cdir, clip.stem, clip.relative_to(folder).as_posix()))
    taken = Counter((str(j.out_dir.resolve()), j.stem.lower()) for j in jobs)
    return [ClipJob(j.clip, j.out_dir, j.clip.name, j.display)
            if taken[(str(j.out_dir.resolve()), j.stem.lower())] > 1 else j for j in jobs]


def is_done(marker: Path, paths: dict[str, Path]) -> bool:
    """Done = the marker parses and names every expected output, each of which exists."""
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
        listed = {str(Path(p).resolve()) for p in doc.get("outputs", [])}
    except (OSError, ValueError, AttributeError):
        return False
    return all(p.is_file() and str(p.resolve()) in listed for p in paths.values())


def write_marker(marker: Path, report: ClipReport) -> None:
    with atomic_path(marker, overwrite=True) as tmp:
        tmp.write_text(json.dumps(asdict(report), indent=1), encoding="utf-8")


def process_clip(job: ClipJob, kwargs: dict[str, Any], models: Models) -> ClipReport:
    """Run ``infer_video`` on one clip with loaded ``models``, write its done-marker, and report
    (never raises for a bad clip: the error goes into the report)."""
    from pose3d_cli.pipeline import infer_video

    t0 = time.perf_counter()
    job.marker.unlink(missing_ok=True)
    try:
        result = infer_video(job.clip, out_dir=job.out_dir, stem=job.stem, models=models,
                             **{**kwargs, "overwrite": True, "quiet": True})
    except Pose3DError as exc:
        return ClipReport(job.display, "failed", seconds=time.perf_counter() - t0, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one clip's bug must not stop the others
        log.debug("clip %s failed", job.clip, exc_info=True)
        return ClipReport(job.display, "failed", seconds=time.perf_counter() - t0,
                          error=f"internal error {exc.__class__.__name__}: {exc} (rerun with --debug)")
    report = ClipReport(job.display, "done", frames=result.frames, seconds=time.perf_counter() - t0,
                        outputs=tuple(str(p.resolve()) for p in result.files))
    write_marker(job.marker, report)
    return report


# --------------------------------------------------------------------------------------------
# Local workers


_WORKER_MODELS: Models | None = None


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when the batch process dies, even by SIGKILL."""
    try:  # Linux: the kernel sends SIGKILL when the parent thread exits
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:  # elsewhere (macOS): poll the parent
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="pose3d-parent-watch", daemon=True).start()


def _raise_interrupt(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def _init_worker(model_kw: dict[str, Any], parent_pid: int) -> None:
    global _WORKER_MODELS
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, _raise_interrupt)  # unwind: temporary outputs are removed
    _WORKER_MODELS = Models.load(**model_kw)


def _worker_process(job: ClipJob, kwargs: dict[str, Any]) -> ClipReport:
    return process_clip(job, kwargs, _WORKER_MODELS)


def _run_local(todo: list[ClipJob], kwargs: dict[str, Any], model_kw: dict[str, Any], jobs: int,
               on_report: Callable[[ClipJob, ClipReport], None]) -> None:
    if jobs == 1 or len(todo) <= 1:
        models = Models.load(**model_kw)  # a bad --checkpoint or --device stops the batch here, once
        try:
            for job in todo:
                on_report(job, process_clip(job, kwargs, models))
        finally:
            models.close()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    Models.load(**model_kw, need_detector=False)  # a bad --checkpoint or --device fails here, once
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(model_kw, os.getpid()))
    try:
        futures = {pool.submit(_worker_process, job, kwargs): job for job in todo}
        for fut in as_completed(futures):
            on_report(futures[fut], fut.result())
    except BaseException:
        # Interrupted: drop the queued clips and stop the running ones (their SIGTERM handler
        # unwinds, so the temporary files are removed and no marker is written).
        workers = [p for p in mp.active_children() if p.is_alive()]
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(timeout=10)
        raise
    pool.shutdown()


# --------------------------------------------------------------------------------------------
# The batch


def run_batch(folder: str | os.PathLike, *, out_dir: str | os.PathLike | None = None, jobs: int = 1,
              pattern: str | None = None, recursive: bool = False, engine: str = "local",
              ray_address: str | None = None, overwrite: bool = False, quiet: bool = False,
              progress: Callable[[ClipReport], None] | None = None, **infer_kwargs: Any) -> BatchResult:
    """Process every video in ``folder`` like :func:`~pose3d_cli.pipeline.infer_video`.

    Args:
        folder: the folder holding the videos (``recursive``: and its sub-folders; ``pattern``:
            a glob on file names, default the common video suffixes).
        out_dir: where outputs go (mirroring sub-folders); default beside each clip.
        jobs: clips processed at once (``engine="local"``: worker processes on this machine).
        engine: ``"local"`` or ``"ray"`` (a Ray cluster; ``ray_address`` joins an existing one).
        overwrite: process clips that are done too.
        quiet: no progress bar. progress: called with each clip's report as it finishes.
        infer_kwargs: :func:`~pose3d_cli.pipeline.infer_video` keywords for every clip (the
            model ones — detector, checkpoint, device, causal — load the models once).

    Returns:
        :class:`BatchResult`; ``batch_summary.json`` is written to the output folder.
    """
    from tqdm import tqdm

    t_start = time.perf_counter()
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: give at least 1")
    folder = Path(folder)
    clips = find_clips(folder, pattern, recursive)
    if not clips:
        raise InputError(f"{folder}: no videos found (pattern {pattern or 'video suffixes'}"
                         f"{', recursive' if recursive else ''}); check the folder or --pattern")
    for bad in ("out", "keypoints", "out_dir", "models", "stem", "write", "overwrite", "quiet"):
        if bad in infer_kwargs:
            raise InputError(f"run_batch: {bad!r} is not a per-clip option of a batch")
    kwargs = dict(infer_kwargs)
    model_kw = {k: kwargs.pop(k) for k in MODEL_KEYS if k in kwargs}
    model_kw["quiet"] = True
    kwargs["export"] = parse_exports(kwargs.get("export", ("npz",)))
    render = kwargs.get("render", True)
    if not render and not kwargs["export"]:
        raise InputError("nothing to write: --no-render and no --export; give --export npz")
    out_root = Path(out_dir) if out_dir is not None else folder

    rows: dict[Path, ClipReport] = {}
    todo: list[ClipJob] = []
    for job in plan_jobs(clips, folder, None if out_dir is None else Path(out_dir)):
        paths = job.paths(kwargs["export"], render)
        if not overwrite and is_done(job.marker, paths):
            rows[job.clip] = ClipReport(job.display, "skipped", error="done before",
                                        outputs=tuple(str(p) for p in paths.values()))
        else:
            todo.append(job)

    bar = tqdm(total=len(clips), initial=len(clips) - len(todo), unit="clip", desc="batch",
               disable=quiet, dynamic_ncols=True)

    def on_report(job: ClipJob, report: ClipReport) -> None:
        rows[job.clip] = report
        bar.set_postfix_str(job.display)
        if not quiet:
            msg = f"{report.clip}: {report.status}" + (f" ({report.error})" if report.error
                                                      else f", {report.frames} frames")
            bar.write(msg)
        bar.update(1)
        if progress is not None:
            progress(report)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if engine == "local":
            _run_local(todo, kwargs, model_kw, jobs, on_report)
        elif engine == "ray":
            from pose3d_cli.batch.ray_engine import run_ray

            run_ray(todo, kwargs, model_kw, jobs=jobs, address=ray_address, on_report=on_report)
        else:
            raise InputError(f"--engine {engine!r}: choose local or ray")
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, previous)

    reports = tuple(rows[c] for c in clips)
    counts = Counter(r.status for r in reports)
    result = BatchResult(folder=folder, reports=reports, summary_path=out_root / SUMMARY_NAME, engine=engine,
                         seconds=time.perf_counter() - t_start, counts=dict(counts))
    with atomic_path(result.summary_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    return result
