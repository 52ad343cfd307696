"""``pose3d infer`` on a real clip, its flag mapping, and one-line errors for bad input.

Lifting uses a small randomly initialised checkpoint (a stand-in for trained weights: these
tests check the command, not pose quality; ``tests/test_pipeline.py`` runs the real default).
"""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3d_cli.cli import build_parser, main
from pose3d_cli.cli.infer import infer_kwargs
from pose3d_cli.io.pose_file import load_poses
from pose3d_cli.pipeline import infer_video

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "walk.mp4"



def _err(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("pose3d:")]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    return lines[0]


def test_flags_map_one_to_one_to_infer_video():
    args = build_parser().parse_args(["infer", "v.mp4"])
    kw = infer_kwargs(args)
    # Python-only keywords: pre-loaded models, the output stem batch uses, write=False.
    params = set(inspect.signature(infer_video).parameters) - {"video", "models", "stem", "write"}
    assert set(kw) == params
    args = build_parser().parse_args(
        ["infer", "v.mp4", "--no-flip", "--causal", "--no-render", "--export", "npz,bvh", "--azimuth", "-30",
         "--orbit", "15", "--size", "1280x480", "--fps", "25", "--start", "1.5", "--limit", "40",
         "--no-resample", "--overwrite", "--device", "cpu", "--keypoints", "k.npz", "--out", "r.mp4"])
    kw = infer_kwargs(args)
    assert (kw["flip"], kw["causal"], kw["render"], kw["resample"], kw["overwrite"]) == (False, True, False, False, True)
    assert (kw["export"], kw["azimuth"], kw["orbit"], kw["size"], kw["fps"]) == ("npz,bvh", -30.0, 15.0, "1280x480", 25.0)
    assert (kw["start"], kw["end"], kw["limit"], kw["device"]) == (1.5, None, 40, "cpu")
    assert kw["keypoints"] == Path("k.npz") and kw["out"] == Path("r.mp4")


def test_infer_real_clip_detects_lifts_and_exports(tmp_path, tiny_ckpt, capsys):
    rc = main(["infer", str(EXAMPLE), "--out-dir", str(tmp_path), "--checkpoint", str(tiny_ckpt),
               "--limit", "12", "--start", "1", "--no-render", "--export", "npz,csv"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "12 frames" in out and "walk.pose3d.npz" in out and "filled" in out
    seq = load_poses(tmp_path / "walk.pose3d.npz")
    assert seq.num_frames == 12 and seq.keypoint_layout == "coco17" and seq.fps == pytest.approx(30.0)
    # The keypoints came from the real detector: on the walker, inside the frame.
    k = seq.keypoints_px
    assert ((k[..., 0] > 0) & (k[..., 0] < 1280) & (k[..., 1] > 0) & (k[..., 1] < 480)).mean() > 0.95
    assert np.ptp(k[..., 1], axis=1).min() > 200  # a full body, head to ankles
    import pandas as pd

    table = pd.read_csv(tmp_path / "walk.pose3d.csv")
    assert set(table["frame"]) == set(range(30, 42)) and (table["space"] == "world").sum() == 12 * 17
    # Outputs exist now: refused without --overwrite, replaced with it.
    rc = main(["infer", str(EXAMPLE), "--out-dir", str(tmp_path), "--checkpoint", str(tiny_ckpt),
               "--limit", "12", "--no-render", "--export", "npz,csv", "-q"])
    assert rc == 4 and "--overwrite" in _err(capsys)


@pytest.mark.parametrize("argv, needle", [
    (["/nonexistent/clip.mp4"], "clip.mp4"),
    ([str(EXAMPLE), "--export", "npz,fbx"], "--export 'fbx'"),
    ([str(EXAMPLE), "--size", "huge"], "--size"),
    ([str(EXAMPLE), "--start", "99"], "past the end"),
    ([str(EXAMPLE), "--no-render", "--export", ""], "nothing to write"),
    ([str(EXAMPLE), "--checkpoint", "/nonexistent/model.pt"], "model.pt"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv, needle, capsys):
    rc = main(["infer", *argv, "--out-dir", str(tmp_path), "-q"])
    assert rc == 2
    assert needle in _err(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error(tmp_path, tiny_ckpt, capsys):
    rc = main(["infer", str(EXAMPLE), "--device", "cuda", "--checkpoint", str(tiny_ckpt),
               "--out-dir", str(tmp_path), "-q"])
    assert rc == 3 and "--device cpu" in _err(capsys)  # 3: a backend/device missing here


def test_causal_needs_a_causal_checkpoint(tmp_path, tiny_ckpt, capsys):
    rc = main(["infer", str(EXAMPLE), "--causal", "--checkpoint", str(tiny_ckpt), "--out-dir", str(tmp_path), "-q"])
    assert rc == 2 and "causal" in _err(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, needle", [
    (["--orbit", "nan"], "--orbit nan"),
    (["--azimuth", "inf"], "--azimuth inf"),
    (["--fps", "inf"], "--fps inf"),
    (["--fps", "0"], "--fps 0"),
    (["--start", "nan"], "--start nan"),
    (["--end", "nan"], "--end nan"),
    (["--size", "100000x100000"], "--size"),
    (["--out", "r.txt"], "unknown suffix '.txt'"),
    (["--person", "main,x"], "--person"),
])
def test_bad_numbers_and_names_fail_before_any_work(tmp_path, argv, needle, capsys, tiny_ckpt):
    """Issue 9: NaN/inf flags, absurd render sizes, an --out that would gain a suffix: one line, exit 2."""
    rc = main(["infer", str(EXAMPLE), *argv, "--out-dir", str(tmp_path), "--checkpoint", str(tiny_ckpt), "-q"])
    assert rc == 2 and needle in _err(capsys)
    assert list(tmp_path.iterdir()) == []


def test_no_output_may_resolve_to_an_input(tmp_path, tiny_ckpt, capsys):
    """`--out clip.npz --overwrite` once wrote the render to clip.mp4: the input. Now refused."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(EXAMPLE.read_bytes())
    before = clip.read_bytes()
    rc = main(["infer", str(clip), "--out", str(tmp_path / "clip.npz"), "--overwrite", "--checkpoint",
               str(tiny_ckpt), "-q"])
    assert rc == 2 and "would replace the input" in _err(capsys)
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    rc = main(["infer", str(link), "--out", str(clip), "--overwrite", "--checkpoint", str(tiny_ckpt), "-q"])
    assert rc == 2 and "would replace the input" in _err(capsys)
    assert clip.read_bytes() == before


def test_out_is_an_existing_folder(tmp_path, tiny_ckpt, capsys):
    folder = tmp_path / "render.mp4"
    folder.mkdir()
    rc = main(["infer", str(EXAMPLE), "--out", str(folder), "--overwrite", "--checkpoint", str(tiny_ckpt), "-q"])
    assert rc == 4 and "is a folder" in _err(capsys)


def test_json_prints_one_object_and_nothing_else(tmp_path, tiny_ckpt, capsys):
    import json

    rc = main(["infer", str(EXAMPLE), "--out-dir", str(tmp_path), "--checkpoint", str(tiny_ckpt), "--limit", "20",
               "--no-render", "--detector", "mediapipe", "--json"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("\n") == 1
    doc = json.loads(out)
    assert doc["frames"] == 20 and doc["outputs"]["npz"].endswith("walk.pose3d.npz") and doc["people"] == 1
    assert {"fps", "model", "licence", "device", "seconds", "warnings"} <= set(doc)
