"""``infer_video`` end to end on the bundled real clip, and its pieces.

The end-to-end test runs the real default: MediaPipe detection, the registry's default lifter
(the built-in checkpoint on a machine without downloads), the real encoder. The tests of the
mechanics (output naming, ranges, resampling, refusing to clobber) lift with a small randomly
initialised checkpoint instead: they check plumbing, not pose quality, and stay fast.
"""

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from pose3d_cli.errors import (
    CheckpointError,
    InputError,
    NoPersonError,
    OutputExistsError,
    VideoError,
)
from pose3d_cli.io.keypoint_file import save_keypoints
from pose3d_cli.io.pose_file import load_poses
from pose3d_cli.io.video import probe_video, read_frames, run_ffmpeg
from pose3d_cli.pipeline import frame_range, infer_video, output_paths
from pose3d_cli.render.draw import SIDE_COLOURS_RGB
from pose3d_cli.skeleton import H36M17

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "walk.mp4"



@pytest.fixture(scope="module")
def walk_keypoints(tmp_path_factory):
    """MediaPipe keypoints of the example clip, detected once for the plumbing tests."""
    from pose3d_cli.keypoints import detect_video

    track = detect_video(EXAMPLE, progress=False)
    return save_keypoints(track, tmp_path_factory.mktemp("kp") / "walk.keypoints.npz")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    from pose3d_cli.zoo import resolve_checkpoint

    try:
        resolve_checkpoint(None, download=False, quiet=True)
    except CheckpointError as exc:
        pytest.skip(f"the built-in lifter is not in this installation yet: {exc}")
    out = tmp_path_factory.mktemp("e2e")
    return infer_video(EXAMPLE, out_dir=out, export=("npz", "json", "csv", "bvh"), quiet=True)


# ---------------------------------------------------------------------------------------------
# End to end with the real default models


