"""Keypoint files are data: a VideoPose3D custom ``.npz`` never runs its pickle's code, and a file
with wrong values (objects, strings, a bad fps or frame size, NaN scores, keypoints far outside
the frame) is one line naming the file, never a traceback or garbage passed on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.keypoint_file import (
    KeypointTrack,
    load_keypoints,
    save_keypoints,
    save_videopose3d_custom,
)


class _RunsShell:
    """Unpickling this runs ``touch MARKER`` through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _as_object(value) -> np.ndarray:
    arr = np.empty((), dtype=object)
    arr[()] = value
    return arr


def _kpts(t: int = 30, w: int = 640, h: int = 480, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([50, 50], [w - 50, h - 50], size=(t, 17, 2)).astype(np.float32)


def _custom(path: Path, kpts, *, w=640, h=480, extra_vm=None, meta=None) -> Path:
    """A custom file written as the paper's prepare_data_2d_custom.py writes it."""
    vm = {"w": w, "h": h, **(extra_vm or {})}
    metadata = {"layout_name": "coco", "num_joints": 17,
                "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
                "video_metadata": {"clip.mp4": vm}} if meta is None else meta
    np.savez_compressed(path, positions_2d=_as_object({"clip.mp4": {"custom": [kpts]}}),
                        metadata=_as_object(metadata))
    return path


def _own(path: Path, **fields) -> Path:
    """A pose3d keypoint file with some members replaced."""
    track = KeypointTrack(keypoints_px=_kpts(), scores=np.full((30, 17), 0.9, np.float32), width=640,
                          height=480, fps=30.0, detector="test")
    save_keypoints(track, path)
    data = dict(np.load(path, allow_pickle=False))
    data.update(fields)
    for key in ("keypoints_px", "scores"):  # files with every person hold the main one twice
        if key in fields and f"people_{key}" in data:
            data[f"people_{key}"] = np.asarray(fields[key])[None]
    np.savez(path, **data)
    return path


def _one_line_error(path: Path, *words: str) -> str:
    with pytest.raises(InputError) as err:
        load_keypoints(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_custom_file_as_the_paper_writes_it_loads(tmp_path):
    kp = _kpts()
    track = load_keypoints(_custom(tmp_path / "data_2d_custom_a.npz", kp))
    np.testing.assert_array_equal(track.keypoints_px, kp)
    assert (track.width, track.height, track.layout) == (640, 480, "coco17")
    again = load_keypoints(save_videopose3d_custom({"v": track}, tmp_path / "data_2d_custom_b.npz"))
    np.testing.assert_array_equal(again.keypoints_px, kp)


def test_custom_file_whose_pickle_runs_a_shell_command_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "shell_ran"
    path = tmp_path / "data_2d_custom_evil.npz"
    np.savez(path, positions_2d=_as_object({"clip.mp4": {"custom": [_RunsShell(marker)]}}),
             metadata=_as_object({"video_metadata": {"clip.mp4": {"w": 640, "h": 480}}}))
    _one_line_error(path, "refused to load member 'positions_2d'", "posix.system", "could run code")
    assert not marker.exists()


def test_lift_refuses_the_same_file_in_one_line(tmp_path, capsys):
    from pose3d_cli.cli import main

    marker = tmp_path / "shell_ran"
    path = tmp_path / "data_2d_custom_evil.npz"
    np.savez(path, positions_2d=_as_object({"clip.mp4": {"custom": [_RunsShell(marker)]}}))
    assert main(["lift", str(path), "--out", str(tmp_path / "p.npz"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pose3d: error: {path}: refused to load") and "\n" not in err
    assert not marker.exists() and not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize("kind", ["object", "strings"])
def test_custom_keypoints_that_are_not_numbers(tmp_path, kind):
    if kind == "object":
        arr = np.empty((3, 17, 2), dtype=object)
        arr[...] = 1.0
        words = "an array of Python objects inside the data"
    else:
        arr = np.full((3, 17, 2), "abc")
        words = "an array of dtype <U3 inside the data"
    _one_line_error(_custom(tmp_path / "c.npz", arr), words)


@pytest.mark.parametrize("vm, words", [
    ({"w": "640"}, "width is '640', not a number"),
    ({"w": 640.5}, "width is 640.5, not a finite integer"),
    ({"h": 0}, "height is 0; the frame size must be positive"),
    ({"fps": 0}, "fps is 0, not a frame rate"),
    ({"fps": float("nan")}, "fps is nan, not a finite number"),
    ({"fps": -30}, "fps is -30, not a frame rate"),
])
def test_custom_metadata_values_are_checked(tmp_path, vm, words):
    w, h = vm.pop("w", 640), vm.pop("h", 480)
    _one_line_error(_custom(tmp_path / "c.npz", _kpts(), w=w, h=h, extra_vm=vm), words)


def test_custom_metadata_of_the_wrong_shape(tmp_path):
    _one_line_error(_custom(tmp_path / "a.npz", _kpts(), meta=["not", "a", "dict"]), "metadata is a list")
    _one_line_error(_custom(tmp_path / "b.npz", _kpts(), meta={"video_metadata": {"clip.mp4": 640}}),
                    "no width/height for 'clip.mp4'")
    path = tmp_path / "c.npz"
    np.savez(path, positions_2d=_as_object({"clip.mp4": {"custom": []}}))
    _one_line_error(path, "video 'clip.mp4' holds no keypoint array")


@pytest.mark.parametrize("fields, words", [
    ({"fps": np.float64(0.0)}, "fps is 0, not a frame rate"),
    ({"fps": np.float64("nan")}, "fps is nan, not a finite number"),
    ({"fps": np.float64(-30.0)}, "fps is -30, not a frame rate"),
    ({"width": np.array("640px")}, "width is '640px', not a number"),
    ({"layout": np.array("coco18")}, "unknown joint layout 'coco18'"),
    ({"keypoints_px": np.full((30, 17, 2), "x")}, "keypoints_px has dtype <U1, not numbers"),
    ({"scores": np.array([{"a": 1}] * 30, dtype=object)}, "scores' is an array of Python objects"),
])
def test_own_file_values_are_checked(tmp_path, fields, words):
    _one_line_error(_own(tmp_path / "kp.npz", **fields), words)


def test_keypoint_far_outside_the_frame_is_refused_naming_the_frame(tmp_path):
    kp = _kpts()
    kp[12, 5] = (1e30, 200.0)
    msg = _one_line_error(_custom(tmp_path / "c.npz", kp), "frame 12: keypoint 5 at (1e+30, 200) px",
                          "more than 4 frame sizes outside the 640x480 frame")
    assert "width/height" in msg
    kp = _kpts()
    kp[3, 0] = (-1e6, 10.0)
    _one_line_error(_own(tmp_path / "kp.npz", keypoints_px=kp), "frame 3: keypoint 0 at (-1e+06, 10) px")
    # a little outside is fine (a limb leaving the picture)
    kp = _kpts()
    kp[3, 0] = (-300.0, 700.0)
    assert load_keypoints(_own(tmp_path / "ok.npz", keypoints_px=kp)).keypoints_px[3, 0, 0] == -300.0


def test_non_finite_keypoints_and_scores(tmp_path):
    kp = _kpts()
    kp[7, 2, 1] = np.nan
    _one_line_error(_custom(tmp_path / "nan.npz", kp), "frame 7: keypoint 2 is", "not a finite pixel")
    kp = _kpts()
    kp[4, 1, 0] = np.inf
    _one_line_error(_own(tmp_path / "inf.npz", keypoints_px=kp), "frame 4: keypoint 1 is")
    scores = np.full((30, 17), 0.5, np.float32)
    scores[9, 16] = np.nan
    _one_line_error(_own(tmp_path / "s.npz", scores=scores), "frame 9: keypoint 16 has score nan")


def test_scores_outside_0_1_are_clipped(tmp_path):
    scores = np.full((30, 17), 0.5, np.float32)
    scores[0, 0], scores[1, 1] = 1.7, -0.2
    track = load_keypoints(_own(tmp_path / "s.npz", scores=scores))
    assert track.scores[0, 0] == 1.0 and track.scores[1, 1] == 0.0 and track.scores[2, 2] == 0.5
