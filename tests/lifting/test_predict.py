"""The one predict: padding, one pose per frame, flip augmentation, chunking, bad input."""

import numpy as np
import pytest
import torch
from _reference import seeded_state_dict

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import fuse_batchnorm, predict
from pose3d_cli.skeleton import COCO17, H36M17


def _model(widths=(3, 3, 3), causal=False, seed=11, channels=32):
    m = TemporalModel(ArchSpec(filter_widths=widths, channels=channels, causal=causal))
    m.load_state_dict({k: torch.as_tensor(v) for k, v in seeded_state_dict(m, seed).items()})
    return m.eval()


def _kpts(t, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(0, 0.3, (t, 17, 2)).astype(np.float32)


@pytest.mark.parametrize("t", [1, 2, 5, 26, 27, 100])
@pytest.mark.parametrize("causal", [False, True])
def test_one_pose_per_frame_even_for_short_clips(t, causal):
    out = predict(_model(causal=causal), _kpts(t), layout_in="coco17", layout_out="h36m17")
    assert out.shape == (t, 17, 3) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_edge_padding_replicates_edge_frames():
    """Output for frame 0 equals the model applied to a window of frame 0 repeated 13 times
    followed by frames 0..13: the symmetric padding is edge replication."""
    model = _model()
    x = _kpts(40)
    out = predict(model, x, layout_in="coco17", layout_out="h36m17", flip=False, fuse=False)
    window = np.concatenate([np.repeat(x[:1], 13, 0), x[:14]])
    with torch.no_grad():
        ref = model(torch.from_numpy(window)[None])[0, 0].numpy()
    np.testing.assert_allclose(out[0], ref, atol=1e-5)
    with torch.no_grad():
        mid = model(torch.from_numpy(x[7:34])[None])[0, 0].numpy()  # centred on frame 20
    np.testing.assert_allclose(out[20], mid, atol=1e-5)


def test_causal_padding_is_all_before():
    model = _model(causal=True)
    x = _kpts(30)
    out = predict(model, x, layout_in="coco17", layout_out="h36m17", flip=False)
    x2 = x.copy()
    x2[20:] += 1.0
    out2 = predict(model, x2, layout_in="coco17", layout_out="h36m17", flip=False)
    np.testing.assert_allclose(out[:20], out2[:20], atol=1e-6)  # the past does not see the future
    assert not np.allclose(out[20], out2[20])


def _mirror(x, layout):
    m = x.copy()
    m[..., 0] *= -1
    return m[:, layout.flip_permutation()]


def test_flip_augmentation_is_mirror_equivariant_and_averages():
    model = _model()
    x = _kpts(50)
    kw = dict(layout_in="coco17", layout_out="h36m17")
    plain = predict(model, x, flip=False, **kw)
    mirrored_plain = predict(model, _mirror(x, COCO17), flip=False, **kw)
    flipped = predict(model, x, flip=True, **kw)
    np.testing.assert_allclose(flipped, (plain + _mirror(mirrored_plain, H36M17)) / 2, atol=1e-5)
    # with flip on, lifting a mirrored clip gives the mirrored poses
    np.testing.assert_allclose(predict(model, _mirror(x, COCO17), flip=True, **kw),
                               _mirror(flipped, H36M17), atol=1e-5)


def test_chunking_matches_one_pass():
    model = _model(widths=(3, 3, 3, 3))
    x = _kpts(300, seed=3)
    kw = dict(layout_in="coco17", layout_out="h36m17")
    whole = predict(model, x, chunk_frames=100000, **kw)
    chunked = predict(model, x, chunk_frames=37, **kw)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_batchnorm_folding_is_exact():
    model = _model(widths=(3, 3, 3, 3), channels=64)
    x = torch.from_numpy(_kpts(120))[None]
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(fuse_batchnorm(model)(x), ref, atol=1e-4, rtol=1e-4)


def test_training_mode_is_restored():
    model = _model().train()
    predict(model, _kpts(10), layout_in="coco17", layout_out="h36m17")
    assert model.training


def test_bad_input():
    model = _model()
    kw = dict(layout_in="coco17", layout_out="h36m17")
    with pytest.raises(InputError, match="takes 17 joints but the keypoints have 16"):
        predict(model, _kpts(10)[:, :16], **kw)
    with pytest.raises(InputError, match=r"shape \(T, J, 2\)"):
        predict(model, np.zeros((10, 17, 3), np.float32), **kw)
    nan = _kpts(10)
    nan[4, 3] = np.nan
    with pytest.raises(InputError, match="NaN or infinite in 1 frame.*first: 4"):
        predict(model, nan, **kw)
    with pytest.raises(InputError, match="no frames"):
        predict(model, np.zeros((0, 17, 2), np.float32), **kw)


def test_folded_copy_is_reused_and_renewed_when_weights_change():
    """predict folds BatchNorm once per weights: a second call reuses the copy, and a change to a
    weight or running statistic (training between validations) is always seen."""
    import torch

    from pose3d_cli.lifting import predict as predict_module
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel
    from pose3d_cli.lifting.predict import predict

    torch.manual_seed(0)
    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=16)).eval()
    x = np.random.default_rng(0).normal(scale=0.3, size=(20, 17, 2)).astype(np.float32)
    kw = dict(layout_in="coco17", layout_out="h36m17", flip=False)
    a = predict(model, x, **kw)
    first = predict_module._FUSED[model][2]
    b = predict(model, x, **kw)
    assert predict_module._FUSED[model][2] is first
    np.testing.assert_array_equal(a, b)
    with torch.no_grad():
        model.shrink.bias.add_(0.5)
    c = predict(model, x, **kw)
    np.testing.assert_allclose(c, a + 0.5, atol=1e-5)
    with torch.no_grad():
        model.expand_bn.running_mean.add_(1.0)
    assert not np.allclose(predict(model, x, **kw), c)
