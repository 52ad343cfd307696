"""Every output of a lifted clip besides the render, and the one function that writes them.

:func:`write_exports` takes a :class:`~pose3d_cli.io.pose_file.PoseSequence` (every person of
a clip, NaN where a person is absent) and writes any of :data:`EXPORT_FORMATS`; ``pose3d
infer``, ``pose3d batch`` and ``pose3d export`` all call it. The formats (``docs/outputs.md``
has the user-facing description):

=========== ================================ ============================================
format      file                             people
=========== ================================ ============================================
``npz``     ``<base>.npz`` pose file         every selected person (:mod:`.pose_file`)
``json``    ``<base>.json`` (below)          every selected person
``csv``     ``<base>.csv`` (below)           every selected person
``bvh``     ``<base>.bvh`` (:mod:`.bvh`)     one file per person (below)
``trc``     ``<base>.trc`` (:mod:`.trc`)     one file per person (below)
``angles``  ``<base>.angles.csv`` (below)    every selected person
``html``    ``<base>.html`` (:mod:`.html_viewer`) every selected person
=========== ================================ ============================================

People (``people=``): ``None`` (the default) puts every person in the formats that hold
several, and writes the per-person formats (BVH, TRC) for the main person only; ``"main"``,
``"all"`` or a list of tracker ids select those people for every format, with one BVH/TRC per
person. The main person's BVH/TRC is ``<base>.bvh``; every other person's is
``<base>.p<ID>.bvh`` (``clip.pose3d.p3.trc``), so a file without ``.p<ID>`` is always the main
person. A person's BVH and TRC cover the frames from their first to their last appearance
(see :func:`person_span`); frames inside that span where they were out of view are
interpolated in the BVH (it cannot hold gaps) and left empty in the TRC.

JSON (``format = "pose3d-web"``, version 2; version 1 held one person's ``frames`` only)::

    {"format": "pose3d-web", "format_version": 2,
     "layout": "h36m17", "joint_names": [...J], "parents": [...J], "edges": [[a, b], ...],
     "left": [...], "right": [...],
     "keypoint_layout": "coco17", "keypoint_names": [...K], "keypoint_edges": [[a, b], ...],
     "fps": 30.0, "start_frame": 0, "num_frames": T, "time_s": [...T],
     "width": 1920, "height": 1080, "units": "m", "axes": "x, y horizontal; z up; ground z = 0",
     "model": "pose3d-27f.mocap-coco", "flip": true, "causal": false,
     "main_person_id": 1,
     "people": [{"id": 1, "main": true, "first_frame": 0, "last_frame": T - 1,
                 "poses_3d_world": [[[x, y, z], ...J] or null, ...T],     # metres, 3 decimals
                 "keypoints_px": [[[x, y], ...K] or null, ...T],          # pixels, 1 decimal
                 "keypoint_scores": [[s, ...K] or null, ...T],
                 "filled": [false, ...T],
                 "trajectory_world": [[x, y, z] or null, ...T]},          # only when lifted
                ...],
     "frames": [...]}        # the main person's poses_3d_world (the version-1 name)

``null`` marks frames where the person is absent; ``first_frame``/``last_frame`` index the
file's frames (``null`` when never present). Frame ``t`` is video frame ``start_frame + t`` at
``time_s[t]`` seconds.

CSV (tidy: one row per person, frame and joint; absent frames have no rows)::

    person_id,frame,time_s,space,joint,x,y,z,score,filled,model
    1,0,0.0000,world,hip,0.0123,-0.0045,0.9312,,0,pose3d-27f.mocap-coco
    1,0,0.0000,image,nose,812.4,233.1,,0.912,0,pose3d-27f.mocap-coco

``space`` is ``world`` (the 3D joints, metres, z up) or ``image`` (the 2D keypoints the poses
were lifted from, pixels, x right, y down; ``z`` empty); ``score`` is the keypoint confidence
(empty for 3D rows); ``filled`` 1 where the person's keypoints were interpolated in that frame;
``frame`` is the video frame number (``start_frame + t``).

Angles CSV (tidy: one row per person, frame and angle; definitions in
:mod:`pose3d_cli.geometry.angles`)::

    person_id,frame,time_s,angle,degrees
    1,0,0.0000,left_hip_flexion,12.31
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path, check_not_inputs, check_writable
from pose3d_cli.io.pose_file import PoseSequence, save_poses
from pose3d_cli.skeleton import Layout, get_layout

#: Formats ``--export`` accepts (``all`` means every one); ``npz`` is the pose file.
EXPORT_FORMATS = ("npz", "json", "csv", "bvh", "trc", "angles", "html")
#: File suffix of each format, after the base name (``clip.pose3d`` + ``.angles.csv``).
EXPORT_SUFFIXES = {"npz": ".npz", "json": ".json", "csv": ".csv", "bvh": ".bvh", "trc": ".trc",
                   "angles": ".angles.csv", "html": ".html"}
#: Formats written as one file per person.
PER_PERSON_FORMATS = ("bvh", "trc")
JSON_FORMAT = "pose3d-web"
JSON_FORMAT_VERSION = 2
CSV_COLUMNS = ("person_id", "frame", "time_s", "space", "joint", "x", "y", "z", "score", "filled", "model")
ANGLES_COLUMNS = ("person_id", "frame", "time_s", "angle", "degrees")

People = str | Sequence[int] | None


def parse_exports(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"npz,json"`` or ``["npz", "json"]`` → ``("npz", "json")``, checked and deduplicated;
    ``"all"`` → every format of :data:`EXPORT_FORMATS`."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower().lstrip(".")
        if not name:
            continue
        names = EXPORT_FORMATS if name == "all" else (name,)
        for n in names:
            if n not in EXPORT_FORMATS:
                raise InputError(f"--export {n!r}: unknown format; choose from {', '.join(EXPORT_FORMATS)} "
                                 "or all (comma-separated, e.g. --export npz,bvh)")
            if n not in out:
                out.append(n)
    return tuple(out)


def export_paths(base: str | Path, formats: str | Iterable[str]) -> dict[str, Path]:
    """Output path of each format from a base name: ``clip.pose3d`` → ``{"bvh":
    clip.pose3d.bvh, "angles": clip.pose3d.angles.csv, …}`` (see :data:`EXPORT_SUFFIXES`)."""
    base = Path(base)
    return {f: base.with_name(base.name + EXPORT_SUFFIXES[f]) for f in parse_exports(formats)}


def person_path(path: str | Path, person_id: int) -> Path:
    """A per-person file name: ``clip.pose3d.bvh`` → ``clip.pose3d.p3.bvh``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.p{int(person_id)}{path.suffix}")


