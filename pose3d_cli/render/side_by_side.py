"""The side-by-side render: the input frame with its 2D skeleton | the 3D skeleton.

It streams: one decoded frame in, one composed frame out to the encoder; the only per-clip
arrays held are the poses and keypoints. The 3D panel is one reused canvas (see
:mod:`pose3d_cli.render.draw`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.display import arrange_people
from pose3d_cli.render.draw import (
    SkeletonPanel,
    View3D,
    draw_skeleton_2d,
    follow_centres,
    person_colour,
)
from pose3d_cli.skeleton import Layout, get_layout

#: Azimuth (degrees) of the 3D view when none is given: the display azimuth of Human3.6M
#: camera 0, whose orientation also defines the in-the-wild world frame.
DEFAULT_AZIMUTH_DEG = 70.0
#: Output height (pixels) when none is given and the input is taller.
MAX_DEFAULT_HEIGHT = 720
#: Largest render side (pixels) accepted: 8K UHD is 7680 wide; beyond, memory, not quality, grows.
MAX_SIDE = 8192
#: x264 settings of the render. Encoding is the render's largest cost: at 1760×480 on 2 cores
#: ``superfast`` takes about 60 % of ``veryfast``'s time for a file about 1.4× larger at the
#: same visual quality (flat panels and thin lines compress well either way).
ENCODER_PRESET = "superfast"
ENCODER_CRF = 23


class FrameWriter(Protocol):
    """What the renderer writes to: ``write(frame_rgb)`` with ``(H, W, 3)`` uint8 frames."""

    def write(self, frame_rgb: np.ndarray) -> None: ...


@dataclass(frozen=True)
class RenderLayout:
    """Pixel geometry of the composed frame.

    ``left_box`` is the area the input frame is fitted into (aspect kept, letterboxed),
    ``panel`` the size of the 3D panel to its right; the output is ``(width, height)``.
    """

    width: int
    height: int
    left_box: tuple[int, int]
    panel: tuple[int, int]


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def parse_size(size: str | int | tuple[int, int] | None) -> int | tuple[int, int] | None:
    """``"720"`` → 720 (output height); ``"1280x480"`` → (1280, 480) (whole output); ``None`` stays."""
    if size is None:
        return None
    text = "x".join(str(v) for v in size) if isinstance(size, tuple) else str(size).lower().strip()
    try:
        if "x" in text:
            w, h = (int(v) for v in text.split("x", 1))
            if not (64 <= w <= MAX_SIDE and 64 <= h <= MAX_SIDE):
                raise ValueError
            return (w, h)
        h = int(text)
        if not 64 <= h <= MAX_SIDE:
            raise ValueError
        return h
    except ValueError:
        raise InputError(f"--size {size!r}: expected an output height like 720 or a size WxH like "
                         f"1280x480 (each from 64 to {MAX_SIDE} pixels)") from None


def plan_layout(src_w: int, src_h: int, size: int | tuple[int, int] | None = None) -> RenderLayout:
    """Choose the output geometry for an input of ``src_w × src_h`` pixels.

    ``size=None``: height = the input height (at most :data:`MAX_DEFAULT_HEIGHT`); ``size=H``:
    that height. The input keeps its aspect on the left and the 3D panel is an ``H × H`` square.
    ``size=(W, H)``: the whole output is ``W × H``; the 3D panel takes ``H`` pixels of width
    (at most half of ``W``) and the input is letterboxed into the rest. All sizes are even
    (yuv420p needs it).
    """
    size = parse_size(size)
    if isinstance(size, tuple):
        w, h = _even(size[0]), _even(size[1])
        panel_w = _even(min(h, w / 2))
        return RenderLayout(w, h, (w - panel_w, h), (panel_w, h))
    h = _even(size if size is not None else min(src_h, MAX_DEFAULT_HEIGHT))
    left_w = _even(src_w * h / src_h)
    return RenderLayout(left_w + h, h, (left_w, h), (h, h))


@dataclass(frozen=True)
class RenderStats:
    """What :func:`render_side_by_side` did: frames written, output size, seconds spent."""

    frames: int
    width: int
    height: int
    seconds: float


def prefetch(frames: Iterable[np.ndarray], depth: int = 4) -> Iterator[np.ndarray]:
    """Pull ``frames`` in a background thread, at most ``depth`` ahead (memory stays bounded).

    Decoding (PyAV) releases the GIL, so it overlaps with drawing here while the ffmpeg
    encoder runs in its own process: the three stages of the render proceed in parallel.
    An exception in the decoder is re-raised in the caller's thread.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for f in frames:
                while not stop.is_set():
                    try:
                        q.put(f, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="pose3d-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        close = getattr(frames, "close", None)
        thread.join(timeout=5)
        if close is not None and not thread.is_alive():
            close()


def clip_radius_m(pose_world_m: np.ndarray) -> float:
    """Side of the 3D view cube in metres: 1.7 m (the paper's) or more for a tall skeleton."""
    finite = pose_world_m[np.isfinite(pose_world_m).all(axis=-1)]
    if finite.size == 0:
        return 1.7
    return float(max(1.7, 1.15 * np.percentile(finite[:, 2], 99)))


def render_side_by_side(
    frames_rgb: Iterable[np.ndarray],
    writer: FrameWriter,
    *,
    kpts_px: np.ndarray,
    pose_world_m: np.ndarray,
    fps: float,
    src_size: tuple[int, int],
    layout_2d: str | Layout = "coco17",
    layout_3d: str | Layout = "h36m17",
    filled_frames: np.ndarray | None = None,
    person_ids: Sequence[int] | None = None,
    placed: bool = False,
    size: int | tuple[int, int] | None = None,
    azimuth_deg: float = DEFAULT_AZIMUTH_DEG,
    orbit_deg_per_s: float = 0.0,
    elevation_deg: float = 15.0,
    progress: Callable[[int], None] | None = None,
) -> RenderStats:
    """Compose and write one output frame per input frame, streaming.

    Args:
        frames_rgb: the input frames, ``(h, w, 3)`` uint8 RGB, in order (an iterator: it is
            consumed once and never stored).
        writer: receives the composed ``(H, W, 3)`` uint8 RGB frames.
        kpts_px: ``(T, K, 2)`` 2D keypoints of one person, or ``(P, T, K, 2)`` of several, in
            pixels of the input frames (NaN where a person is absent).
        pose_world_m: ``(T, J, 3)`` or ``(P, T, J, 3)`` 3D poses, world frame (metres, z up,
            ground at 0; NaN where absent).
        fps: frame rate of the input (the orbit and the time label use it).
        src_size: (w, h) of the input frames.
        filled_frames: ``(T,)`` or ``(P, T)`` bool, frames whose keypoints were interpolated
            (drawn grey).
        person_ids: ids to label the people with (given, or several people: each person gets a
            colour and an id tag in both panels).
        placed: the world poses carry real relative root positions (a trajectory model); else
            several people are arranged side by side
            (:func:`~pose3d_cli.geometry.display.arrange_people`).
        size: output height, or (width, height) of the whole output (see :func:`plan_layout`).
        azimuth_deg: starting azimuth of the 3D camera; ``orbit_deg_per_s`` turns it over time.

    Stops after ``T`` frames or when the frames run out, whichever comes first; the caller
    checks :attr:`RenderStats.frames` against the expected count.
    """
    lay2 = get_layout(layout_2d) if isinstance(layout_2d, str) else layout_2d
    lay3 = get_layout(layout_3d) if isinstance(layout_3d, str) else layout_3d
    kpts_px = np.asarray(kpts_px, np.float32)
    pose_world_m = np.asarray(pose_world_m, np.float32)
    if pose_world_m.ndim == 3:
        pose_world_m, kpts_px = pose_world_m[None], kpts_px[None]
        filled_frames = None if filled_frames is None else np.asarray(filled_frames, bool)[None]
    p_count, t_total = pose_world_m.shape[:2]
    if kpts_px.shape[:2] != (p_count, t_total):
        raise InputError(f"render: 2D keypoints for {kpts_px.shape[:2]} (people, frames) but 3D poses "
                         f"for {(p_count, t_total)}")
    filled = np.zeros((p_count, t_total), bool) if filled_frames is None else np.asarray(filled_frames, bool)
    tagged = person_ids is not None or p_count > 1
    ids = list(person_ids) if person_ids is not None else list(range(p_count))
    colours = [person_colour(i) for i in range(p_count)] if tagged else [None]
    names = [f"id {pid}" for pid in ids] if tagged else [""]
    if p_count > 1 and not placed:
        pose_world_m = arrange_people(pose_world_m, kpts_px, azimuth_deg)  # as the HTML viewer does
    geo = plan_layout(src_size[0], src_size[1], size)
    src_w, src_h = src_size
    scale = min(geo.left_box[0] / src_w, geo.left_box[1] / src_h)
    fit_w, fit_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    off_x, off_y = (geo.left_box[0] - fit_w) // 2, (geo.left_box[1] - fit_h) // 2
    panel = SkeletonPanel(geo.panel, lay3)
    with np.errstate(invalid="ignore"):  # frames where nobody is present: NaN, held by follow_centres
        group = np.nanmean(pose_world_m, axis=0) if p_count > 1 else pose_world_m[0]
    centres = follow_centres(group, fps)
    radius = clip_radius_m(pose_world_m)
    if p_count > 1:
        # The cube follows the group; it is sized to hold the people present at once (their
        # spread in most frames), not everywhere they walk over the clip.
        roots = pose_world_m[:, :, 0, :2]  # (P, T, 2)
        with np.errstate(invalid="ignore"):
            spread = np.nanmax(roots, axis=0) - np.nanmin(roots, axis=0)  # (T, 2), NaN where nobody
        spread = spread[np.isfinite(spread).all(axis=1)]
        if len(spread):
            span = float(np.percentile(spread.max(axis=1), 90))
            radius = max(radius, min(span + 1.0, 4 * radius))
    thickness = max(2, round(fit_h / 240))
    out = np.zeros((geo.height, geo.width, 3), np.uint8)
    left = out[off_y:off_y + fit_h, off_x:off_x + fit_w]
    right = out[:, geo.left_box[0]:]
    start = time.perf_counter()
    n = 0
    for frame in frames_rgb:
        if n >= t_total:
            break
        if frame.shape[1] != src_w or frame.shape[0] != src_h:
            raise InputError(f"render: frame {n} is {frame.shape[1]}x{frame.shape[0]}, "
                             f"expected {src_w}x{src_h}")
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        cv2.resize(frame, (fit_w, fit_h), dst=left, interpolation=interp)
        for p in range(p_count):
            draw_skeleton_2d(left, kpts_px[p, n], lay2, scale=scale, filled=bool(filled[p, n]),
                             thickness=thickness, colour=colours[p] if tagged else None,
                             label=names[p] if tagged else "")
        view = View3D((float(centres[n, 0]), float(centres[n, 1])), radius,
                      azimuth_deg + orbit_deg_per_s * n / fps, elevation_deg)
        right[:] = panel.draw(pose_world_m[:, n], view, label=f"{n / fps:6.2f} s",
                              colours=colours if tagged else None, names=names if tagged else None)
        writer.write(out)
        n += 1
        if progress is not None:
            progress(1)
    return RenderStats(n, geo.width, geo.height, time.perf_counter() - start)
