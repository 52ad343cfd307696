"""Appearance features: what a person looks like, for telling people apart when tracking.

A feature is two normalised hue–saturation histograms (8 hue × 4 saturation bins each): one of
the torso (between shoulders and hips), one of the thighs (between hips and knees), placed by
the person's keypoints (or, when those are unsure, fixed bands of the box). Pixels too dark or too grey for a stable hue
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


def _regions(box_xyxy: np.ndarray, keypoints: np.ndarray | None, min_score: float = 0.3) -> list[tuple]:
    """(x1, y1, x2, y2) of the torso and the thighs: from the keypoints (shoulders, hips, knees)
    where they are confident, else fixed bands of the box."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    bw, bh = x2 - x1, y2 - y1
    if keypoints is not None:
        kp = np.asarray(keypoints, np.float32)
        sh, hip, knee = kp[[5, 6]], kp[[11, 12]], kp[[13, 14]]
        if (np.concatenate([sh[:, 2], hip[:, 2], knee[:, 2]]) >= min_score).all():
            torso_x = np.concatenate([sh[:, 0], hip[:, 0]])
            cx, half = torso_x.mean(), max(np.ptp(torso_x) / 2, 0.12 * bh)
            top, mid, low = sh[:, 1].mean(), hip[:, 1].mean(), knee[:, 1].mean()
            if mid - top > 4 and low - mid > 4:
                leg_x = np.concatenate([hip[:, 0], knee[:, 0]])
                lcx, lhalf = leg_x.mean(), max(np.ptp(leg_x) / 2, 0.08 * bh)
                return [(cx - 0.7 * half, top + 0.1 * (mid - top), cx + 0.7 * half, mid),
                        (lcx - 0.8 * lhalf, mid, lcx + 0.8 * lhalf, low)]
    return [(x1 + 0.25 * bw, y1 + 0.15 * bh, x2 - 0.25 * bw, y1 + 0.55 * bh),
            (x1 + 0.25 * bw, y1 + 0.55 * bh, x2 - 0.25 * bw, y1 + 0.95 * bh)]


def appearance_feature(frame_rgb: np.ndarray, box_xyxy: np.ndarray,
                       keypoints: np.ndarray | None = None) -> np.ndarray | None:
    """``(FEATURE_SIZE,) float32`` feature of the person in ``box_xyxy`` (pixels) of an ``(H, W, 3)
    uint8`` RGB frame: histograms of the torso (shoulders to hips) and the thighs (hips to knees)
    located by the COCO-17 ``keypoints (17, 3)`` when they are confident, else of fixed bands of
    the box (15–55 % and 55–95 % of its height, its middle half). None when a region holds too
    few pixels (under 2 × 4)."""
    import cv2

    hgt, wid = frame_rgb.shape[:2]
    parts = []
    for rx1, ry1, rx2, ry2 in _regions(box_xyxy, keypoints):
        c1, c2 = int(max(0, rx1)), int(min(wid, rx2))
        r1, r2 = int(max(0, ry1)), int(min(hgt, ry2))
        if c2 - c1 < 2 or r2 - r1 < 4:
            return None
        patch = frame_rgb[r1:r2, c1:c2]
        if patch.shape[0] * patch.shape[1] > 48 * 48:  # enough pixels for a histogram
            patch = cv2.resize(patch, (32, 48), interpolation=cv2.INTER_AREA)
        parts.append(_part_histogram(cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)))
    return np.concatenate(parts).astype(np.float32)


def with_features(frame_rgb: np.ndarray, detections: Sequence[Detection]) -> list[Detection]:
    """The detections of one frame, each with its appearance feature."""
    return [replace(d, feature=appearance_feature(frame_rgb, d.box_xyxy, d.keypoints)) for d in detections]
