"""Temporal smoothing of lifted 3D poses: a zero-phase Butterworth low-pass for offline use and
the one-euro filter for causal (live) use.

Both act on each person's *present runs* separately (contiguous frames where the person is in
view; NaN frames between runs stay NaN and are never bridged), on every coordinate of every
joint.

``butterworth``
    A Butterworth low-pass of ``order`` (default 2) with its −3 dB point at ``cutoff_hz``, run
    forwards and backwards (``scipy.signal.filtfilt``): no phase lag, and the two passes give
    an effective order of ``2·order`` with −6 dB at ``cutoff_hz``. The run's ends are padded
    by odd reflection (scipy's default) over at most ``3·(order + 1)`` frames. Needs the
    whole run, so it is for files, not live use.

``one-euro``
    The one-euro filter (Casiez, Roussel and Vogel, CHI 2012): an exponential smoother whose
    cutoff rises with speed, ``f_c = cutoff_hz + beta · |v|``, with ``|v|`` the joint's 3D speed
    (m/s, itself low-passed at ``d_cutoff_hz``), so still poses are smoothed hard and fast
    motion lags little. Causal: each output frame uses only earlier frames.

Convention: poses ``(..., T, J, 3)`` in metres (any frame: both filters are linear in the
positions up to the one-euro speed, which is rotation-invariant); ``fps`` is the frame rate of
the poses (Hz). Defaults (see ``benchmarks/smoothing.py`` and ``docs/outputs.md``):
:data:`DEFAULT_CUTOFF_HZ`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.world import present_runs
from pose3d_cli.io.pose_file import PoseSequence

SMOOTH_METHODS = ("butterworth", "one-euro")
#: Cutoffs chosen from ``benchmarks/smoothing.py`` (held-out mocap, the built-in lifters; the
#: table is in ``docs/outputs.md``). Butterworth 3–6 Hz all lower MPJVE by about a third and
#: MPJPE by 0.1 mm; 6 Hz leaves the most room for motion faster than the walking measured.
DEFAULT_CUTOFF_HZ = {"butterworth": 6.0, "one-euro": 1.0}
#: One-euro speed coefficient (Hz per m/s) and speed low-pass (Hz) chosen by the same
#: benchmark: the largest MPJVE drop that adds at most 0.1 mm MPJPE.
DEFAULT_BETA = 30.0
DEFAULT_D_CUTOFF_HZ = 1.0
DEFAULT_ORDER = 2


@dataclass(frozen=True)
class SmoothOptions:
    """A smoothing filter and its parameters (see the module docstring).

    Attributes:
        method: ``"butterworth"`` or ``"one-euro"``.
        cutoff_hz: Butterworth −3 dB cutoff, or the one-euro minimum cutoff (Hz).
        order: Butterworth order (per pass).
        beta: one-euro speed coefficient (1/m: Hz per m/s of joint speed).
        d_cutoff_hz: one-euro cutoff of the speed estimate (Hz).
    """

    method: str = "butterworth"
    cutoff_hz: float | None = None
    order: int = DEFAULT_ORDER
    beta: float = DEFAULT_BETA
    d_cutoff_hz: float = DEFAULT_D_CUTOFF_HZ

    def __post_init__(self) -> None:
        if self.method not in SMOOTH_METHODS:
            raise InputError(f"smoothing method {self.method!r} is unknown; choose from "
                             f"{', '.join(SMOOTH_METHODS)} (e.g. --smooth butterworth:6)")
        if self.cutoff_hz is None:
            object.__setattr__(self, "cutoff_hz", DEFAULT_CUTOFF_HZ[self.method])
        if not (math.isfinite(self.cutoff_hz) and self.cutoff_hz > 0):
            raise InputError(f"smoothing cutoff {self.cutoff_hz} Hz: give a positive frequency")
        if not 1 <= int(self.order) <= 8:
            raise InputError(f"Butterworth order {self.order}: give 1 to 8")
        if not (self.beta >= 0 and self.d_cutoff_hz > 0):
            raise InputError(f"one-euro beta {self.beta} must be >= 0 and d_cutoff {self.d_cutoff_hz} Hz > 0")

    def describe(self) -> str:
        """``"butterworth 6 Hz (order 2, zero-phase)"``-style text for summaries and files."""
        if self.method == "butterworth":
            return f"butterworth {self.cutoff_hz:g} Hz (order {self.order}, zero-phase)"
        return f"one-euro {self.cutoff_hz:g} Hz (beta {self.beta:g}, d_cutoff {self.d_cutoff_hz:g} Hz, causal)"


#: What ``infer``/``lift``/``batch`` apply when no ``--smooth`` is given (``benchmarks/smoothing.py``:
#: on held-out mocap a zero-phase 6 Hz Butterworth lowers velocity error by about a third at equal
#: MPJPE); a causal lifter gets the causal one-euro filter, which keeps the output streamable.
DEFAULT_SMOOTH = "butterworth:6"
DEFAULT_SMOOTH_CAUSAL = "one-euro"


def smoothing_for(value: str | None, *, causal: bool, fps: float) -> SmoothOptions | None:
    """``--smooth`` text with ``"default"`` resolved (:data:`DEFAULT_SMOOTH`, or
    :data:`DEFAULT_SMOOTH_CAUSAL` for a causal lifter) → options, or None for no smoothing.

    The default's cutoff is lowered to 40 % of the frame rate for clips too slow for it (a
    10 fps clip gets 4 Hz: a cutoff must stay below the Nyquist frequency, half the rate); a
    cutoff the user names is kept, and refused there if it cannot work."""
    if value != "default":
        return parse_smooth(value)
    options = parse_smooth(DEFAULT_SMOOTH_CAUSAL if causal else DEFAULT_SMOOTH)
    limit = 0.4 * float(fps)
    if options is not None and options.cutoff_hz > limit:
        options = replace(options, cutoff_hz=limit)
    return options


def parse_smooth(value: str | None) -> SmoothOptions | None:
    """``--smooth`` text → options: ``off``/``none``/``""`` → ``None``; ``butterworth``,
    ``butterworth:4`` (cutoff Hz), ``one-euro``, ``one-euro:1.0`` or ``one-euro:1.0:0.5``
    (min cutoff Hz, beta)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "off", "none", "no", "false", "0"):
        return None
    name, *params = text.split(":")
    name = {"butter": "butterworth", "oneeuro": "one-euro", "one_euro": "one-euro", "1euro": "one-euro"}.get(
        name, name)
    try:
        nums = [float(p) for p in params]
    except ValueError:
        raise InputError(f"--smooth {value!r}: parameters must be numbers, e.g. butterworth:6 or "
                         "one-euro:1.0:0.5") from None
    if name not in SMOOTH_METHODS:
        raise InputError(f"--smooth {value!r}: unknown filter; choose butterworth[:CUTOFF_HZ], "
                         "one-euro[:MIN_CUTOFF_HZ[:BETA]] or off")
    if len(nums) > (1 if name == "butterworth" else 2):
        raise InputError(f"--smooth {value!r}: too many parameters")
    kw: dict = {}
    if nums:
        kw["cutoff_hz"] = nums[0]
    if len(nums) > 1:
        kw["beta"] = nums[1]
    return SmoothOptions(method=name, **kw)


