"""Appearance features: what a person looks like, for telling people apart when tracking.

A feature is two normalised hue–saturation histograms (8 hue × 4 saturation bins each) of the
central half of the person's box (its middle 50 % of the width): one over the torso rows (15–55 %
of the box height), one over the legs (55–95 %). Pixels too dark or too grey for a stable hue
(value < 40 or saturation < 30, of 255) count in one extra "achromatic" bin per value third, so a
person in black is told from one in white. Compare two features with
:func:`pose3d_cli.keypoints.tracking.appearance_similarity` (Bhattacharyya coefficient).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pose3d_cli.keypoints.base import Detection

HUE_BINS, SAT_BINS = 8, 4
PART_BINS = HUE_BINS * SAT_BINS + 3
FEATURE_SIZE = 2 * PART_BINS


def _part_histogram(hsv: np.ndarray) -> np.ndarray:
    h, s, v = (hsv[..., k].reshape(-1).astype(np.int64) for k in range(3))
    hist = np.zeros(PART_BINS, np.float64)
    if h.size == 0:
        return hist
    grey = (v < 40) | (s < 30)
    colour = ~grey
    idx = (h[colour] * HUE_BINS // 180) * SAT_BINS + np.minimum(s[colour] * SAT_BINS // 256, SAT_BINS - 1)
    hist[:HUE_BINS * SAT_BINS] = np.bincount(idx, minlength=HUE_BINS * SAT_BINS)
    hist[HUE_BINS * SAT_BINS:] = np.bincount(np.minimum(v[grey] * 3 // 256, 2), minlength=3)
    return hist / max(hist.sum(), 1.0)


def appearance_feature(frame_rgb: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray | None:
    """``(FEATURE_SIZE,) float32`` feature of the person in ``box_xyxy`` (pixels) of an ``(H, W, 3)
    uint8`` RGB frame, or None when the box holds too few pixels (under 4 × 8)."""
    import cv2

    hgt, wid = frame_rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    bw, bh = x2 - x1, y2 - y1
    cx1, cx2 = int(max(0, x1 + 0.25 * bw)), int(min(wid, x2 - 0.25 * bw))
    parts = []
    for top, bottom in ((0.15, 0.55), (0.55, 0.95)):
        r1, r2 = int(max(0, y1 + top * bh)), int(min(hgt, y1 + bottom * bh))
        if cx2 - cx1 < 2 or r2 - r1 < 4:
            return None
        patch = frame_rgb[r1:r2, cx1:cx2]
        if patch.shape[0] * patch.shape[1] > 48 * 48:  # enough pixels for a histogram
            patch = cv2.resize(patch, (32, 48), interpolation=cv2.INTER_AREA)
        parts.append(_part_histogram(cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)))
    return np.concatenate(parts).astype(np.float32)


def with_features(frame_rgb: np.ndarray, detections: Sequence[Detection]) -> list[Detection]:
    """The detections of one frame, each with its appearance feature."""
    return [replace(d, feature=appearance_feature(frame_rgb, d.box_xyxy)) for d in detections]
