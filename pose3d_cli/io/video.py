"""Video probing, streaming decode and H.264 encode.

Sources are a video file (mp4, mov, avi, mkv, webm, anything FFmpeg reads), a folder of images
or a glob pattern of images (``"frames/*.png"``) played at a given fps.

Why these tools:

* **Decode and probe with PyAV** (``av``, which bundles its own FFmpeg): it runs in-process, so
  frames are not copied through a pipe; it decodes with FFmpeg's frame threads; it reports the
  display matrix of every frame (phone videos store "rotate 90°" there, not in the pixels), the
  exact frame count, the time base and the audio streams; and it raises typed errors that are
  turned into one-line :class:`~pose3d_cli.errors.VideoError` messages here. Frames are yielded
  one at a time, so memory stays bounded whatever the length. OpenCV also decodes H.264/VP9,
  but its frame count is a guess for mkv/webm and variable frame rate, it says nothing about
  audio, and it does not report rotation; ``benchmarks/detect.py`` compares the two decoders.
  The YUV→RGB conversion of ordinary 4:2:0 video is done by OpenCV, which is several times
  faster than PyAV's (see :func:`_to_rgb`).
* **Encode through an ffmpeg subprocess** fed raw RGB frames on its stdin: ffmpeg's libx264
  and its pixel-format conversion are the reference, and its stderr is shown when it fails.
  ``ffmpeg`` on ``PATH`` is used (or ``$POSE3D_FFMPEG``), else the static binary bundled in
  the ``imageio-ffmpeg`` wheel, so a plain ``pip install`` encodes with no system ffmpeg.

Convention: frames are ``(H, W, 3)`` ``uint8`` RGB of the *upright* picture (rotation metadata
applied), pixel origin at the top-left, x right, y down. ``fps`` is the true average frame rate
(frames / duration), also for variable-frame-rate video; every decoded frame is yielded once
(no frames are dropped or duplicated to make the rate constant).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from pose3d_cli.errors import BackendUnavailableError, VideoError
from pose3d_cli.io.atomic import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_HINT = "give a video file (mp4, mov, avi, mkv, webm), a folder of images or a glob like 'frames/*.png'"
DEFAULT_IMAGE_FPS = 30.0


@dataclass(frozen=True)
class VideoInfo:
    """What a source holds.

    Attributes:
        path: the source as given (file, folder or glob).
        width, height: size in pixels of the upright frame (after rotation).
        fps: true average frames per second (frames / duration; the given fps for images).
        num_frames: number of frames that decode yields.
        duration_s: duration in seconds of the video stream.
        rotation_deg: counter-clockwise display rotation in degrees (0, 90, 180, 270) that
            decode applies; 0 for images.
        has_audio: the container holds at least one audio stream.
        codec: decoder name (``"h264"``, ``"vp9"``…) or ``"images"``.
        coded_width, coded_height: size of the stored pictures before rotation.
        variable_frame_rate: frame durations differ by more than 1 % across the clip.
    """

    path: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration_s: float
    rotation_deg: int = 0
    has_audio: bool = False
    codec: str = ""
    coded_width: int = 0
    coded_height: int = 0
    variable_frame_rate: bool = False

    @property
    def is_image_sequence(self) -> bool:
        return self.codec == "images"


# --------------------------------------------------------------------------------------------
# Sources


def is_image_glob(text: str) -> bool:
    """The source names images by a pattern (``frames/*.png``), not a file or folder."""
    return any(ch in text for ch in "*?[")


def _natural_key(path: Path) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name)]


def list_images(source: str | os.PathLike) -> list[Path]:
    """Image files of a folder or glob pattern in natural order (``f2.png`` before ``f10.png``).

    Raises :class:`VideoError` when the folder or pattern matches no image.
    """
    text = str(source)
    if is_image_glob(text):
        files = [Path(p) for p in glob.glob(text)]
        what = f"glob {text!r}"
    else:
        files = [p for p in Path(text).iterdir()]
        what = f"folder {text}"
    files = sorted((p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise VideoError(f"{what} holds no images ({', '.join(IMAGE_SUFFIXES)}); {VIDEO_HINT}")
    return files


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file; {VIDEO_HINT}")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file; {VIDEO_HINT}")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes); give a complete video file")


def _rotation_k(rotation_deg: float) -> int:
    """Number of counter-clockwise quarter turns for a display rotation in degrees."""
    return round(rotation_deg / 90.0) % 4


def _open_container(path: Path):
    import av

    _check_file(path)
    try:
        container = av.open(str(path), mode="r", timeout=30.0)
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a video FFmpeg can read ({_av_reason(exc)}); the file may be "
                         f"truncated or not a video; {VIDEO_HINT}") from None
    if not container.streams.video:
        has_audio = bool(container.streams.audio)
        container.close()
        kind = "audio only" if has_audio else "no streams"
        raise VideoError(f"{path}: has no video stream ({kind}); give a file with a video track")
    return container


def _av_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:160]


def _first_frame(container, path: Path):
    import av

    stream = container.streams.video[0]
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: video stream cannot be decoded ({_av_reason(exc)}); the file is "
                         "truncated or corrupt, re-encode or re-download it") from None
    raise VideoError(f"{path}: video stream holds no decodable frame; the file is truncated or "
                     "corrupt, re-encode or re-download it")


def _count_packets(container, stream) -> tuple[int, float | None, float | None]:
    """Count video packets (cheap: no decoding) and return (count, first pts, end time) in s."""
    count, first, end = 0, None, None
    container.seek(0)
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        count += 1
        t0 = float(packet.pts * packet.time_base)
        t1 = t0 + float((packet.duration or 0) * packet.time_base)
        first = t0 if first is None else min(first, t0)
        end = t1 if end is None else max(end, t1)
    return count, first, end


def probe_video(source: str | os.PathLike, fps: float | None = None) -> VideoInfo:
    """Describe a video file, image folder or image glob without decoding it all.

    Args:
        source: path of a video file, a folder of images or a glob pattern of images.
        fps: frame rate of an image sequence (default 30); ignored for video files.

    Returns:
        :class:`VideoInfo` with the upright frame size, true average fps and frame count.

    Raises:
        VideoError: missing, empty, unreadable, truncated or audio-only input.
    """
    text = str(source)
    if is_image_glob(text) or Path(text).is_dir():
        return _probe_images(text, fps)
    path = Path(text)
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        first = _first_frame(container, path)
        rotation = _rotation_k(getattr(first, "rotation", 0) or 0) * 90
        coded_w, coded_h = int(first.width), int(first.height)
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
        count, t_first, t_end = _count_packets(container, stream)
        if count == 0:
            raise VideoError(f"{path}: video stream holds no frames; the file is truncated or corrupt")
        duration = None
        if t_first is not None and t_end is not None and t_end > t_first:
            duration = t_end - t_first
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000.0
        nominal = stream.average_rate or stream.guessed_rate or stream.base_rate
        if duration and duration > 0:
            avg_fps = count / duration
        elif nominal:
            avg_fps = float(nominal)
            duration = count / avg_fps
        else:
            raise VideoError(f"{path}: cannot tell the frame rate (no timestamps); re-encode it with ffmpeg")
        vfr = bool(nominal) and abs(float(Fraction(nominal)) - avg_fps) > 0.01 * avg_fps
    finally:
        container.close()
    w, h = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    return VideoInfo(path=text, width=w, height=h, fps=float(avg_fps), num_frames=int(count),
                     duration_s=float(duration), rotation_deg=rotation, has_audio=has_audio,
                     codec=codec, coded_width=coded_w, coded_height=coded_h, variable_frame_rate=vfr)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"{path}: not a readable image; remove it from the folder or fix it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _probe_images(source: str, fps: float | None) -> VideoInfo:
    files = list_images(source)
    fps = DEFAULT_IMAGE_FPS if fps is None else float(fps)
    if not fps > 0:
        raise VideoError(f"{source}: --fps must be positive, got {fps}")
    first = _read_image(files[0])
    h, w = first.shape[:2]
    return VideoInfo(path=source, width=w, height=h, fps=fps, num_frames=len(files),
                     duration_s=len(files) / fps, codec="images", coded_width=w, coded_height=h)


# --------------------------------------------------------------------------------------------
# Decode


def iter_frames(source: str | os.PathLike, start: int | None = None, end: int | None = None,
                fps: float | None = None) -> Iterator[np.ndarray]:
    """Yield upright RGB frames ``(H, W, 3) uint8`` one at a time (bounded memory).

    Args:
        source: video file, image folder or image glob.
        start: index of the first frame to yield (0-based, default 0).
        end: index one past the last frame to yield (default: to the end).
        fps: frame rate of an image sequence (unused for decoding, accepted for symmetry).

    Raises:
        VideoError: the source cannot be opened, or decoding fails part-way (corrupt data).
    """
    start = 0 if start is None else int(start)
    if start < 0 or (end is not None and end < start):
        raise VideoError(f"{source}: bad frame range start={start} end={end}; need 0 <= start <= end")
    text = str(source)
    if is_image_glob(text) or Path(text).is_dir():
        files = list_images(text)[start:end]
        size = None
        for f in files:
            img = _read_image(f)
            if size is None:
                size = img.shape
            elif img.shape != size:
                raise VideoError(f"{f}: image size {img.shape[1]}x{img.shape[0]} differs from the first "
                                 f"image's {size[1]}x{size[0]}; resize all images of the sequence alike")
            yield img
        return
    yield from _iter_video(Path(text), start, end)


def _to_rgb(frame, cv2) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of a decoded frame.

    The common case, 8-bit limited-range 4:2:0 (``yuv420p``) at even size, goes through OpenCV's
    YUV→RGB conversion: about 5× faster than PyAV's ``to_ndarray(format="rgb24")`` (libswscale)
    at 640×360 on 2 cores, within ±1–2 levels of it. Anything else goes through PyAV.
    """
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def _iter_video(path: Path, start: int, end: int | None) -> Iterator[np.ndarray]:
    import av
    import cv2

    container = _open_container(path)
    index = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if end is not None and index >= end:
                    break
                if index >= start:
                    rgb = _to_rgb(frame, cv2)
                    k = _rotation_k(getattr(frame, "rotation", 0) or 0)
                    if k:
                        rgb = np.ascontiguousarray(np.rot90(rgb, k))
                    yield rgb
                index += 1
        except av.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed at frame {index} ({_av_reason(exc)}); the file is "
                             "truncated or corrupt, re-encode or re-download it") from None
    finally:
        container.close()
    if index == 0:
        raise VideoError(f"{path}: video stream holds no decodable frame; the file is truncated or corrupt")


def read_frames(source: str | os.PathLike, start: int | None = None, end: int | None = None) -> np.ndarray:
    """All frames ``start:end`` as one ``(T, H, W, 3) uint8`` array — for short clips and tests."""
    frames = list(iter_frames(source, start, end))
    if not frames:
        raise VideoError(f"{source}: no frames in range start={start} end={end}")
    return np.stack(frames)


# --------------------------------------------------------------------------------------------
# Encode


def find_ffmpeg() -> str:
    """Path of an ffmpeg executable: ``$POSE3D_FFMPEG``, ``ffmpeg`` on PATH, else imageio-ffmpeg's.

    Raises:
        BackendUnavailableError: none found.
    """
    env = os.environ.get("POSE3D_FFMPEG")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise BackendUnavailableError(f"POSE3D_FFMPEG={env} is not an executable file; unset it or fix the path")
        return env
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise BackendUnavailableError(f"no ffmpeg found ({exc}); install one with `pip install imageio-ffmpeg` "
                                      "or your system's ffmpeg package") from None


def _stderr_tail(text: str, lines: int = 3) -> str:
    """ffmpeg's stderr as one line: its first messages (the cause comes first; what follows is
    the fallout), without the ``[codec @ 0x…]`` prefixes."""
    kept: list[str] = []
    for ln in text.splitlines():
        ln = re.sub(r"^(\[[^\]]*\]\s*)+", "", ln.strip()).strip()
        if ln and ln not in kept:
            kept.append(ln)
    return " | ".join(kept[:lines])[:400] or "no message"


def _check_encoded(path: Path, frames: int) -> str:
    """'' when ``path`` opens as an MP4 with a video stream of ``frames`` frames, else what is wrong.

    ffmpeg has been seen to exit 0 on a full disk leaving a file without its index (``moov``
    atom); an encoder's exit status alone is not trusted before the file is renamed into place."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream"
            got = container.streams.video[0].frames
    except (av.error.FFmpegError, OSError) as exc:
        return _av_reason(exc)
    if got and got != frames:
        return f"{got} frames in the file where {frames} were written"
    return ""


class VideoWriter:
    """Encode RGB frames to an H.264 (yuv420p) MP4 by piping them to ffmpeg.

    Odd frame sizes are padded by one pixel to even (yuv420p needs even sizes). The output is
    written to a temporary file and renamed into place on a clean :meth:`close`. Use as a
    context manager::

        with VideoWriter("out.mp4", fps=30.0) as w:
            for frame_rgb in frames:        # (H, W, 3) uint8, all the same size
                w.write(frame_rgb)

    Args:
        path: output ``.mp4`` path.
        fps: frame rate written into the file.
        overwrite: replace an existing ``path`` (else :class:`OutputExistsError`).
        crf: x264 constant-rate factor (lower is better quality, 18–23 is typical).
        preset: x264 speed preset.
    """

    def __init__(self, path: str | os.PathLike, fps: float, overwrite: bool = True, crf: int = 20,
                 preset: str = "veryfast") -> None:
        if not fps > 0:
            raise VideoError(f"{path}: frame rate must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.overwrite = overwrite
        self.crf = int(crf)
        self.preset = preset
        self.size: tuple[int, int] | None = None  # (w, h) of the input frames
        self._yuv = False
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._tmp: Path | None = None
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path, overwrite))

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc_type, exc, tb)

    def _start(self, w: int, h: int) -> None:
        self.size = (w, h)
        # Even sizes: convert RGB to 4:2:0 here with OpenCV (BT.601 limited range, as swscale
        # does by default), which is much cheaper than swscale's conversion and pipes half the bytes.
        self._yuv = w % 2 == 0 and h % 2 == 0
        self._stderr = tempfile.TemporaryFile()
        cmd = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p" if self._yuv else "rgb24",
               "-s", f"{w}x{h}", "-r", f"{self.fps:.6f}",
               "-i", "pipe:0", "-an"]
        if w % 2 or h % 2:
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-f", "mp4", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)

    def _error_text(self) -> str:
        if self._stderr is None:
            return "no message"
        self._stderr.seek(0)
        return _stderr_tail(self._stderr.read().decode("utf-8", "replace"))

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3) uint8`` RGB frame (the same size as the first one)."""
        frame = np.asarray(frame_rgb)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise VideoError(f"{self.path}: frames must be (H, W, 3) RGB, got shape {frame.shape}")
        if frame.dtype != np.uint8:
            raise VideoError(f"{self.path}: frames must be uint8, got {frame.dtype}")
        h, w = frame.shape[:2]
        if self._proc is None:
            self._start(w, h)
        elif (w, h) != self.size:
            raise VideoError(f"{self.path}: frame {self.frames_written} is {w}x{h}, the first was "
                             f"{self.size[0]}x{self.size[1]}; all frames must have one size")
        try:
            if self._yuv:
                import cv2

                payload = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)
            else:
                payload = np.ascontiguousarray(frame)
            self._proc.stdin.write(payload.tobytes())
        except (BrokenPipeError, OSError):
            self._proc.wait()
            msg = self._error_text()
            self._abort(None, None, None)
            raise VideoError(f"{self.path}: ffmpeg stopped while encoding: {msg}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and rename it into place; return its path."""
        if self._stack is None:
            return self.path
        if self._proc is None:
            self._abort(None, None, None)
            raise VideoError(f"{self.path}: no frames were written; nothing to encode")
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.close()
        rc = self._proc.wait()
        if rc != 0:
            msg = self._error_text()
            self._abort(None, None, None)
            raise VideoError(f"{self.path}: ffmpeg failed (exit {rc}): {msg}")
        problem = _check_encoded(self._tmp, self.frames_written)
        if problem:
            self._abort(None, None, None)
            raise VideoError(f"{self.path}: the encoded file is not playable ({problem}); check free disk space "
                             "and run again")
        if self._stderr is not None:
            self._stderr.close()
        stack, self._stack = self._stack, None
        stack.close()  # renames the temporary file onto self.path
        return self.path

    def __del__(self) -> None:
        # A writer dropped without close(): stop ffmpeg and remove the unfinished temporary file.
        if getattr(self, "_stack", None) is not None:
            with contextlib.suppress(Exception):
                self._abort(None, None, None)

    def _abort(self, exc_type, exc, tb) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            self._proc.kill()
            self._proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            # Let atomic_path see the failure so it deletes the temporary file.
            stack.__exit__(exc_type or RuntimeError, exc or RuntimeError("aborted"), tb)


def run_ffmpeg(args: list[str], timeout: float = 300.0, exe: str | None = None) -> None:
    """Run ffmpeg (``exe``, default :func:`find_ffmpeg`) with ``args`` after the executable;
    raise :class:`VideoError` with its stderr."""
    cmd = [exe or find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VideoError(f"ffmpeg took longer than {timeout:.0f} s: {' '.join(args)}") from None
    if proc.returncode != 0:
        raise VideoError(f"ffmpeg failed (exit {proc.returncode}): {_stderr_tail(proc.stderr.decode('utf-8', 'replace'))}")