def butterworth_filtfilt(x: np.ndarray, fps: float, cutoff_hz: float, order: int = DEFAULT_ORDER) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 of finite ``x (T, ...)`` sampled at ``fps``.

    Runs shorter than 2 frames come back unchanged; shorter runs than scipy's default padding
    are padded by ``T - 1`` frames. Raises :class:`InputError` when ``cutoff_hz`` is not below
    the Nyquist frequency ``fps / 2``.
    """
    from scipy.signal import butter, filtfilt

    x = np.asarray(x, np.float64)
    nyquist = fps / 2.0
    if not cutoff_hz < nyquist:
        raise InputError(f"smoothing cutoff {cutoff_hz:g} Hz is not below the Nyquist frequency {nyquist:g} Hz "
                         f"of {fps:g} fps poses; give a lower cutoff (e.g. --smooth butterworth:{nyquist / 2:g})")
    if x.shape[0] < 2:
        return x.copy()
    b, a = butter(int(order), cutoff_hz, btype="low", fs=fps)
    padlen = min(3 * max(len(a), len(b)), x.shape[0] - 1)
    return filtfilt(b, a, x, axis=0, padlen=padlen)


def _alpha(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau * fps)


def one_euro(x: np.ndarray, fps: float, min_cutoff_hz: float, beta: float = DEFAULT_BETA,
             d_cutoff_hz: float = DEFAULT_D_CUTOFF_HZ) -> np.ndarray:
    """Causal one-euro filter along axis 0 of finite points ``x (T, ..., 3)`` sampled at ``fps``.

    Each point (last axis: its coordinates) gets its own adaptive cutoff from its speed norm.
    The first frame passes unchanged.
    """
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if x.shape[0] == 0:
        return out
    out[0] = x[0]
    a_d = _alpha(d_cutoff_hz, fps)
    speed_hat = np.zeros(x.shape[1:], np.float64)  # filtered velocity, per coordinate
    prev = x[0]
    for t in range(1, x.shape[0]):
        v = (x[t] - prev) * fps
        speed_hat = a_d * v + (1.0 - a_d) * speed_hat
        speed = np.linalg.norm(speed_hat, axis=-1, keepdims=True)
        a = _alpha(min_cutoff_hz + beta * speed, fps)
        prev = a * x[t] + (1.0 - a) * prev
        out[t] = prev
    return out


def smooth_array(poses: np.ndarray, fps: float, options: SmoothOptions) -> np.ndarray:
    """Smooth ``poses (T, J, 3)`` (NaN frames allowed: each finite run on its own).

    Returns float32 if the input was float32, else float64; NaN frames stay NaN.
    """
    arr = np.asarray(poses)
    if arr.ndim < 2:
        raise InputError(f"poses to smooth must have shape (T, J, 3), got {arr.shape}")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"smoothing needs a positive frame rate, got {fps}")
    out = np.array(arr, np.float64, copy=True)
    finite = np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)
    for a, b in present_runs(finite):
        if options.method == "butterworth":
            out[a:b] = butterworth_filtfilt(out[a:b], fps, options.cutoff_hz, options.order)
        else:
            out[a:b] = one_euro(out[a:b], fps, options.cutoff_hz, options.beta, options.d_cutoff_hz)
    return out.astype(arr.dtype if arr.dtype == np.float32 else np.float64, copy=False)


def smooth_poses(seq_or_array: PoseSequence | np.ndarray, method: str | SmoothOptions = "butterworth",
                 cutoff_hz: float | None = None, *, fps: float | None = None, order: int = DEFAULT_ORDER,
                 beta: float = DEFAULT_BETA, d_cutoff_hz: float = DEFAULT_D_CUTOFF_HZ):
    """Smooth 3D poses over time.

    Args:
        seq_or_array: a :class:`~pose3d_cli.io.pose_file.PoseSequence` (every person's
            camera-frame and world-frame poses and trajectory are smoothed over their present
            runs; the 2D keypoints are left as detected), or an array ``(T, J, 3)`` or
            ``(P, T, J, 3)`` of metres with NaN where absent.
        method: ``"butterworth"`` (zero-phase, offline) or ``"one-euro"`` (causal), or a
            :class:`SmoothOptions` (then the other parameters are ignored).
        cutoff_hz: Butterworth cutoff or one-euro minimum cutoff (Hz); default
            :data:`DEFAULT_CUTOFF_HZ`.
        fps: frame rate of an array (required for arrays; a sequence has its own).
        order, beta, d_cutoff_hz: see :class:`SmoothOptions`.

    Returns:
        The same kind of object, smoothed (a new PoseSequence / a new array).

    Example:
        >>> import numpy as np
        >>> t = np.arange(100) / 50.0
        >>> walk = np.stack([np.sin(2 * np.pi * t), 0 * t, 0 * t], -1)[:, None, :]  # (100, 1, 3)
        >>> noisy = walk + np.random.default_rng(0).normal(0, 0.01, walk.shape)
        >>> smooth = smooth_poses(noisy, "butterworth", 6.0, fps=50.0)
        >>> bool(np.abs(smooth - walk).mean() < np.abs(noisy - walk).mean())
        True
    """
    opts = method if isinstance(method, SmoothOptions) else SmoothOptions(
        method=method, cutoff_hz=cutoff_hz, order=order, beta=beta, d_cutoff_hz=d_cutoff_hz)
    if isinstance(seq_or_array, PoseSequence):
        seq = seq_or_array
        out = {}
        for name in ("people_poses_3d_camera", "people_poses_3d_world", "people_trajectory_world"):
            arr = getattr(seq, name)
            if arr is None:
                continue
            sm = np.array(arr, np.float32, copy=True)
            for p in range(seq.num_people):
                present = seq.people_present[p]
                per = np.where(present.reshape((-1,) + (1,) * (arr.ndim - 2)), arr[p], np.nan)
                if per.ndim == 2:  # trajectory (T, 3) → (T, 1, 3)
                    sm[p] = smooth_array(per[:, None, :].astype(np.float64), seq.fps, opts)[:, 0]
                else:
                    sm[p] = smooth_array(per.astype(np.float64), seq.fps, opts)
            out[name] = sm
        return replace(seq, **out)
    arr = np.asarray(seq_or_array)
    if fps is None:
        raise InputError("smooth_poses: give fps= for an array of poses")
    if arr.ndim == 4:
        return np.stack([smooth_array(a, fps, opts) for a in arr])
    if arr.ndim != 3:
        raise InputError(f"poses to smooth must have shape (T, J, 3) or (P, T, J, 3), got {arr.shape}")
    return smooth_array(arr, fps, opts)
