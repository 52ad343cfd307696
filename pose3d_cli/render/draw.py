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
#: One colour per person when several are drawn (cycled by position in the clip's list of
#: people); the person's left limbs are drawn in a lighter tint of it.
PERSON_COLOURS_RGB: tuple[tuple[int, int, int], ...] = (
    (230, 60, 40), (30, 120, 215), (40, 160, 70), (235, 150, 20), (150, 70, 200),
    (0, 170, 170), (200, 60, 140), (120, 100, 60),
)


def person_colour(index: int) -> tuple[int, int, int]:
    """The colour of the ``index``-th person (cycled)."""
    return PERSON_COLOURS_RGB[index % len(PERSON_COLOURS_RGB)]


def _tint(colour: tuple[int, int, int], amount: float = 0.45) -> tuple[int, int, int]:
    return tuple(int(round(c + (255 - c) * amount)) for c in colour)


def _side_colours(colour: tuple[int, int, int] | None) -> dict[str, tuple[int, int, int]]:
    """Side → colour: the default left/right/centre scheme, or one person's colour (left tinted)."""
    if colour is None:
        return SIDE_COLOURS_RGB
    return {"left": _tint(colour), "right": colour, "centre": colour}


def draw_label(img_rgb: np.ndarray, text: str, at_px: tuple[float, float], colour: tuple[int, int, int],
               scale: float = 0.5) -> None:
    """A small filled tag with ``text`` whose bottom-left corner is at ``at_px`` (clipped to the image)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    x = int(min(max(at_px[0], 0), img_rgb.shape[1] - w - 4))
    y = int(min(max(at_px[1], h + 4), img_rgb.shape[0] - 2))
    cv2.rectangle(img_rgb, (x, y - h - 4), (x + w + 4, y + base - 2), colour, -1)
    cv2.putText(img_rgb, text, (x + 2, y - 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


def _fixed(points_px: np.ndarray) -> list:
    """Float pixels ``(*, 2)`` → nested lists of fixed-point ints for cv2's ``shift`` argument
    (plain Python ints: cv2 parses them much faster than numpy scalars)."""
    return np.round(points_px * _ONE).astype(np.int64).tolist()


def draw_skeleton_2d(frame_rgb: np.ndarray, kpts_px: np.ndarray, layout: Layout, *,
                     scale: float = 1.0, filled: bool = False, thickness: int = 3,
                     colour: tuple[int, int, int] | None = None, label: str = "") -> None:
    """Draw a 2D skeleton onto ``frame_rgb`` in place.

    Args:
        frame_rgb: ``(H, W, 3)`` uint8 image, modified in place.
        kpts_px: ``(J, 2)`` keypoints in pixels of the *source* frame; multiplied by ``scale``
            to land on ``frame_rgb``. Non-finite joints are skipped.
        layout: joint layout of ``kpts_px`` (edges and sides for colouring).
        filled: the keypoints were interpolated, not detected; drawn in grey.
        colour: one person's colour (left limbs tinted); default: blue left, red right.
        label: text drawn above the skeleton (e.g. the person id).
    """
    sides = _side_colours(colour)
    pts = np.asarray(kpts_px, np.float64) * scale
    finite = np.isfinite(pts).all(axis=1)
    fx = _fixed(np.where(finite[:, None], pts, 0.0))
    ok = finite.tolist()
    for a, b in layout.edges:
        if not (ok[a] and ok[b]):
            continue
        c = FILLED_COLOUR_RGB if filled else sides[layout.edge_side((a, b))]
        cv2.line(frame_rgb, fx[a], fx[b], c, thickness, cv2.LINE_AA, _SHIFT)
    r = max(2, thickness)
    for j in range(len(pts)):
        if ok[j]:
            c = FILLED_COLOUR_RGB if filled else sides[layout.side_of(j)]
            cv2.circle(frame_rgb, fx[j], r * _ONE, (255, 255, 255), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(frame_rgb, fx[j], (r - 1) * _ONE, c, -1, cv2.LINE_AA, _SHIFT)
    if label and finite.any():
        top = pts[finite]
        draw_label(frame_rgb, label, (float(top[:, 0].min()), float(top[:, 1].min()) - 6),
                   colour or (60, 60, 60), scale=max(0.4, thickness / 6))


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

    def draw(self, pose_world_m: np.ndarray, view: View3D, *, label: str = "",
             colours: list[tuple[int, int, int] | None] | None = None,
             names: list[str] | None = None) -> np.ndarray:
        """Render one pose ``(J, 3)`` or several ``(P, J, 3)`` (world metres, z up; NaN joints
        skipped) and return the canvas ``(H, W, 3)``. ``colours``/``names``: per person (one
        colour each, left limbs tinted; a name tag over the head).

        The canvas is reused between calls: copy it if you keep it.
        """
        np.copyto(self.canvas, self._background)
        self._draw_ground_and_box(view)
        poses = np.asarray(pose_world_m, np.float64)
        if poses.ndim == 2:
            poses = poses[None]
        n = poses.shape[0]
        colours = colours if colours is not None else [None] * n
        names = names if names is not None else [""] * n
        finite = np.isfinite(poses).all(axis=-1)  # (P, J)
        safe = np.where(finite[..., None], poses, 0.0)
        px, depth = self.project(safe, view)
        # Shadows first: each skeleton flattened onto the ground, for a sense of height and contact.
        shadow = safe.copy()
        shadow[..., 2] = 0.0
        spx, _ = self.project(shadow, view)
        for p in range(n):
            ok = finite[p].tolist()
            sfx = _fixed(spx[p])
            for a, b in self._edge_list:
                if ok[a] and ok[b]:
                    cv2.line(self.canvas, sfx[a], sfx[b], (200, 200, 200), self._thickness, cv2.LINE_AA, _SHIFT)
        # People far-to-near, and within a person bones far-to-near, so nearer limbs cover farther ones.
        person_depth = [float(depth[p][finite[p]].mean()) if finite[p].any() else -np.inf for p in range(n)]
        r = self._thickness * _ONE
        for p in np.argsort(person_depth).tolist():
            if not finite[p].any():
                continue
            ok = finite[p].tolist()
            fx = _fixed(px[p])
            if colours[p] is None:
                edge_colours, joint_colours = self._edge_colours, self._joint_colours
            else:
                sides = _side_colours(colours[p])
                edge_colours = [sides[self.layout.edge_side(e)] for e in self._edge_list]
                joint_colours = [sides[self.layout.side_of(j)] for j in range(self.layout.num_joints)]
            edge_depth = depth[p][self._edges].mean(axis=1) if len(self._edges) else np.zeros(0)
            for i in np.argsort(edge_depth).tolist():
                a, b = self._edge_list[i]
                if ok[a] and ok[b]:
                    cv2.line(self.canvas, fx[a], fx[b], edge_colours[i], self._thickness, cv2.LINE_AA, _SHIFT)
            for j in np.argsort(depth[p]).tolist():
                if ok[j]:
                    cv2.circle(self.canvas, fx[j], r, joint_colours[j], -1, cv2.LINE_AA, _SHIFT)
            if names[p]:
                head = px[p][finite[p]]
                draw_label(self.canvas, names[p], (float(head[:, 0].min()), float(head[:, 1].min()) - 8),
                           colours[p] or (60, 60, 60), scale=max(0.4, self.height / 1400))
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