def parse_people(value: People) -> str | tuple[int, ...] | None:
    """``--person`` → ``None``, ``"main"``, ``"all"`` or a tuple of tracker ids.

    Accepts ``None``, ``"main"``, ``"all"``, ``"3,5"`` or a sequence of ints."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("main", "all"):
            return text
        try:
            ids = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise InputError(f"--person {value!r}: give main, all, or tracker ids such as 1,3") from None
    else:
        try:
            ids = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise InputError(f"people={value!r}: give 'main', 'all' or a list of tracker ids") from None
    if not ids:
        raise InputError(f"--person {value!r}: give main, all, or tracker ids such as 1,3")
    return tuple(dict.fromkeys(ids))


def person_indices(seq: PoseSequence, people: People) -> list[int]:
    """Indices into ``seq``'s people of a selection (``None`` and ``"all"``: everyone)."""
    sel = parse_people(people)
    if sel is None or sel == "all":
        return list(range(seq.num_people))
    if sel == "main":
        return [seq.main_person]
    return [seq.person_index(i) for i in sel]


def select_people(seq: PoseSequence, people: People) -> PoseSequence:
    """The sequence restricted to the selected people (``None``/``"all"``: unchanged). The main
    person stays main when selected; otherwise the first selected person becomes main."""
    idx = person_indices(seq, people)
    if idx == list(range(seq.num_people)):
        return seq
    main = idx.index(seq.main_person) if seq.main_person in idx else 0
    fields = {}
    for name in ("person_ids", "people_present", "people_poses_3d_camera", "people_poses_3d_world",
                 "people_keypoints_px", "people_keypoint_scores", "people_filled_frames",
                 "people_trajectory_world"):
        arr = getattr(seq, name)
        if arr is not None:
            fields[name] = np.asarray(arr)[idx]
    return replace(seq, main_person=main, **fields)


