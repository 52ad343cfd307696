"""Cleaning a person's keypoint track before lifting, whatever its source (a detector, a
keypoint file, COCO JSON, OpenPose).

A frame where every joint is NaN is a frame where the person is absent. A run of absent frames
between two present frames that is at most ``max_gap_s`` long (default
:data:`MAX_GAP_S`) is bridged: every joint is interpolated linearly over time and the frames
are marked in ``filled_frames``; longer gaps, and absent frames before the first or after the
last present frame, stay absent (NaN: the person left the frame). In a present frame, a joint
that is NaN or infinite is filled the same way from that joint's values in the person's other
frames (edges held) and marked in ``filled_joints`` with score 0.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pose3d_cli.errors import NoPersonError
from pose3d_cli.io.keypoint_file import KeypointTrack

#: Longest absence (seconds) bridged by interpolation; longer ones stay absent.
MAX_GAP_S = 0.5


def short_gaps(present: np.ndarray, max_gap: int) -> np.ndarray:
    """``(T,)`` bool: absent frames inside a gap of at most ``max_gap`` frames that has present
    frames on both sides."""
    present = np.asarray(present, bool)
    out = np.zeros_like(present)
    idx = np.flatnonzero(present)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            out[a + 1:b] = True
    return out


def clean_track(track: KeypointTrack, max_gap_s: float = MAX_GAP_S) -> KeypointTrack:
    """Bridge short absences and fill non-finite joints of present frames (see the module
    docstring).

    Raises:
        NoPersonError: a joint is never seen in any present frame (nothing to fill it from).
    """
    k = track.keypoints_px
    bad = ~np.isfinite(k).all(axis=-1)  # (T, J)
    gaps = short_gaps(~bad.all(axis=1), max(0, int(round(max_gap_s * track.fps))))
    present = ~bad.all(axis=1) | gaps
    fill = bad & present[:, None]
    if not fill.any():
        return track
    k = k.astype(np.float32, copy=True)
    t_idx = np.arange(k.shape[0])
    for j in np.flatnonzero(fill.any(axis=0)):
        good = ~bad[:, j]
        if not good.any():
            raise NoPersonError(f"{track.source or 'keypoints'}: joint {j} is never detected for person "
                                f"{track.person_id}; nothing to lift it from")
        rows = fill[:, j]
        for c in range(2):
            k[rows, j, c] = np.interp(t_idx[rows], t_idx[good], k[good, j, c])
    scores = np.where(fill, 0.0, track.scores).astype(np.float32)
    return replace(track, keypoints_px=k, scores=scores, filled_joints=track.filled_joints | fill,
                   filled_frames=track.filled_frames | gaps)


def fill_every_frame(track: KeypointTrack) -> KeypointTrack:
    """The track with every frame finite, for formats that cannot say "absent" (the VideoPose3D
    custom ``.npz``): absent frames interpolated from the person's present ones, held before the
    first and after the last, marked in ``filled_frames`` with score 0.

    Raises:
        NoPersonError: the person is present in no frame.
    """
    track = clean_track(track)
    present = np.isfinite(track.keypoints_px).all(axis=(1, 2))
    if present.all():
        return track
    if not present.any():
        raise NoPersonError(f"{track.source or 'keypoints'}: person {track.person_id} is in no frame")
    t_idx = np.arange(track.num_frames)
    k = track.keypoints_px.copy()
    for j in range(k.shape[1]):
        for c in range(2):
            k[~present, j, c] = np.interp(t_idx[~present], t_idx[present], k[present, j, c])
    scores = np.where(present[:, None], track.scores, 0.0).astype(np.float32)
    return replace(track, keypoints_px=k, scores=scores, filled_frames=track.filled_frames | ~present,
                   filled_joints=track.filled_joints | ~present[:, None])
