"""Where people stand when they are shown: the render's 3D panel and the HTML viewer place
several people the same way.

Convention: world frame of the pose file (metres, z up, ground z = 0); azimuths as in the
render (matplotlib's ``view_init``: the camera looks from ``(cos az, sin az)``).
"""

from __future__ import annotations

import numpy as np

#: Spacing (metres) between people shown side by side when their relative positions are unknown.
SIDE_BY_SIDE_SPACING_M = 1.0


def arrange_people(pose_world_m: np.ndarray, kpts_px: np.ndarray, azimuth_deg: float,
                   spacing_m: float = SIDE_BY_SIDE_SPACING_M) -> np.ndarray:
    """Place root-relative people ``(P, T, J, 3)`` side by side for display: each one's root is
    moved to the ground origin and shifted along the view's screen-right axis (at
    ``azimuth_deg``), in the left-to-right order of their mean image x (``kpts_px``
    ``(P, T, K, 2)``), ``spacing_m`` apart, centred on 0. NaN stays NaN."""
    p_count = pose_world_m.shape[0]
    with np.errstate(invalid="ignore"):
        mean_x = [np.nanmean(kpts_px[p, ..., 0]) if np.isfinite(kpts_px[p, ..., 0]).any() else 0.0
                  for p in range(p_count)]
    slot = np.empty(p_count)
    slot[np.argsort(mean_x, kind="stable")] = np.arange(p_count) - (p_count - 1) / 2
    az = np.radians(azimuth_deg)
    right = np.array([-np.sin(az), np.cos(az), 0.0])
    out = pose_world_m.astype(np.float64, copy=True)
    out[..., :2] -= out[..., :1, :2]  # each root over the origin
    out += (slot[:, None, None, None] * spacing_m) * right
    return out.astype(np.float32)
