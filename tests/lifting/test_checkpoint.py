"""Checkpoints: the published VideoPose3D layout loads as is (golden outputs), the pose3d format
round-trips, and bad files are refused with one clear message."""

import collections
import io
import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _reference import reference_forward, seeded_state_dict
from make_golden import golden_case

from pose3d_cli.errors import CheckpointError
from pose3d_cli.lifting.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    save_videopose3d_checkpoint,
)
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import predict

GOLDEN = Path(__file__).parent / "data" / "golden_27f.npz"


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN)


def pickled_globals(path: Path) -> set[str]:
    """``module.name`` of every global the main pickle of a torch file names (zip or legacy)."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            stream = io.BytesIO(zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl"))))
        pickles = 1
    else:  # legacy: magic, protocol, sys info, the object, storage keys, raw storages
        stream, pickles = io.BytesIO(data), 4
    names = set()
    for _ in range(pickles):
        for op, arg, _pos in pickletools.genops(stream):
            if op.name == "GLOBAL":
                names.add(arg.replace(" ", "."))
    return names


OLD_NUMPY = {"numpy.random.__RandomState_ctor", "numpy.core.multiarray._reconstruct"}
NEW_NUMPY = {"numpy.random._pickle.__randomstate_ctor", "numpy._core.multiarray._reconstruct"}


@pytest.mark.parametrize("old_numpy", [True, False], ids=["numpy1.16-names", "numpy2-names"])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_published_format_gives_pinned_outputs(tmp_path, golden, legacy, old_numpy):
    """Files as run.py writes them: the RandomState object itself under numpy's pickling helpers
    (the published files: legacy torch format, numpy 1.16's names)."""
    model, kpts = golden_case()
    np.testing.assert_array_equal(kpts, golden["kpts_norm"])
    traj = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=64, joints_out=1))
    path = save_videopose3d_checkpoint(tmp_path / "pretrained.bin", model, model_traj=traj,
                                       epoch=80, lr=0.0005, legacy_format=legacy, old_numpy=old_numpy)
    assert zipfile.is_zipfile(path) != legacy
    names = pickled_globals(path)
    assert (OLD_NUMPY if old_numpy else NEW_NUMPY) <= names
    assert not ((NEW_NUMPY if old_numpy else OLD_NUMPY) & names)
    # numpy's own unpickling rebuilds the generators (the file is what run.py writes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core.* names in numpy 2
        raw = torch.load(path, weights_only=False)
    assert type(raw["random_state"]) is np.random.RandomState
    assert raw["random_state"].randint(1 << 30) == np.random.RandomState(1234).randint(1 << 30)
    assert type(raw["random_state_semi"]) is np.random.RandomState
    ck = load_checkpoint(path)
    assert ck.source_format == "videopose3d"
    assert ck.arch.filter_widths == (3, 3, 3) and ck.arch.channels == 64
    assert (ck.arch.joints_in, ck.arch.joints_out) == (17, 17)
    assert ck.model_traj is not None and ck.model_traj.arch.joints_out == 1
    assert (ck.layout_in, ck.layout_out) == ("coco17", "h36m17")
    assert ck.meta["epoch"] == 80
    for flip in (False, True):
        out = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17", flip=flip)
        np.testing.assert_allclose(out, golden[f"flip{int(flip)}"], rtol=0, atol=2e-5)


def _state_rebuilt(path: Path) -> np.random.RandomState:
    """The ``random_state`` as the safe loader rebuilds it."""
    from pose3d_cli.lifting.checkpoint import _numpy_allow_list

    with torch.serialization.safe_globals(_numpy_allow_list()):
        return torch.load(path, weights_only=True)["random_state"]


class _Numpy117Style:
    """Pickles like numpy 1.17-1.25's RandomState: ``__randomstate_ctor(*args)`` + a state dict."""

    def __init__(self, args, seed=99):
        self.args, self.state = args, np.random.RandomState(seed).get_state(legacy=False)

    def __reduce__(self):
        from numpy.random import _pickle

        return getattr(_pickle, "__randomstate_ctor"), self.args, self.state


def test_numpy_1_17_argument_forms_rebuild_the_generator(tmp_path):
    from numpy.random import _pickle

    model, _ = golden_case()
    for args in [("MT19937",), ("MT19937", getattr(_pickle, "__bit_generator_ctor"))]:
        path = tmp_path / f"n117_{len(args)}.bin"
        torch.save({"epoch": 3, "lr": 1e-3, "random_state": _Numpy117Style(args),
                    "model_pos": model.state_dict(), "model_traj": None}, path)
        assert "numpy.random._pickle.__randomstate_ctor" in pickled_globals(path)
        assert load_checkpoint(path).meta["epoch"] == 3
        rs = _state_rebuilt(path)
        assert type(rs) is np.random.RandomState
        assert rs.randint(1 << 30) == np.random.RandomState(99).randint(1 << 30)


