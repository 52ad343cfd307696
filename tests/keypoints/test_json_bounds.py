"""Keypoint JSON is read with bounds: a regular file of at most 512 MiB; JSON nested too deeply
for Python's decoder is one line naming the file (it was a RecursionError traceback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io import bounded


def test_keypoint_json_deep_nesting_and_size(tmp_path, monkeypatch):
    from pose3d_cli.keypoints.formats import load_any_keypoints

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError) as err:
        load_any_keypoints(deep, frame_size=(640, 480))
    assert str(err.value) == (f"{deep}: JSON nested too deeply to be keypoints; give a COCO keypoint JSON "
                              "or an OpenPose *_keypoints.json")
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 0, "keypoints": [1.0] * 51, "score": 1.0}] * 50))
    monkeypatch.setattr(bounded, "MAX_JSON_BYTES", 1000)
    with pytest.raises(InputError, match="results.json: keypoint JSON file is larger than the 1000 bytes"):
        load_any_keypoints(results, frame_size=(640, 480))
    with pytest.raises(InputError, match="not a regular file"):
        load_any_keypoints(_fifo(tmp_path), frame_size=(640, 480))


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "frames.json"
    os.mkfifo(path)
    return path
