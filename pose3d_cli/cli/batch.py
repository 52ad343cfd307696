"""``pose3d batch``: ``pose3d infer`` over every video in a folder.

Models are loaded once (once per worker with ``--jobs``). A clip counts as done only when its
done-marker ``<stem>.pose3d.done.json`` exists — written last, atomically, after every output
of the clip was renamed into place — and those outputs are all still there; so an interrupted
run never leaves a clip that passes for finished, and running the command again resumes.
Clips that are not done are (re)processed, replacing any outputs a previous interrupted run
left. One clip's failure does not stop the others; the summary goes to ``batch_summary.json``
in the output folder and to the terminal, and the exit status is 1 if any clip failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pose3d_cli.cli.infer import add_infer_options, infer_kwargs

log = logging.getLogger(__name__)

#: Video suffixes picked up when no ``--pattern`` is given.
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
SUMMARY_NAME = "batch_summary.json"
DONE_SUFFIX = ".done.json"


@dataclass(frozen=True)
class ClipReport:
    """One row of the batch summary."""

    clip: str
    status: str  # "done", "skipped" (done before) or "failed"
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    outputs: tuple[str, ...] = ()


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "batch", help="run `infer` on every video in a folder (resumable)",
        description="Process every video in FOLDER like `pose3d infer`, loading the models once. "
                    "Clips already done are skipped, so an interrupted run resumes when run again; "
                    "a failing clip is reported and the others go on. Writes batch_summary.json.",
        epilog="example: pose3d batch clips/ --out-dir results/ --export npz,bvh --recursive")
    p.add_argument("folder", type=Path, help="folder holding the videos")
    p.add_argument("--pattern", default=None, metavar="GLOB",
                   help="file name pattern, e.g. '*.mp4' (default: common video suffixes)")
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="clips processed in parallel, each worker loading the models once (default 1)")
    add_infer_options(p, single=False)
    return p


def find_clips(folder: Path, pattern: str | None = None, recursive: bool = False) -> list[Path]:
    """Videos under ``folder``, sorted; our own outputs (``*.pose3d.*``) and hidden files excluded."""
    from pose3d_cli.errors import InputError

    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the folder that holds the videos")
    it = folder.rglob(pattern or "*") if recursive else folder.glob(pattern or "*")
    clips = []
    for path in it:
        if not path.is_file() or path.name.startswith(".") or ".pose3d." in path.name:
            continue
        if pattern is None and path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        clips.append(path)
    return sorted(clips)


def _clip_out_dir(clip: Path, folder: Path, out_dir: Path | None) -> Path:
    if out_dir is None:
        return clip.parent
    return out_dir / clip.parent.relative_to(folder)


def _marker(clip: Path, out_dir: Path) -> Path:
    return out_dir / f"{clip.stem}.pose3d{DONE_SUFFIX}"


def is_done(marker: Path, paths: dict[str, Path]) -> bool:
    """Done = the marker parses and names every expected output, each of which exists."""
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
        listed = {str(Path(p).resolve()) for p in doc.get("outputs", [])}
    except (OSError, ValueError, AttributeError):
        return False
    return all(p.is_file() and str(p.resolve()) in listed for p in paths.values())


def _write_marker(marker: Path, report: ClipReport) -> None:
    from pose3d_cli.io.atomic import atomic_path

    with atomic_path(marker, overwrite=True) as tmp:
        tmp.write_text(json.dumps(asdict(report), indent=1), encoding="utf-8")


# Per-process state for worker processes (and the in-process path): models loaded once.
_MODELS: Any = None
_MODEL_KW: dict[str, Any] = {}


def _init_worker(model_kw: dict[str, Any]) -> None:
    global _MODELS, _MODEL_KW
    _MODELS, _MODEL_KW = None, dict(model_kw)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, _raise_interrupt)  # unwind: temporary outputs are removed


def _models():
    global _MODELS
    if _MODELS is None:
        from pose3d_cli.pipeline import Models

        _MODELS = Models.load(**_MODEL_KW)
    return _MODELS


def process_clip(clip: Path, clip_out_dir: Path, kwargs: dict[str, Any], display: str) -> ClipReport:
    """Run ``infer_video`` on one clip, write its done-marker, and report (never raises for a
    bad clip: the error goes into the report)."""
    from pose3d_cli.errors import Pose3DError
    from pose3d_cli.pipeline import infer_video

    t0 = time.perf_counter()
    marker = _marker(clip, clip_out_dir)
    marker.unlink(missing_ok=True)
    try:
        result = infer_video(clip, out_dir=clip_out_dir, models=_models(),
                             **{**kwargs, "overwrite": True, "quiet": True})
    except Pose3DError as exc:
        return ClipReport(display, "failed", seconds=time.perf_counter() - t0, error=str(exc))
    except Exception as exc:
        log.debug("clip %s failed", clip, exc_info=True)
        return ClipReport(display, "failed", seconds=time.perf_counter() - t0,
                          error=f"internal error {exc.__class__.__name__}: {exc} (rerun with --debug)")
    report = ClipReport(display, "done", frames=result.frames, seconds=time.perf_counter() - t0,
                        outputs=tuple(str(p.resolve()) for p in result.paths.values()))
    _write_marker(marker, report)
    return report


def _table(rows: list[ClipReport]) -> str:
    head = ("clip", "frames", "status", "seconds", "error")
    body = [(r.clip, str(r.frames), r.status, f"{r.seconds:.1f}", r.error) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
    lines = []
    for row in [head, *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines)


def _raise_interrupt(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pose3d_cli.errors import InputError
    from pose3d_cli.io.atomic import atomic_path
    from pose3d_cli.io.exports import parse_exports
    from pose3d_cli.pipeline import output_paths

    if args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: give at least 1")
    folder = args.folder
    clips = find_clips(folder, args.pattern, args.recursive)
    if not clips:
        raise InputError(f"{folder}: no videos found (pattern {args.pattern or 'video suffixes'}"
                         f"{', recursive' if args.recursive else ''}); check the folder or --pattern")
    kwargs = infer_kwargs(args)
    kwargs.pop("out_dir")
    kwargs["export"] = parse_exports(kwargs["export"])
    if not kwargs["render"] and not kwargs["export"]:
        raise InputError("nothing to write: --no-render and no --export; give --export npz")
    out_root = args.out_dir if args.out_dir is not None else folder

    rows: dict[Path, ClipReport] = {}
    todo: list[tuple[Path, Path, str]] = []
    for clip in clips:
        display = str(clip.relative_to(folder))
        cdir = _clip_out_dir(clip, folder, args.out_dir)
        paths = output_paths(clip, out_dir=cdir, export=kwargs["export"], render=kwargs["render"])
        if not args.overwrite and is_done(_marker(clip, cdir), paths):
            rows[clip] = ClipReport(display, "skipped", error="done before",
                                    outputs=tuple(str(p) for p in paths.values()))
        else:
            todo.append((clip, cdir, display))

    model_kw = {"detector": args.detector, "checkpoint": args.checkpoint, "device": args.device,
                "causal": args.causal, "quiet": True}
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    bar = tqdm(total=len(clips), initial=len(clips) - len(todo), unit="clip", desc="batch",
               disable=args.quiet, dynamic_ncols=True)
    try:
        if args.jobs == 1 or len(todo) <= 1:
            _init_model_kw(model_kw)
            if todo:
                _models()  # a bad --checkpoint or --device stops the batch here, once
            for clip, cdir, display in todo:
                bar.set_postfix_str(display)
                rows[clip] = process_clip(clip, cdir, kwargs, display)
                _note(bar, rows[clip], args.quiet)
                bar.update(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = mp.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx, initializer=_init_worker,
                                       initargs=(model_kw,))
            try:
                futures = {pool.submit(process_clip, clip, cdir, kwargs, display): clip
                           for clip, cdir, display in todo}
                for fut in as_completed(futures):
                    clip = futures[fut]
                    rows[clip] = fut.result()
                    _note(bar, rows[clip], args.quiet)
                    bar.update(1)
            except BaseException:
                # Interrupted: drop the queued clips and stop the running ones (their SIGTERM
                # handler unwinds, so the temporary files are removed and no marker is written).
                workers = list(getattr(pool, "_processes", {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in workers:
                    if proc.is_alive():
                        proc.terminate()
                for proc in workers:
                    proc.join(timeout=10)
                raise
            pool.shutdown()
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, previous)

    ordered = [rows[c] for c in clips]
    summary = {"folder": str(folder), "clips": len(ordered),
               "done": sum(r.status == "done" for r in ordered),
               "skipped": sum(r.status == "skipped" for r in ordered),
               "failed": sum(r.status == "failed" for r in ordered),
               "results": [asdict(r) for r in ordered]}
    summary_path = Path(out_root) / SUMMARY_NAME
    with atomic_path(summary_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(_table(ordered))
    print(f"{summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed; "
          f"summary in {summary_path}")
    return 1 if summary["failed"] else 0


def _init_model_kw(model_kw: dict[str, Any]) -> None:
    global _MODEL_KW, _MODELS
    if _MODEL_KW != model_kw:
        _MODEL_KW, _MODELS = dict(model_kw), None


def _note(bar, row: ClipReport, quiet: bool) -> None:
    if not quiet:
        msg = f"{row.clip}: {row.status}" + (f" ({row.error})" if row.error else f", {row.frames} frames")
        bar.write(msg)