@pytest.mark.parametrize("args, words", [
    (("PCG64",), "refusing bit generator 'PCG64'"),
    (("MT19937", collections.OrderedDict), "unknown bit-generator constructor"),
    ((collections.OrderedDict,), "refusing bit generator 'OrderedDict'"),
])
def test_random_state_helpers_accept_only_mt19937(tmp_path, args, words):
    """numpy's real helpers would build any named generator and call any callable they are given;
    the loader's stand-ins refuse everything but MT19937."""
    model, _ = golden_case()
    path = tmp_path / "odd_rng.bin"
    torch.save({"random_state": _Numpy117Style(args), "model_pos": model.state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert words in msg and "refused to load" in msg and str(path) in msg and "\n" not in msg


def test_model_matches_independent_numpy_reference():
    model, kpts = golden_case()
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    ref = reference_forward(sd, kpts, (3, 3, 3))
    with torch.no_grad():
        out = model(torch.from_numpy(kpts)[None])[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_causal_model_matches_reference():
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=16, causal=True)
    model = TemporalModel(arch)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in seeded_state_dict(model, 5).items()})
    model.eval()
    x = np.random.RandomState(0).normal(0, 0.3, (40, 17, 2)).astype(np.float32)
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    with torch.no_grad():
        out = model(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(out, reference_forward(sd, x, (3, 3, 3), causal=True), atol=1e-4)


def test_pose3d_format_round_trip_gives_identical_outputs(tmp_path, golden):
    model, kpts = golden_case()
    published = save_videopose3d_checkpoint(tmp_path / "a.bin", model)
    ck = load_checkpoint(published)
    own = save_checkpoint(tmp_path / "b.pt", ck.model_pos, layout_in=ck.layout_in,
                          layout_out=ck.layout_out, meta={"trained_on": "test", "epochs": 3})
    ck2 = load_checkpoint(own)
    assert ck2.source_format == "pose3d"
    assert ck2.arch == ck.arch and ck2.meta == {"trained_on": "test", "epochs": 3}
    for k, v in ck.model_pos.state_dict().items():
        assert torch.equal(v, ck2.model_pos.state_dict()[k]), k
    a = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17")
    b = predict(ck2.model_pos, kpts, layout_in=ck2.layout_in, layout_out=ck2.layout_out)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(b, golden["flip1"], atol=2e-5)


def test_own_format_records_causal_and_layouts(tmp_path):
    arch = ArchSpec(filter_widths=(3, 3), channels=8, causal=True, joints_in=17, joints_out=17)
    path = save_checkpoint(tmp_path / "c.pt", TemporalModel(arch), layout_in="h36m17", layout_out="h36m17",
                           training_state={"epoch": 2, "losses": [0.5, 0.4]})
    ck = load_checkpoint(path)
    assert ck.arch.causal and ck.layout_in == "h36m17"
    assert ck.training_state == {"epoch": 2, "losses": [0.5, 0.4]}
    with pytest.raises(CheckpointError, match="trained causal"):
        load_checkpoint(path, causal=False)


def test_float16_shipping_copy_loads_as_float32(tmp_path):
    model, kpts = golden_case()
    path = save_checkpoint(tmp_path / "h.pt", model, layout_in="coco17", layout_out="h36m17", dtype=torch.float16)
    ck = load_checkpoint(path)
    assert all(p.dtype == torch.float32 for p in ck.model_pos.parameters())
    out = predict(ck.model_pos, kpts, layout_in="coco17", layout_out="h36m17")
    ref = predict(model, kpts, layout_in="coco17", layout_out="h36m17")
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_missing_empty_truncated_and_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.bin")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(empty)
    model, _ = golden_case()
    for legacy in (False, True):
        good = save_videopose3d_checkpoint(tmp_path / f"good{legacy}.bin", model, legacy_format=legacy)
        data = good.read_bytes()
        cut = tmp_path / f"cut{legacy}.bin"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(cut)
    text = tmp_path / "notes.bin"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="no 'model_pos'"):
        load_checkpoint(other)
    torch.save({"model_pos": {"foo.weight": torch.zeros(3)}}, other)
    with pytest.raises(CheckpointError, match="expand_conv.weight"):
        load_checkpoint(other)


