"""The side-by-side renderer: layout, the 3D projection's conventions, and streaming a real clip."""

from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.video import VideoWriter, iter_frames, probe_video, read_frames
from pose3d_cli.render.draw import (
    SIDE_COLOURS_RGB,
    SkeletonPanel,
    View3D,
    follow_centres,
    view_basis,
)
from pose3d_cli.render.side_by_side import (
    parse_size,
    plan_layout,
    prefetch,
    render_side_by_side,
)
from pose3d_cli.skeleton import H36M17, coco17_to_h36m17

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "walk.mp4"


def _standing_pose(x=0.0, y=0.0):
    """A plausible upright H36M-17 pose (metres, z up, feet on the ground) at (x, y)."""
    p = np.array([[0, 0, .95], [-.12, 0, .95], [-.12, 0, .5], [-.12, 0, .05], [.12, 0, .95], [.12, 0, .5],
                  [.12, 0, .05], [0, 0, 1.2], [0, 0, 1.45], [0, -.05, 1.55], [0, 0, 1.7], [.17, 0, 1.45],
                  [.17, 0, 1.15], [.17, 0, .9], [-.17, 0, 1.45], [-.17, 0, 1.15], [-.17, 0, .9]])
    return p + [x, y, 0]


def test_parse_size_accepts_height_and_wxh_and_rejects_garbage():
    assert parse_size("720") == 720
    assert parse_size("1600x600") == (1600, 600)
    assert parse_size(None) is None
    for bad in ("abc", "10", "12x900", "x"):
        with pytest.raises(InputError, match="--size"):
            parse_size(bad)


def test_plan_layout_keeps_aspect_and_even_sizes():
    lay = plan_layout(1280, 480)
    assert (lay.height, lay.left_box, lay.panel) == (480, (1280, 480), (480, 480))
    assert lay.width == 1760
    tall = plan_layout(1080, 1920)  # phone video: capped at 720 high by default
    assert tall.height == 720 and abs(tall.left_box[0] - 405) <= 1 and tall.width % 2 == 0
    fixed = plan_layout(1280, 480, (1001, 401))
    assert (fixed.width, fixed.height) == (1000, 400) and fixed.panel == (400, 400)


