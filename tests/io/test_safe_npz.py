"""The one restricted ``.npz`` loader: plain data comes back, anything that could run code or is
not plain data is refused in one line naming the file, and nothing of a refused pickle runs."""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.io.safe_npz import load_npz_safe


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


def test_plain_dicts_lists_and_numeric_arrays_round_trip(tmp_path):
    kp = np.arange(60, dtype=np.float32).reshape(5, 6, 2)
    positions = {"walk.mp4": {"custom": [kp]}, 3: (1, 2.5, None, True, "x")}
    meta = collections.OrderedDict(layout_name="coco", num_joints=np.int64(17),
                                   keypoints_symmetry=[[1, 3], [2, 4]])
    path = tmp_path / "plain.npz"
    np.savez_compressed(path, positions_2d=_as_object(positions), metadata=_as_object(meta),
                        numbers=np.ones(3), label=np.array("hello"))
    data = load_npz_safe(path)
    assert data["positions_2d"]["walk.mp4"]["custom"][0].dtype == np.float32
    np.testing.assert_array_equal(data["positions_2d"]["walk.mp4"]["custom"][0], kp)
    assert data["positions_2d"][3] == (1, 2.5, None, True, "x")
    assert data["metadata"]["num_joints"] == 17 and data["metadata"]["keypoints_symmetry"] == [[1, 3], [2, 4]]
    assert str(data["label"]) == "hello" and data["numbers"].sum() == 3


def test_numpy1_protocol2_names_are_read(tmp_path):
    """Files written by the paper's numpy 1.x under Python 2/3 name ``numpy.core.multiarray``
    and carry bytes as ``_codecs.encode`` (protocol 2)."""
    obj = _as_object({"S1": {"Walk": np.linspace(0, 1, 12).reshape(2, 2, 3)}})
    pkl = pickle.dumps(obj, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in pkl and b"c_codecs\nencode" in pkl
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": ()})
    path = tmp_path / "data_3d_old.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("positions_3d.npy", header.getvalue() + pkl)  # header: magic, v1.0, dict
    got = load_npz_safe(path)["positions_3d"]["S1"]["Walk"]
    np.testing.assert_array_equal(got, np.linspace(0, 1, 12).reshape(2, 2, 3))


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    np.savez(path, positions_2d=_as_object({"clip": {"custom": [_RunsShell(marker)]}}))
    with pytest.raises(InputError) as err:
        load_npz_safe(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: refused to load member 'positions_2d'") and "\n" not in msg
    assert "posix.system" in msg and "could run code" in msg
    assert not marker.exists()
    # the payload is live: numpy's own loader does run it
    np.load(path, allow_pickle=True)["positions_2d"]
    assert marker.exists()


@pytest.mark.parametrize("value, words", [
    ({"a": np.array([{"x": 1}, None], dtype=object)}, "an array of Python objects inside the data"),
    ({"a": np.array(["left", "right"])}, "an array of dtype <U5 inside the data"),
    ({"a": b"raw bytes"}, "an object of type bytes"),
    ({"a": {1, 2}}, "set"),
    ({("tuple", "key"): 1}, "a dict key of type tuple"),
])
def test_data_that_is_not_plain_is_refused(tmp_path, value, words):
    path = tmp_path / "odd.npz"
    np.savez(path, positions_2d=_as_object(value))
    with pytest.raises(InputError) as err:
        load_npz_safe(path)
    assert words in str(err.value) and str(path) in str(err.value)


def test_deep_nesting_and_object_vectors_are_refused(tmp_path):
    deep: list = []
    for _ in range(200):
        deep = [deep]
    path = tmp_path / "deep.npz"
    np.savez(path, positions_2d=_as_object(deep))
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        load_npz_safe(path)
    vec = tmp_path / "vec.npz"
    np.savez(vec, names=np.array([{"a": 1}, {"b": 2}], dtype=object))
    with pytest.raises(InputError, match=r"member 'names' is an object array of shape \(2,\)"):
        load_npz_safe(vec)


def test_missing_truncated_and_not_npz(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_npz_safe(tmp_path / "nope.npz")
    with pytest.raises(InputError, match="not a regular file"):
        load_npz_safe(tmp_path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="junk.npz: not a readable .npz file"):
        load_npz_safe(junk)
    good = tmp_path / "good.npz"
    np.savez(good, positions_2d=_as_object({"v": np.zeros((4, 17, 2))}))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError) as err:
        load_npz_safe(cut, kind="keypoint file", fix="write it again")
    assert "cut.npz: not a readable keypoint file" in str(err.value) and str(err.value).endswith("write it again")
