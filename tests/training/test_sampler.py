"""The chunked sampler: windows equal a per-sample loop, flips, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_cli.skeleton import COCO17, H36M17
from pose3d_cli.training.data import SequencePair
from pose3d_cli.training.sampler import ChunkedSampler, chunk_table, reference_batch

FLIPS = {"kps_left": COCO17.left, "kps_right": COCO17.right,
         "joints_left": H36M17.left, "joints_right": H36M17.right}


def _pairs(lengths=(7, 30, 1, 64, 13), seed=0) -> list[SequencePair]:
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(lengths):
        pose = rng.normal(size=(n, 17, 3)).astype(np.float32)
        pose[:, 0] = 0
        out.append(SequencePair(kpts_norm=rng.normal(size=(n, 17, 2)).astype(np.float32),
                                pose_cam_m=pose,
                                traj_cam_m=rng.normal(size=(n, 1, 3)).astype(np.float32),
                                intrinsics=rng.normal(size=9).astype(np.float32),
                                subject="S1", action=f"A {i}", camera=i % 4, fps=50.0))
    return out


def _assert_batches_equal(a, b):
    for name in ("intrinsics", "pose_3d", "traj_3d", "kpts_2d", "seq_index", "start", "flip"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("chunk_length, pad, causal_shift, flip", [
    (1, 4, 0, False), (1, 13, 0, True), (5, 3, 0, True), (8, 6, 6, True), (16, 0, 0, False)])
def test_windows_equal_per_sample_loop(chunk_length, pad, causal_shift, flip):
    pairs = _pairs()
    s = ChunkedSampler(pairs, chunk_length, pad, batch_size=7, causal_shift=causal_shift,
                       augment_flip=flip, seed=3, **FLIPS)
    seen = 0
    for batch in s:
        rows = list(zip(batch.seq_index.tolist(), batch.start.tolist(), batch.flip.tolist()))
        ref = reference_batch(pairs, rows, chunk_length, pad, causal_shift, **FLIPS)
        _assert_batches_equal(batch, ref)
        assert batch.kpts_2d.shape[1:] == (chunk_length + 2 * pad, 17, 2)
        assert batch.pose_3d.shape[1:] == (chunk_length, 17, 3)
        assert batch.kpts_2d.dtype == np.float32 and batch.intrinsics.shape == (len(batch), 9)
        seen += len(batch)
    assert seen == s.num_chunks == sum(-(-n // chunk_length) for n in (7, 30, 1, 64, 13)) * (2 if flip else 1)


def test_chunks_cover_every_frame_once_centred():
    seq, start, flip = chunk_table([10, 3], 4, augment_flip=False)
    # 10 frames in 3 chunks of 4 → 12 slots, one spare frame each side: starts −1, 3, 7.
    assert start[seq == 0].tolist() == [-1, 3, 7] and start[seq == 1].tolist() == [0]
    assert not flip.any()
    s = ChunkedSampler(_pairs((10,)), 1, 0, batch_size=100, shuffle=False)
    (batch,) = list(s)
    np.testing.assert_array_equal(batch.pose_3d[:, 0], s._pose[:10])


def test_edge_padding_repeats_first_and_last_frames():
    pairs = _pairs((6,))
    s = ChunkedSampler(pairs, 1, 3, batch_size=6, shuffle=False)
    (batch,) = list(s)
    k = pairs[0].kpts_norm
    np.testing.assert_array_equal(batch.kpts_2d[0], k[[0, 0, 0, 0, 1, 2, 3]])
    np.testing.assert_array_equal(batch.kpts_2d[5], k[[2, 3, 4, 5, 5, 5, 5]])


def test_causal_shift_takes_only_past_frames():
    pairs = _pairs((20,))
    s = ChunkedSampler(pairs, 1, 4, batch_size=20, causal_shift=4, shuffle=False)
    (batch,) = list(s)
    k = pairs[0].kpts_norm
    # target frame 10: inputs are frames 2..10 (the target is the window's last frame)
    np.testing.assert_array_equal(batch.kpts_2d[10], k[2:11])
    np.testing.assert_array_equal(batch.pose_3d[10, 0], pairs[0].pose_cam_m[10])


def test_flip_negates_x_swaps_sides_and_intrinsics():
    pairs = _pairs((5,))
    s = ChunkedSampler(pairs, 1, 0, batch_size=100, shuffle=False, augment_flip=True, **FLIPS)
    (batch,) = list(s)
    assert batch.flip.tolist() == [False] * 5 + [True] * 5
    plain, flipped = batch.kpts_2d[:5, 0], batch.kpts_2d[5:, 0]
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    np.testing.assert_array_equal(flipped[:, lw, 0], -plain[:, rw, 0])
    np.testing.assert_array_equal(flipped[:, lw, 1], plain[:, rw, 1])
    nose = COCO17.index("nose")
    np.testing.assert_array_equal(flipped[:, nose], plain[:, nose] * [-1, 1])
    lk, rk = H36M17.index("left_knee"), H36M17.index("right_knee")
    np.testing.assert_array_equal(batch.pose_3d[5:, 0, lk], batch.pose_3d[:5, 0, rk] * [-1, 1, 1])
    np.testing.assert_array_equal(batch.traj_3d[5:], batch.traj_3d[:5] * [-1, 1, 1])
    sign = np.array([1, 1, -1, 1, 1, 1, 1, 1, -1], np.float32)
    np.testing.assert_array_equal(batch.intrinsics[5:], batch.intrinsics[:5] * sign)
    # flipping twice is the identity
    perm = COCO17.flip_permutation()
    np.testing.assert_array_equal(flipped[:, perm] * [-1, 1], plain)


def test_deterministic_and_seeded():
    pairs = _pairs()
    a = list(ChunkedSampler(pairs, 2, 3, batch_size=5, seed=11, augment_flip=True, **FLIPS))
    b = list(ChunkedSampler(pairs, 2, 3, batch_size=5, seed=11, augment_flip=True, **FLIPS))
    c = list(ChunkedSampler(pairs, 2, 3, batch_size=5, seed=12, augment_flip=True, **FLIPS))
    for x, y in zip(a, b):
        _assert_batches_equal(x, y)
    assert any(not np.array_equal(x.start, y.start) or not np.array_equal(x.seq_index, y.seq_index)
               for x, y in zip(a, c))
    # epochs differ from each other but cover the same chunks
    s = ChunkedSampler(pairs, 2, 3, batch_size=5, seed=11)
    e0 = np.concatenate([np.stack([b.seq_index, b.start], 1) for b in s])
    e1 = np.concatenate([np.stack([b.seq_index, b.start], 1) for b in s])
    assert s.epoch == 2 and not np.array_equal(e0, e1)
    assert sorted(map(tuple, e0)) == sorted(map(tuple, e1))


def test_resume_mid_epoch_gives_the_same_next_batches():
    pairs = _pairs()
    ref = ChunkedSampler(pairs, 1, 2, batch_size=8, seed=5, augment_flip=True, endless=True, **FLIPS)
    it = iter(ref)
    for _ in range(13):  # into the second epoch
        next(it)
    state = ref.state_dict()
    expected = [next(it) for _ in range(20)]
    resumed = ChunkedSampler(pairs, 1, 2, batch_size=8, seed=0, augment_flip=True, endless=True, **FLIPS)
    resumed.load_state_dict(state)
    got = [b for _, b in zip(range(20), resumed)]
    for x, y in zip(expected, got):
        _assert_batches_equal(x, y)
    other = ChunkedSampler(pairs[:2], 1, 2, batch_size=8)
    with pytest.raises(ValueError, match="dataset or sampler settings changed"):
        other.load_state_dict(state)


def test_one_epoch_per_iteration_unless_endless():
    s = ChunkedSampler(_pairs(), 4, 0, batch_size=3)
    assert len(list(s)) == s.num_batches == len(s)
    assert len(list(s)) == s.num_batches  # the next epoch
    endless = ChunkedSampler(_pairs(), 4, 0, batch_size=3, endless=True)
    got = [b for _, b in zip(range(3 * endless.num_batches), endless)]
    assert len(got) == 3 * endless.num_batches and endless.epoch >= 2


def test_bad_arguments():
    with pytest.raises(ValueError):
        ChunkedSampler([], 1, 0, batch_size=1)
    with pytest.raises(ValueError):
        ChunkedSampler(_pairs(), 0, 0, batch_size=1)
    with pytest.raises(ValueError, match="differ in length"):
        ChunkedSampler(_pairs(), 1, 0, batch_size=1, augment_flip=True, kps_left=[1, 2], kps_right=[3])
