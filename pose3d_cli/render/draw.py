"""Drawing one frame of the side-by-side render with OpenCV: the 2D skeleton over the input
frame, and the 3D skeleton seen from an orbiting camera.

The 3D view is drawn by projecting the joints, a ground grid and a bounding box ourselves and
drawing anti-aliased lines with OpenCV, instead of redrawing a matplotlib 3D axes per frame:
one matplotlib ``canvas.draw()`` of a 3D axes costs tens of milliseconds, this costs well under
one, and it is what makes the render stream at encoder speed (see ``benchmarks/infer.py``).

Convention:
    - World frame of the 3D view: metres, z up, ground at z = 0 (what
      ``geometry.camera.camera_to_world_wild`` + ``ground_poses`` produce).
    - Azimuth and elevation follow matplotlib's ``view_init``: the camera looks at the centre
      from the direction ``(cos el cos az, cos el sin az, sin el)``.
    - Pixels: x right, y down, origin top-left. Images are RGB uint8 (what ``io.video`` decodes and encodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pose3d_cli.skeleton import Layout

#: RGB colours by body side: left blue, right red, centre dark grey (the paper's videos colour
#: right limbs red and left black; blue reads better over video).
SIDE_COLOURS_RGB: dict[str, tuple[int, int, int]] = {
    "left": (30, 120, 215),
    "right": (230, 60, 40),
    "centre": (70, 70, 70),
}
#: Colour of keypoints that were interpolated (no detection in that frame).
FILLED_COLOUR_RGB = (160, 160, 160)

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


def _fixed(points_px: np.ndarray) -> list:
    """Float pixels ``(*, 2)`` → nested lists of fixed-point ints for cv2's ``shift`` argument
    (plain Python ints: cv2 parses them much faster than numpy scalars)."""
    return np.round(points_px * _ONE).astype(np.int64).tolist()


def draw_skeleton_2d(frame_rgb: np.ndarray, kpts_px: np.ndarray, layout: Layout, *,
                     scale: float = 1.0, filled: bool = False, thickness: int = 3) -> None:
    """Draw a 2D skeleton onto ``frame_rgb`` in place.

    Args:
        frame_rgb: ``(H, W, 3)`` uint8 image, modified in place.
        kpts_px: ``(J, 2)`` keypoints in pixels of the *source* frame; multiplied by ``scale``
            to land on ``frame_rgb``. Non-finite joints are skipped.
        layout: joint layout of ``kpts_px`` (edges and sides for colouring).
        filled: the keypoints were interpolated, not detected; drawn in grey.
    """
    pts = np.asarray(kpts_px, np.float64) * scale
    finite = np.isfinite(pts).all(axis=1)
    fx = _fixed(np.where(finite[:, None], pts, 0.0))
    ok = finite.tolist()
    for a, b in layout.edges:
        if not (ok[a] and ok[b]):
            continue
        colour = FILLED_COLOUR_RGB if filled else SIDE_COLOURS_RGB[layout.edge_side((a, b))]
        cv2.line(frame_rgb, fx[a], fx[b], colour, thickness, cv2.LINE_AA, _SHIFT)
    r = max(2, thickness)
    for j in range(len(pts)):
        if ok[j]:
            colour = FILLED_COLOUR_RGB if filled else SIDE_COLOURS_RGB[layout.side_of(j)]
            cv2.circle(frame_rgb, fx[j], r * _ONE, (255, 255, 255), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(frame_rgb, fx[j], (r - 1) * _ONE, colour, -1, cv2.LINE_AA, _SHIFT)


def view_basis(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Rows: screen-right, screen-up and toward-viewer unit vectors in world coordinates, ``(3, 3)``."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    toward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.array([-math.sin(az), math.cos(az), 0.0])
    up = np.cross(toward, right)
    return np.stack([right, up, toward])


@dataclass(frozen=True)
class View3D:
    """Where the 3D panel looks: a cube of side ``radius_m`` centred over ``centre_xy_m``.

    The cube spans ``z`` from 0 to ``radius_m`` and follows the subject horizontally, like the
    paper's fixed-size axes that move with the root joint.
    """

    centre_xy_m: tuple[float, float]
    radius_m: float
    azimuth_deg: float
    elevation_deg: float = 15.0


class SkeletonPanel:
    """Draws 3D skeletons into a reusable ``(size, size, 3)`` canvas.

    Args:
        size_px: (width, height) of the panel in pixels.
        layout: 3D joint layout (edges and sides); H36M-17 for the lifter's output.
        grid_step_m: spacing of the ground grid lines (fixed in the world, so they scroll as
            the subject walks).
        perspective: distance of the virtual camera in units of ``radius_m`` (larger = flatter).
    """

    def __init__(self, size_px: tuple[int, int], layout: Layout, *, grid_step_m: float = 0.25,
                 perspective: float = 4.0, background_rgb: tuple[int, int, int] = (250, 250, 250)) -> None:
        self.width, self.height = int(size_px[0]), int(size_px[1])
        self.layout = layout
        self.grid_step_m = float(grid_step_m)
        self.perspective = float(perspective)
        self.canvas = np.empty((self.height, self.width, 3), np.uint8)
        # A whole background image: copying it is ~50x faster than broadcasting one colour.
        self._background = np.full((self.height, self.width, 3), background_rgb, np.uint8)
        self._edges = np.array(layout.edges, np.int64).reshape(-1, 2)
        self._edge_list = [(int(a), int(b)) for a, b in layout.edges]
        self._edge_colours = [SIDE_COLOURS_RGB[layout.edge_side(tuple(e))] for e in layout.edges]
        self._joint_colours = [SIDE_COLOURS_RGB[layout.side_of(j)] for j in range(layout.num_joints)]
        self._thickness = max(2, round(min(self.width, self.height) / 110))

    def project(self, points_m: np.ndarray, view: View3D) -> tuple[np.ndarray, np.ndarray]:
        """World points ``(*, 3)`` metres → (pixels ``(*, 2)``, depth toward the viewer ``(*,)``)."""
        basis = view_basis(view.azimuth_deg, view.elevation_deg)
        centre = np.array([view.centre_xy_m[0], view.centre_xy_m[1], view.radius_m / 2])
        rel = (np.asarray(points_m, np.float64) - centre) @ basis.T  # (*, 3): right, up, toward
        dist = self.perspective * view.radius_m
        k = dist / np.maximum(dist - rel[..., 2], 1e-6)
        px_per_m = 0.65 * min(self.width, self.height) / view.radius_m
        x = self.width / 2 + rel[..., 0] * k * px_per_m
        y = self.height / 2 - rel[..., 1] * k * px_per_m
        return np.stack([x, y], axis=-1), rel[..., 2]

    def _draw_ground_and_box(self, view: View3D) -> None:
        r, (cx, cy) = view.radius_m, view.centre_xy_m
        x0, x1, y0, y1 = cx - r / 2, cx + r / 2, cy - r / 2, cy + r / 2
        step = self.grid_step_m
        segs = []
        for gx in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step):
            segs.append(((gx, y0, 0.0), (gx, y1, 0.0)))
        for gy in np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step):
            segs.append(((x0, gy, 0.0), (x1, gy, 0.0)))
        # The ground square, then the vertical edges of the box: fixed axes around the subject.
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        box = [((*corners[i], 0.0), (*corners[(i + 1) % 4], 0.0)) for i in range(4)]
        box += [((*c, 0.0), (*c, r)) for c in corners]
        ground = np.array(segs + box, np.float64).reshape(-1, 2, 3)
        px, _ = self.project(ground, view)
        fx = _fixed(px)
        # Ground fill first (a light quad), then grid, then the box edges.
        quad, _ = self.project(np.array([(*c, 0.0) for c in corners]), view)
        cv2.fillConvexPoly(self.canvas, np.array(_fixed(quad), np.int32), (232, 232, 232), cv2.LINE_AA, _SHIFT)
        n_grid = len(segs)
        for i, (a, b) in enumerate(fx):
            colour, th = ((205, 205, 205), 1) if i < n_grid else ((150, 150, 150), 1)
            cv2.line(self.canvas, a, b, colour, th, cv2.LINE_AA, _SHIFT)

    def draw(self, pose_world_m: np.ndarray, view: View3D, *, label: str = "") -> np.ndarray:
        """Render one pose ``(J, 3)`` (world metres, z up) and return the canvas ``(H, W, 3)``.

        The canvas is reused between calls: copy it if you keep it.
        """
        np.copyto(self.canvas, self._background)
        self._draw_ground_and_box(view)
        pose = np.asarray(pose_world_m, np.float64)
        finite = np.isfinite(pose).all(axis=1)
        px, depth = self.project(np.where(finite[:, None], pose, 0.0), view)
        ok = finite.tolist()
        # Shadow: the skeleton flattened onto the ground, for a sense of height and contact.
        shadow = pose.copy()
        shadow[:, 2] = 0.0
        spx, _ = self.project(np.where(finite[:, None], shadow, 0.0), view)
        sfx = _fixed(spx)
        for a, b in self._edge_list:
            if ok[a] and ok[b]:
                cv2.line(self.canvas, sfx[a], sfx[b], (200, 200, 200),
                         self._thickness, cv2.LINE_AA, _SHIFT)
        # Bones far-to-near so nearer limbs are drawn over farther ones.
        fx = _fixed(px)
        edge_depth = depth[self._edges].mean(axis=1) if len(self._edges) else np.zeros(0)
        for i in np.argsort(edge_depth).tolist():
            a, b = self._edge_list[i]
            if ok[a] and ok[b]:
                cv2.line(self.canvas, fx[a], fx[b], self._edge_colours[i],
                         self._thickness, cv2.LINE_AA, _SHIFT)
        r = self._thickness * _ONE
        for j in np.argsort(depth).tolist():
            if ok[j]:
                cv2.circle(self.canvas, fx[j], r, self._joint_colours[j], -1, cv2.LINE_AA, _SHIFT)
        if label:
            cv2.putText(self.canvas, label, (10, self.height - 12), cv2.FONT_HERSHEY_SIMPLEX,
                        max(0.4, self.height / 1200), (90, 90, 90), 1, cv2.LINE_AA)
        return self.canvas


def follow_centres(pose_world_m: np.ndarray, fps: float, *, root: int = 0,
                   smooth_s: float = 0.5) -> np.ndarray:
    """Per-frame centre ``(T, 2)`` of the 3D view: the root's ground position, smoothed over
    ``smooth_s`` seconds (a centred moving average, edges held) so the axes follow the subject
    without shaking. ``pose_world_m``: ``(T, J, 3)`` metres."""
    xy = np.asarray(pose_world_m[:, root, :2], np.float64)
    t = len(xy)
    if t == 0:
        return xy.reshape(0, 2)
    good = np.isfinite(xy).all(axis=1)
    if not good.any():
        return np.zeros((t, 2))
    idx = np.arange(t)
    xy = np.stack([np.interp(idx, idx[good], xy[good, k]) for k in range(2)], axis=1)
    half = max(0, round(smooth_s * fps / 2))
    if half == 0 or t == 1:
        return xy
    padded = np.concatenate([np.repeat(xy[:1], half, 0), xy, np.repeat(xy[-1:], half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)