def test_view_basis_follows_matplotlib_azimuth_convention():
    basis = view_basis(0.0, 0.0)  # looking from +x toward the origin
    np.testing.assert_allclose(basis[2], [1, 0, 0], atol=1e-12)  # toward the viewer
    np.testing.assert_allclose(basis[0], [0, 1, 0], atol=1e-12)  # +y is screen right
    np.testing.assert_allclose(basis[1], [0, 0, 1], atol=1e-12)  # +z is screen up
    b = view_basis(70.0, 15.0)
    np.testing.assert_allclose(b @ b.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(b) > 0


def test_projection_puts_head_above_feet_and_panel_is_drawn():
    panel = SkeletonPanel((400, 400), H36M17)
    pose = _standing_pose()
    view = View3D((0.0, 0.0), 1.7, azimuth_deg=70.0)
    px, _ = panel.project(pose, view)
    head, foot = H36M17.index("head"), H36M17.index("left_foot")
    assert px[head, 1] < px[foot, 1] - 200  # image y grows downward; the body spans > half the panel
    assert ((px >= 0) & (px < 400)).all()
    img = panel.draw(pose, view, label="0.00 s")
    for side in ("left", "right"):
        colour = np.array(SIDE_COLOURS_RGB[side])
        assert (np.abs(img.astype(int) - colour).sum(-1) < 30).sum() > 200, side


def test_left_and_right_limbs_are_coloured_by_side():
    panel = SkeletonPanel((400, 400), H36M17)
    # Viewed from the front (subject faces -y, camera at -y): the subject's left is on screen right.
    img = panel.draw(_standing_pose(), View3D((0.0, 0.0), 1.7, azimuth_deg=-90.0, elevation_deg=0.0))
    blue = np.abs(img.astype(int) - SIDE_COLOURS_RGB["left"]).sum(-1) < 30
    red = np.abs(img.astype(int) - SIDE_COLOURS_RGB["right"]).sum(-1) < 30
    assert np.nonzero(blue)[1].mean() > 200 > np.nonzero(red)[1].mean()


def test_follow_centres_smooths_the_root_path():
    t = 100
    pose = np.repeat(_standing_pose()[None], t, 0)
    pose[:, :, 0] += np.linspace(0, 2, t)[:, None]  # walking along x
    pose[::2, :, 1] += 0.05  # jitter
    c = follow_centres(pose, fps=50.0)
    assert c.shape == (t, 2)
    assert np.abs(np.diff(c[10:-10, 1])).max() < 0.01
    np.testing.assert_allclose(c[50, 0], 1.0, atol=0.05)


class _Collect:
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append(frame.copy())


def test_render_streams_real_frames_one_out_per_pose(tmp_path):
    """Real decoded frames of the example clip; 2D keypoints are a drawn line of points and the
    3D poses a synthetic walk (the renderer only draws them)."""
    n = 12
    info = probe_video(EXAMPLE)
    kpts = np.tile(np.linspace([500, 100], [700, 420], 17)[None], (n, 1, 1)).astype(np.float32)
    pose = np.stack([_standing_pose(0.02 * i) for i in range(n)])
    consumed = []

    def frames():
        for i, f in enumerate(iter_frames(EXAMPLE)):
            consumed.append(i)
            yield f

    out = _Collect()
    stats = render_side_by_side(frames(), out, kpts_px=kpts, pose_world_m=pose, fps=info.fps,
                                src_size=(info.width, info.height))
    assert stats.frames == n and len(out.frames) == n
    assert len(consumed) <= n + 1  # the decoder is pulled lazily, not drained
    first = out.frames[0]
    assert first.shape == (480, 1760, 3)
    src = read_frames(EXAMPLE, 0, 1)[0].astype(int)
    left = first[:, :1280].astype(int)
    # The left half is the input frame (apart from the drawn skeleton)...
    assert np.median(np.abs(left - src)) < 6
    # ...and the right half is the 3D panel: light background, both sides' colours.
    right = first[:, 1280:]
    assert right.mean() > 200
    for side in ("left", "right"):
        assert (np.abs(right.astype(int) - SIDE_COLOURS_RGB[side]).sum(-1) < 30).sum() > 100


def test_render_rejects_mismatched_lengths():
    with pytest.raises(InputError, match="2D keypoints for"):
        render_side_by_side(iter([]), _Collect(), kpts_px=np.zeros((3, 17, 2)),
                            pose_world_m=np.zeros((4, 17, 3)), fps=30, src_size=(64, 64))


def test_render_writes_browser_playable_h264(tmp_path):
    """Through the real encoder: H.264, yuv420p, the input's fps and frame count."""
    n = 8
    info = probe_video(EXAMPLE)
    kpts = coco17_to_h36m17(np.zeros((n, 17, 2))) + 300  # any points: the drawer is layout-driven
    pose = np.stack([_standing_pose()] * n)
    path = tmp_path / "r.mp4"
    with VideoWriter(path, fps=info.fps) as w:
        render_side_by_side(iter_frames(EXAMPLE, 0, n), w, kpts_px=kpts, pose_world_m=pose,
                            fps=info.fps, src_size=(info.width, info.height), layout_2d="h36m17",
                            size=240)
    got = probe_video(path)
    assert (got.codec, got.num_frames, got.height) == ("h264", n, 240)
    assert got.fps == pytest.approx(info.fps, rel=1e-3)
    import av

    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_prefetch_keeps_order_stops_early_and_reraises():
    pulled = []

    def source():
        for i in range(100):
            pulled.append(i)
            yield np.full((2, 2, 3), i, np.uint8)

    it = prefetch(source(), depth=3)
    got = [int(next(it)[0, 0, 0]) for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]
    it.close()  # the consumer stops early: the producer stops too, a few frames ahead at most
    assert len(pulled) <= 5 + 3 + 2

    def broken():
        yield np.zeros((2, 2, 3), np.uint8)
        raise InputError("decoding failed at frame 1")

    it = prefetch(broken())
    next(it)
    with pytest.raises(InputError, match="frame 1"):
        next(it)


def test_several_people_get_their_own_colour_and_tag():
    """Two people: each skeleton drawn in its person colour in both panels, side by side in 3D
    (no trajectory), and a person absent in a frame (NaN) is simply not drawn."""
    from pose3d_cli.geometry.display import arrange_people
    from pose3d_cli.render.draw import person_colour

    n = 3
    pose = np.stack([_standing_pose()] * n)
    poses = np.stack([pose, pose])  # (2, T, 17, 3), both at the origin
    kpts = np.full((2, n, 17, 2), np.nan, np.float32)
    kpts[0] = coco17_to_h36m17(np.zeros((n, 17, 2))) * 0 + np.linspace(40, 100, 17)[None, :, None]
    kpts[1] = kpts[0] + np.array([150.0, 0.0], np.float32)
    poses[1, 2] = np.nan  # the second person has left in the last frame
    placed = arrange_people(poses, kpts, azimuth_deg=70.0)
    gap = placed[1, 0, 0] - placed[0, 0, 0]
    assert np.linalg.norm(gap) == pytest.approx(1.0, abs=1e-5)  # one spacing apart, image order kept
    assert np.isnan(placed[1, 2]).all()
    frames = (np.full((240, 320, 3), 128, np.uint8) for _ in range(n))
    out = _Collect()
    stats = render_side_by_side(frames, out, kpts_px=kpts, pose_world_m=poses, fps=25, src_size=(320, 240),
                                person_ids=[4, 9])
    assert stats.frames == n
    first, last = out.frames[0], out.frames[-1]
    for i in range(2):
        near = (np.abs(first.astype(int) - person_colour(i)).sum(-1) < 30).sum()
        assert near > 50, f"person {i}'s colour is missing"
    assert (np.abs(last[:, 240:].astype(int) - person_colour(1)).sum(-1) < 30).sum() < \
        (np.abs(first[:, 240:].astype(int) - person_colour(1)).sum(-1) < 30).sum()