@pytest.mark.slow
def test_end_to_end_render_is_playable_and_matches_the_input(default_run):
    info = probe_video(EXAMPLE)
    mp4 = default_run.paths["mp4"]
    assert mp4.name == "walk.pose3d.mp4"
    got = probe_video(mp4)
    assert got.codec == "h264" and got.num_frames == info.num_frames == default_run.frames
    assert got.fps == pytest.approx(info.fps, rel=1e-3)
    with av.open(str(mp4)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    # Both panels are there: the left one is the input frame, the right one the 3D view.
    frame = read_frames(mp4, 40, 41)[0].astype(int)
    src = read_frames(EXAMPLE, 40, 41)[0].astype(int)
    assert np.median(np.abs(frame[:, :info.width] - src)) < 8
    right = frame[:, info.width:]
    assert right.shape[1] == got.height and right.mean() > 180
    for side in ("left", "right"):
        assert (np.abs(right - SIDE_COLOURS_RGB[side]).sum(-1) < 40).sum() > 100, side


@pytest.mark.slow
def test_end_to_end_skeleton_is_plausible(default_run):
    seq = load_poses(default_run.paths["npz"])
    info = probe_video(EXAMPLE)
    assert seq.num_frames == info.num_frames and seq.poses_3d_world.shape == (info.num_frames, 17, 3)
    assert seq.layout == "h36m17" and seq.fps == pytest.approx(info.fps)
    p = seq.poses_3d_world.astype(np.float64)
    j = H36M17.index
    bones = {  # (parent, child): plausible adult length range in metres
        ("right_hip", "right_knee"): (0.28, 0.6), ("left_hip", "left_knee"): (0.28, 0.6),
        ("right_knee", "right_foot"): (0.28, 0.6), ("left_knee", "left_foot"): (0.28, 0.6),
        ("right_shoulder", "right_elbow"): (0.18, 0.45), ("left_shoulder", "left_elbow"): (0.18, 0.45),
        ("right_elbow", "right_wrist"): (0.15, 0.4), ("left_elbow", "left_wrist"): (0.15, 0.4),
        ("hip", "spine"): (0.12, 0.4), ("spine", "thorax"): (0.12, 0.4),
    }
    for (a, b), (lo, hi) in bones.items():
        length = np.linalg.norm(p[:, j(b)] - p[:, j(a)], axis=-1)
        assert lo < np.median(length) < hi, (a, b, np.median(length))
        # Stable over time. Legs and trunk are seen well and must hold their length within 8 %;
        # the arms get 15 %: in this side view the far arm is hidden behind the body for much of
        # the clip, so its 2D wrist is a guess and its forearm length varies more.
        limit = 0.15 if ("elbow" in a or "elbow" in b) else 0.08
        assert length.std() / length.mean() < limit, (a, b, length.std() / length.mean())
    feet_z = np.minimum(p[:, j("left_foot"), 2], p[:, j("right_foot"), 2])
    assert (feet_z < 0.15).mean() > 0.9  # a foot is on the ground in (almost) every frame
    assert (p[:, j("head"), 2] > p[:, j("hip"), 2] + 0.3).all()  # head above the hips
    assert -0.05 < np.percentile(feet_z, 20) < 0.15  # grounded by the feet (the ankle is above the sole)


@pytest.mark.slow
def test_end_to_end_exports_and_summary(default_run):
    assert set(default_run.paths) == {"mp4", "npz", "json", "csv", "bvh"}
    assert default_run.people_found >= 1 and 0 <= default_run.frames_filled < default_run.frames // 2
    assert default_run.resampled  # the clip is 30 fps
    assert {"detect", "lift", "export", "render"} <= set(default_run.seconds)
    line = default_run.summary()
    assert "95 frames" in line and "walk.pose3d.mp4" in line and "filled" in line


# ---------------------------------------------------------------------------------------------
# Plumbing


def test_output_paths():
    v = Path("/data/clip.mov")
    assert output_paths(v) == {"mp4": Path("/data/clip.pose3d.mp4"), "npz": Path("/data/clip.pose3d.npz")}
    got = output_paths(v, out="render.mp4", out_dir="/o", export="npz,bvh")
    assert got == {"mp4": Path("/o/render.mp4"), "npz": Path("/o/render.npz"), "bvh": Path("/o/render.bvh")}
    assert output_paths(v, out_dir="/o", render=False, export="csv") == {"csv": Path("/o/clip.pose3d.csv")}
    assert output_paths("/data/shots/*.png", render=False) == {"npz": Path("/data/shots.pose3d.npz")}


def test_frame_range():
    assert frame_range(100, 25.0) == (0, 100)
    assert frame_range(100, 25.0, start=1.0, end=2.0) == (25, 50)
    assert frame_range(100, 25.0, start=1.0, limit=10) == (25, 35)
    assert frame_range(100, 25.0, end=60.0) == (0, 100)
    with pytest.raises(InputError, match="past the end"):
        frame_range(100, 25.0, start=5.0)
    with pytest.raises(InputError, match="holds no frames"):
        frame_range(100, 25.0, start=2.0, end=1.0)
    with pytest.raises(InputError, match="either --end or --limit"):
        frame_range(100, 25.0, end=1.0, limit=3)
    # the same range in frame numbers (what detect's --start/--end meant in earlier versions)
    assert frame_range(100, 25.0, start_frame=25, end_frame=50) == (25, 50)
    assert frame_range(100, 25.0, start_frame=25, limit=10) == (25, 35)
    assert frame_range(100, 25.0, end_frame=500) == (0, 100)
    with pytest.raises(InputError, match="not both"):
        frame_range(100, 25.0, start=1.0, end_frame=50)
    with pytest.raises(InputError, match="--start-frame 100 is past the end"):
        frame_range(100, 25.0, start_frame=100)
    with pytest.raises(InputError, match="--start-frame 50 --end-frame 40 holds no frames"):
        frame_range(100, 25.0, start_frame=50, end_frame=40)
    with pytest.raises(InputError, match=">= 0"):
        frame_range(100, 25.0, start_frame=-1)


@pytest.mark.slow
def test_keypoints_file_limit_and_resampling_switch(tmp_path, walk_keypoints, tiny_ckpt):
    common = {"keypoints": walk_keypoints, "checkpoint": str(tiny_ckpt), "render": False, "quiet": True}
    r = infer_video(EXAMPLE, out_dir=tmp_path / "a", start=1.0, limit=20, **common)
    seq = load_poses(r.paths["npz"])
    assert r.frames == seq.num_frames == 20 and r.resampled
    assert np.isfinite(seq.poses_3d_camera).all()
    detected = np.load(walk_keypoints)["keypoints_px"]
    np.testing.assert_allclose(seq.keypoints_px, detected[30:50], atol=1e-4)
    r2 = infer_video(EXAMPLE, out_dir=tmp_path / "b", resample=False, export="json", **common)
    assert not r2.resampled and r2.frames == 95 and set(r2.paths) == {"json"}


@pytest.mark.slow
def test_short_render_with_options(tmp_path, walk_keypoints, tiny_ckpt):
    r = infer_video(EXAMPLE, out=tmp_path / "r.mp4", keypoints=walk_keypoints, checkpoint=str(tiny_ckpt),
                    limit=15, size=240, azimuth=10.0, orbit=90.0, quiet=True)
    assert set(r.paths) == {"mp4", "npz"} and r.paths["npz"] == tmp_path / "r.npz"
    got = probe_video(r.paths["mp4"])
    assert (got.num_frames, got.height) == (15, 240)
    # The orbiting camera: the 3D panel changes even where the skeleton barely moves.
    a, b = read_frames(r.paths["mp4"], 0, 1)[0], read_frames(r.paths["mp4"], 14, 15)[0]
    w_left = got.width - 240
    assert np.abs(a[:, w_left:].astype(int) - b[:, w_left:]).mean() > 2


def test_existing_outputs_refused_before_any_work(tmp_path, tiny_ckpt):
    (tmp_path / "walk.pose3d.npz").write_text("mine")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        infer_video(EXAMPLE, out_dir=tmp_path, checkpoint=str(tiny_ckpt), quiet=True)
    assert (tmp_path / "walk.pose3d.npz").read_text() == "mine"
    assert not (tmp_path / "walk.pose3d.mp4").exists()


def test_bad_inputs_are_typed_errors(tmp_path, tiny_ckpt):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(EXAMPLE.read_bytes()[:30000])
    with pytest.raises(VideoError, match="corrupt.mp4"):
        infer_video(corrupt, checkpoint=str(tiny_ckpt), quiet=True)
    with pytest.raises(InputError, match="nothing to write"):
        infer_video(EXAMPLE, render=False, export=(), quiet=True)
    with pytest.raises(InputError, match="--export"):
        infer_video(EXAMPLE, export="npz,gltf", quiet=True)
    assert list(tmp_path.iterdir()) == [corrupt]


@pytest.mark.slow
def test_clip_with_nobody(tmp_path, shared_dir, tiny_ckpt):
    """A real clip of trees and buildings (top-right of the Sports2D demo): nobody to lift."""
    clip = tmp_path / "empty.mp4"
    run_ffmpeg(["-i", str(shared_dir / "media" / "sports2d_demo.mp4"), "-an", "-vf",
                "select='between(n,0,9)',setpts=N/30/TB,crop=640:300:1100:0", "-c:v", "libx264",
                "-pix_fmt", "yuv420p", str(clip)])
    with pytest.raises(NoPersonError, match="empty.mp4"):
        infer_video(clip, checkpoint=str(tiny_ckpt), quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4"]


def test_causal_without_checkpoint_loads_the_causal_builtin():
    from pose3d_cli.pipeline import Models

    models = Models.load(checkpoint=None, causal=True, device="cpu", quiet=True, need_detector=False)
    assert models.checkpoint_name == "pose3d-27f-causal.mocap-coco" and models.checkpoint.arch.causal
    models = Models.load(checkpoint=None, causal=False, device="cpu", quiet=True, need_detector=False)
    assert not models.checkpoint.arch.causal


def test_keypoints_from_openpose_folder_take_the_video_frame_size(tmp_path, tiny_ckpt):
    """OpenPose JSON stores no frame size: infer takes it from the probed video."""
    import json

    from pose3d_cli.keypoints import detect_video

    info = probe_video(EXAMPLE)
    track = detect_video(EXAMPLE, progress=False, end=12)
    folder = tmp_path / "openpose"
    folder.mkdir()
    # BODY_25 order for the joints COCO shares: nose 0, neck 1, RSho 2, RElb 3, RWri 4, LSho 5,
    # LElb 6, LWri 7, MidHip 8, RHip 9, RKnee 10, RAnk 11, LHip 12, LKnee 13, LAnk 14, REye 15,
    # LEye 16, REar 17, LEar 18
    coco_to_body25 = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]
    for t in range(12):
        body = np.zeros((25, 3))
        body[coco_to_body25, :2] = track.keypoints_px[t]
        body[coco_to_body25, 2] = 0.9
        (folder / f"walk_{t:012d}_keypoints.json").write_text(
            json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": body.ravel().tolist()}]}))
    out = tmp_path / "op.mp4"
    result = infer_video(EXAMPLE, keypoints=folder, checkpoint=str(tiny_ckpt), limit=12, render=False,
                         out=out, quiet=True)
    seq = load_poses(result.paths["npz"])
    assert seq.num_frames == 12 and (seq.width, seq.height) == (info.width, info.height)
    np.testing.assert_allclose(seq.keypoints_px, track.keypoints_px, atol=0.01)


@pytest.mark.slow
def test_lift_and_infer_keypoints_give_identical_poses(tmp_path, walk_keypoints, tiny_ckpt):
    """Issue 10: the same keypoints of a 30 fps clip through `pose3d lift` and through
    `pose3d infer --keypoints` give the same poses (one path: cleaning, resampling, lifting,
    smoothing, world frame), also with NaN joints in the file."""
    from pose3d_cli.cli import main
    from pose3d_cli.io.keypoint_file import load_keypoints

    track = load_keypoints(walk_keypoints)
    kp = track.keypoints_px.copy()
    kp[10:14, 9] = np.nan  # a wrist missing for a few frames
    src = save_keypoints(replace(track, keypoints_px=kp), tmp_path / "kp.npz")
    assert main(["lift", str(src), "--checkpoint", str(tiny_ckpt), "--out", str(tmp_path / "lift.npz"), "-q"]) == 0
    assert main(["infer", str(EXAMPLE), "--keypoints", str(src), "--checkpoint", str(tiny_ckpt), "--no-render",
                 "--out", str(tmp_path / "infer.npz"), "-q"]) == 0
    a, b = load_poses(tmp_path / "lift.npz"), load_poses(tmp_path / "infer.npz")
    assert a.fps == b.fps == pytest.approx(30.0, rel=1e-3) and a.smoothing == b.smoothing != ""
    np.testing.assert_array_equal(a.people_poses_3d_camera, b.people_poses_3d_camera)
    np.testing.assert_array_equal(a.people_poses_3d_world, b.people_poses_3d_world)
    assert np.isfinite(a.poses_3d_camera).all()