class _Payload:
    """Unpickling this would create a marker file: it must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_carrying_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    model, _ = golden_case()
    torch.save({"model_pos": model.state_dict(), "extra": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()
    # a bare pickle (not torch's format) with the payload is refused too
    raw = tmp_path / "evil2.bin"
    raw.write_bytes(pickle.dumps({"model_pos": _Payload(str(marker))}))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_unexpected_architecture(tmp_path):
    model16 = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=8, joints_in=16, joints_out=16))
    path = save_videopose3d_checkpoint(tmp_path / "j16.bin", model16)
    with pytest.raises(CheckpointError, match="16 input joints match no known layout"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="layout coco17 has 17"):
        load_checkpoint(path, layout_in="coco17", layout_out="h36m17")
    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=8))
    path = save_videopose3d_checkpoint(tmp_path / "small.bin", model)
    with pytest.raises(CheckpointError, match=r"filter_widths \(3, 3\) \(expected \(3, 3, 3, 3, 3\)\)"):
        load_checkpoint(path, expect=ArchSpec())


def _own_file(tmp_path, name="own.pt", **changes) -> Path:
    """A pose3d checkpoint of a small model, with fields of its dict replaced or removed (None)."""
    model = TemporalModel(ArchSpec(filter_widths=(3, 3, 3), channels=16))
    path = save_checkpoint(tmp_path / name, model, layout_in="coco17", layout_out="h36m17")
    obj = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("changes, words", [
    ({"model_pos": None}, "without 'model_pos' weights"),
    ({"model_pos": [1, 2]}, "'model_pos' is a list, not a state dict"),
    ({"model_pos": {"expand_conv.weight": "abc"}}, "entries that are not named tensors"),
    ({"arch": None}, "bad 'arch' field (a NoneType"),
    ({"arch": {"channels": 16, "joints_in": 17, "joints_out": 17}}, "bad 'arch' field (no 'filter_widths')"),
    ({"arch": {"filter_widths": [3, 3, 3], "channels": "16", "joints_in": 17, "joints_out": 17}},
     "bad 'arch' field (channels is '16')"),
    ({"arch": {"filter_widths": [3, 4, 3], "channels": 16, "joints_in": 17, "joints_out": 17}},
     "bad 'arch' field (ValueError: filter widths must be odd"),
    ({"arch": {"filter_widths": [3, 3, 3, 3, 3], "channels": 16, "joints_in": 17, "joints_out": 17}},
     ("its 'arch' field does not describe its weights (filter_widths (3, 3, 3, 3, 3) in the field, "
      "(3, 3, 3) in the weights)")),
    ({"format_version": "one"}, "bad 'format_version'"),
    ({"layout_in": "coco18"}, "the file names input layout 'coco18', which pose3d does not know"),
])
def test_damaged_own_checkpoint_is_one_clear_line(tmp_path, changes, words):
    """A missing or wrong field is named; never a KeyError, never 'expected the 243-frame model'."""
    path = _own_file(tmp_path, **changes)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert words in msg and msg.startswith(str(path)) and "\n" not in msg
    assert "(3, 3, 3, 3, 3)" not in msg or "in the field" in msg


def test_unknown_layout_asked_for_names_the_file(tmp_path):
    from pose3d_cli.errors import InputError

    path = _own_file(tmp_path)
    with pytest.raises(InputError) as err:
        load_checkpoint(path, layout_in="bogus")
    assert "unknown joint layout 'bogus'" in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("where, value, words", [
    ("layers_conv.0.weight", float("nan"), "weight layers_conv.0.weight holds NaN or infinite"),
    ("shrink.bias", float("inf"), "weight shrink.bias holds NaN or infinite"),
    ("expand_bn.running_var", -4.0, "output on a plain input is NaN or infinite"),
])
@pytest.mark.parametrize("fmt", ["videopose3d", "pose3d"])
def test_non_finite_model_is_refused(tmp_path, where, value, words, fmt):
    """NaN/inf weights (or a BatchNorm variance below zero) would lift every frame to NaN."""
    model, _ = golden_case()
    sd = model.state_dict()
    sd[where] = torch.full_like(sd[where], value)
    model.load_state_dict(sd)
    if fmt == "videopose3d":
        path = save_videopose3d_checkpoint(tmp_path / "bad.bin", model)
    else:
        path = save_checkpoint(tmp_path / "bad.pt", model, layout_in="coco17", layout_out="h36m17")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert words in str(err.value) and str(path) in str(err.value)