def person_span(present: np.ndarray) -> tuple[int, int] | None:
    """``[first, stop)`` frames from a person's first to last present frame, or ``None``."""
    where = np.flatnonzero(np.asarray(present, bool))
    if where.size == 0:
        return None
    return int(where[0]), int(where[-1]) + 1


def fill_gaps(poses: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Poses ``(T, J, 3)`` with absent frames (``present`` False) linearly interpolated in time
    between the nearest present frames (held at the ends). Needs one present frame."""
    p = np.array(poses, np.float64, copy=True)
    ok = np.asarray(present, bool) & np.isfinite(p).all(axis=(1, 2))
    if ok.all():
        return p
    if not ok.any():
        raise InputError("a person with no present frame has no poses to export")
    t = np.arange(p.shape[0])
    flat = p.reshape(p.shape[0], -1)
    for c in range(flat.shape[1]):
        flat[~ok, c] = np.interp(t[~ok], t[ok], flat[ok, c])
    return flat.reshape(p.shape)


def _layout(seq: PoseSequence) -> Layout:
    return get_layout(seq.layout)


def _frames_and_times(seq: PoseSequence) -> tuple[np.ndarray, np.ndarray]:
    frames = seq.start_frame + np.arange(seq.num_frames)
    return frames, seq.frame_times_s


def _nan_to_none(arr: np.ndarray, decimals: int, present: np.ndarray) -> list:
    """``(T, ...)`` → list with one rounded nested list per present frame, ``None`` elsewhere."""
    rounded = np.round(np.asarray(arr, np.float64), decimals)
    return [rounded[t].tolist() if present[t] and np.isfinite(rounded[t]).all() else None
            for t in range(rounded.shape[0])]


# --------------------------------------------------------------------------------------------
# JSON and CSV


def write_json(path: str | Path, seq: PoseSequence, *, overwrite: bool = True) -> Path:
    """Write the web-viewer JSON (version 2, see the module docstring) of every person of
    ``seq``: 3D world poses, 2D keypoints, scores, filled flags, times and the model."""
    lay = _layout(seq)
    try:
        klay = get_layout(seq.keypoint_layout)
        kp_names, kp_edges = list(klay.joint_names), [list(e) for e in klay.edges]
    except InputError:
        kp_names, kp_edges = [], []
    people = []
    for p in range(seq.num_people):
        present = seq.people_present[p]
        span = person_span(present)
        person = {
            "id": int(seq.person_ids[p]), "main": p == seq.main_person,
            "first_frame": None if span is None else span[0],
            "last_frame": None if span is None else span[1] - 1,
            "poses_3d_world": _nan_to_none(seq.people_poses_3d_world[p], 3, present),
            "keypoints_px": _nan_to_none(seq.people_keypoints_px[p], 1, present),
            "keypoint_scores": _nan_to_none(seq.people_keypoint_scores[p], 3, present),
            "filled": [bool(v) for v in seq.people_filled_frames[p]],
        }
        if seq.people_trajectory_world is not None:
            person["trajectory_world"] = _nan_to_none(seq.people_trajectory_world[p], 3, present)
        people.append(person)
    doc = {
        "format": JSON_FORMAT, "format_version": JSON_FORMAT_VERSION, "layout": lay.name,
        "joint_names": list(lay.joint_names), "parents": list(lay.parents),
        "edges": [list(e) for e in lay.edges], "left": list(lay.left), "right": list(lay.right),
        "keypoint_layout": seq.keypoint_layout, "keypoint_names": kp_names, "keypoint_edges": kp_edges,
        "fps": float(seq.fps), "start_frame": int(seq.start_frame), "num_frames": seq.num_frames,
        "time_s": np.round(seq.frame_times_s, 6).tolist(), "width": int(seq.width), "height": int(seq.height),
        "units": "m", "axes": "x, y horizontal; z up; ground z = 0", "model": str(seq.checkpoint),
        "flip": bool(seq.flip), "causal": bool(seq.causal),
        "main_person_id": int(seq.person_ids[seq.main_person]), "people": people,
        "frames": people[seq.main_person]["poses_3d_world"],
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False), encoding="utf-8")
    return path


def _fmt(v: float, decimals: int) -> str:
    return "" if not math.isfinite(v) else f"{v:.{decimals}f}"


def write_csv(path: str | Path, seq: PoseSequence, *, overwrite: bool = True) -> Path:
    """Write the tidy CSV of every person of ``seq`` (see the module docstring for columns)."""
    lay = _layout(seq)
    try:
        kp_names = get_layout(seq.keypoint_layout).joint_names
    except InputError:
        kp_names = tuple(f"keypoint_{k}" for k in range(seq.people_keypoints_px.shape[2]))
    frames, times = _frames_and_times(seq)
    model = str(seq.checkpoint)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for p in range(seq.num_people):
            pid = int(seq.person_ids[p])
            world = seq.people_poses_3d_world[p].astype(np.float64)
            kpts = seq.people_keypoints_px[p].astype(np.float64)
            scores = seq.people_keypoint_scores[p].astype(np.float64)
            for t in np.flatnonzero(seq.people_present[p]):
                head = (pid, int(frames[t]), f"{times[t]:.4f}")
                filled = int(bool(seq.people_filled_frames[p, t]))
                w.writerows((*head, "world", name, _fmt(world[t, j, 0], 4), _fmt(world[t, j, 1], 4),
                             _fmt(world[t, j, 2], 4), "", filled, model)
                            for j, name in enumerate(lay.joint_names))
                w.writerows((*head, "image", name, _fmt(kpts[t, k, 0], 1), _fmt(kpts[t, k, 1], 1), "",
                             _fmt(scores[t, k], 3), filled, model)
                            for k, name in enumerate(kp_names))
    return path


def write_angles_csv(path: str | Path, seq: PoseSequence, *, overwrite: bool = True) -> Path:
    """Write the joint angles of every person (tidy: ``person_id,frame,time_s,angle,degrees``;
    definitions in :mod:`pose3d_cli.geometry.angles`; absent frames have no rows)."""
    from pose3d_cli.geometry.angles import ANGLE_NAMES, joint_angles

    frames, times = _frames_and_times(seq)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(ANGLES_COLUMNS)
        for p in range(seq.num_people):
            pid = int(seq.person_ids[p])
            angles = joint_angles(seq.people_poses_3d_world[p], seq.layout)
            table = np.stack([angles[n] for n in ANGLE_NAMES], axis=1)  # (T, A)
            for t in np.flatnonzero(seq.people_present[p]):
                head = (pid, int(frames[t]), f"{times[t]:.4f}")
                w.writerows((*head, name, _fmt(table[t, a], 2)) for a, name in enumerate(ANGLE_NAMES))
    return path


# --------------------------------------------------------------------------------------------
# The registry


def _per_person_targets(seq: PoseSequence, path: Path, people: People) -> list[tuple[int, Path]]:
    """(person index, file) of a per-person format: the main person at ``path``, others at
    ``<stem>.p<ID><suffix>``; people never present are skipped."""
    idx = [seq.main_person] if people is None else person_indices(seq, people)
    out = []
    for p in idx:
        if not seq.people_present[p].any():
            continue
        out.append((p, path if p == seq.main_person else person_path(path, int(seq.person_ids[p]))))
    return out


def planned_outputs(seq: PoseSequence, paths: Mapping[str, str | Path], formats: Iterable[str] | None = None,
                    *, people: People = None) -> dict[str, list[Path]]:
    """Every file :func:`write_exports` would write, per format (per-person formats may list
    several; none when the selected people are never present)."""
    fmts = parse_exports(list(paths) if formats is None else formats)
    out: dict[str, list[Path]] = {}
    for f in fmts:
        if f not in paths:
            raise InputError(f"no output path given for --export {f}")
        path = Path(paths[f])
        out[f] = [p for _, p in _per_person_targets(seq, path, people)] if f in PER_PERSON_FORMATS else [path]
    return out


def write_exports(seq: PoseSequence, paths: Mapping[str, str | Path], formats: Iterable[str] | None = None, *,
                  overwrite: bool = False, people: People = None, protect: Iterable[str | Path] = (),
                  bvh_rest: str = "clip", bvh_names: str = "h36m",
                  overwrite_option: str = "overwrite=True") -> dict[str, Path | list[Path]]:
    """Write ``seq`` in each of ``formats`` (default: every key of ``paths``).

    Args:
        seq: the poses (every person; NaN where absent).
        paths: format → output path (per-person formats: the main person's path, see the module
            docstring); :func:`export_paths` builds them from a base name.
        formats: formats to write, a subset of :data:`EXPORT_FORMATS` (or ``"all"``).
        overwrite: replace existing files; without it an existing output stops the call
            before anything is written (:class:`~pose3d_cli.errors.OutputExistsError`).
        people: ``None`` (every person; BVH/TRC the main person only), ``"main"``, ``"all"``,
            or tracker ids (see the module docstring).
        protect: input files no output may resolve to (:class:`InputError` if one does).
        bvh_rest: BVH rest pose, ``"clip"`` (the clip's typical posture) or ``"tpose"``.
        bvh_names: BVH joint names, ``"h36m"`` (the pose file's) or ``"animator"``
            (Hips, LeftUpLeg, … for retargeting; see :mod:`pose3d_cli.io.bvh`).
        overwrite_option: how the caller spells overwriting, for the error message
            (``--overwrite`` on the command line).

    Returns:
        format → the file written, or the list of files for a per-person format that wrote
        several (an empty list when the selected people are never present).

    Every file is written to a temporary name and renamed into place when complete.
    """
    from pose3d_cli.io.bvh import BVH_NAMES, BVH_RESTS

    if bvh_rest not in BVH_RESTS:
        raise InputError(f"BVH rest pose {bvh_rest!r}: choose {' or '.join(BVH_RESTS)}")
    if bvh_names not in BVH_NAMES:
        raise InputError(f"BVH joint names {bvh_names!r}: choose {' or '.join(BVH_NAMES)}")
    person_indices(seq, people)  # unknown ids fail before any work
    plan = planned_outputs(seq, paths, formats, people=people)
    all_files = [p for files in plan.values() for p in files]
    seen: dict[Path, str] = {}
    for fmt, files in plan.items():
        for p in files:
            key = Path(p).resolve()
            if key in seen:
                raise InputError(f"{p}: both --export {seen[key]} and {fmt} would write this file; "
                                 "give them different paths")
            seen[key] = fmt
    check_not_inputs(all_files, list(protect))
    for p in all_files:
        check_writable(p, overwrite, option=overwrite_option)

    chosen = select_people(seq, people if people is not None else "all")
    written: dict[str, Path | list[Path]] = {}
    for fmt in plan:
        path = Path(paths[fmt])
        if fmt == "npz":
            written[fmt] = save_poses(chosen, path, overwrite=overwrite)
        elif fmt == "json":
            written[fmt] = write_json(path, chosen, overwrite=overwrite)
        elif fmt == "csv":
            written[fmt] = write_csv(path, chosen, overwrite=overwrite)
        elif fmt == "angles":
            written[fmt] = write_angles_csv(path, chosen, overwrite=overwrite)
        elif fmt == "html":
            from pose3d_cli.io.html_viewer import write_html

            written[fmt] = write_html(path, chosen, overwrite=overwrite)
        else:
            files = []
            for p, target in _per_person_targets(seq, path, people):
                files.append(_write_person(fmt, target, seq, p, overwrite=overwrite, bvh_rest=bvh_rest,
                                           bvh_names=bvh_names))
            written[fmt] = files[0] if len(files) == 1 else files
    return written


def _write_person(fmt: str, path: Path, seq: PoseSequence, p: int, *, overwrite: bool, bvh_rest: str,
                  bvh_names: str) -> Path:
    span = person_span(seq.people_present[p])
    if span is None:  # _per_person_targets skips people never present
        raise InputError(f"person {int(seq.person_ids[p])} is never present; nothing to write to {path}")
    a, b = span
    if fmt == "trc":
        from pose3d_cli.io.trc import write_trc

        poses = np.where(seq.people_present[p, a:b, None, None], seq.people_poses_3d_world[p, a:b], np.nan)
        return write_trc(path, poses, seq.fps, marker_names=seq.joint_names,
                         first_frame=seq.start_frame + a, overwrite=overwrite)
    from pose3d_cli.io.bvh import write_bvh

    poses = fill_gaps(seq.people_poses_3d_world[p, a:b], seq.people_present[p, a:b])
    return write_bvh(path, poses, seq.fps, layout=seq.layout, overwrite=overwrite, rest=bvh_rest, names=bvh_names)
