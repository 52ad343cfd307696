"""The chunked training sampler: windows of 2D input and 3D target from many sequences.

Every sequence of ``n`` frames is cut into ``ceil(n / L)`` chunks of ``L = chunk_length`` target
frames, centred on the sequence (as the paper's code does); with flip augmentation each chunk
appears a second time mirrored. A chunk's 2D window spans ``L + 2·pad`` frames, shifted back by
``causal_shift`` for causal models; frames outside a sequence repeat its first/last frame (edge
padding).

All sequences are concatenated once into flat buffers and each batch is one fancy-indexing
gather over a precomputed ``(sequence, start, flip)`` table: no Python loop per sample. Epoch
order comes from ``numpy.random.default_rng([seed, epoch])``, so a sampler restored with
:meth:`ChunkedSampler.load_state_dict` yields exactly the batches the saved one would have.

Convention:
    flipping negates x of 2D keypoints (normalised screen coordinates) and of 3D camera-frame
    points, swaps the left/right keypoints and joints, and negates the intrinsics' c_x and p_2
    (indices 2 and 8 of the 9-vector f, c, k, p), as the paper's code does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from pose3d_cli.training.data import SequencePair


@dataclass(frozen=True)
class Batch:
    """One training batch (numpy float32; the trainer moves it to torch).

    Attributes:
        intrinsics: ``(B, 9)`` normalised f, c, k, p (flipped where the sample is).
        pose_3d: ``(B, L, J_out, 3)`` camera-frame metres, root-relative.
        traj_3d: ``(B, L, 1, 3)`` root position in the camera frame, metres.
        kpts_2d: ``(B, L + 2·pad, J_in, 2)`` normalised screen coordinates.
        seq_index: ``(B,)`` index into the sampler's pairs; start: ``(B,)`` first target frame
            (may be negative for edge chunks); flip: ``(B,)`` bool.
    """

    intrinsics: np.ndarray
    pose_3d: np.ndarray
    traj_3d: np.ndarray
    kpts_2d: np.ndarray
    seq_index: np.ndarray
    start: np.ndarray
    flip: np.ndarray

    def __len__(self) -> int:
        return int(self.kpts_2d.shape[0])


def _swap_permutation(n: int, left: Sequence[int], right: Sequence[int]) -> np.ndarray:
    if len(left) != len(right):
        raise ValueError(f"left and right index lists differ in length: {list(left)} vs {list(right)}")
    perm = np.arange(n)
    perm[list(left)] = list(right)
    perm[list(right)] = list(left)
    return perm


def _mirror(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[..., 0] *= -1
    return out


def chunk_table(lengths: Sequence[int], chunk_length: int,
                augment_flip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``(seq, start, flip)`` table of all chunks, in the paper's order: per sequence its
    chunks, then (with ``augment_flip``) the same chunks flipped.

    Returns:
        ``seq (N,) int64``, ``start (N,) int64``, ``flip (N,) bool``.
    """
    seqs, starts, flips = [], [], []
    for i, n in enumerate(lengths):
        n_chunks = (int(n) + chunk_length - 1) // chunk_length
        offset = (n_chunks * chunk_length - int(n)) // 2
        s = np.arange(n_chunks, dtype=np.int64) * chunk_length - offset
        for f in ([False, True] if augment_flip else [False]):
            seqs.append(np.full(n_chunks, i, np.int64))
            starts.append(s)
            flips.append(np.full(n_chunks, f))
    if not seqs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate(seqs), np.concatenate(starts), np.concatenate(flips)


class ChunkedSampler:
    """Batches of windows over :class:`SequencePair` sequences, vectorised and resumable.

    Args:
        pairs: the sequences (all with the same ``J_in`` and ``J_out``).
        chunk_length: target frames per sample ``L`` (1 for the paper's strided training).
        pad: context frames each side of the target, ``(receptive_field − 1) / 2``.
        batch_size: samples per batch (the last batch of an epoch may be smaller).
        causal_shift: frames the 2D window is shifted back (``pad`` for a causal model).
        augment_flip: add a mirrored copy of every chunk.
        kps_left, kps_right: 2D keypoint indices swapped by the flip.
        joints_left, joints_right: 3D joint indices swapped by the flip.
        seed: seeds the per-epoch shuffles.
        shuffle: shuffle the chunks each epoch.
        endless: iterate over epochs forever (for the unlabelled half of semi-supervised
            training); otherwise one iteration is the rest of the current epoch.
    """

    def __init__(self, pairs: Sequence[SequencePair], chunk_length: int, pad: int, *,
                 batch_size: int, causal_shift: int = 0, augment_flip: bool = False,
                 kps_left: Sequence[int] = (), kps_right: Sequence[int] = (),
                 joints_left: Sequence[int] = (), joints_right: Sequence[int] = (),
                 seed: int = 0, shuffle: bool = True, endless: bool = False) -> None:
        if not pairs:
            raise ValueError("ChunkedSampler needs at least one sequence")
        if chunk_length < 1 or pad < 0 or batch_size < 1:
            raise ValueError(f"need chunk_length >= 1, pad >= 0, batch_size >= 1; got "
                             f"{chunk_length}, {pad}, {batch_size}")
        j_in = {p.kpts_norm.shape[1] for p in pairs}
        j_out = {p.pose_cam_m.shape[1] for p in pairs}
        if len(j_in) != 1 or len(j_out) != 1:
            raise ValueError(f"sequences disagree on joint counts: 2D {sorted(j_in)}, 3D {sorted(j_out)}")
        for p in pairs:
            if not (p.kpts_norm.shape[0] == p.pose_cam_m.shape[0] == p.traj_cam_m.shape[0]):
                raise ValueError(f"{p.subject}/{p.action}/cam {p.camera}: 2D and 3D lengths differ")
        self.chunk_length = int(chunk_length)
        self.pad = int(pad)
        self.batch_size = int(batch_size)
        self.causal_shift = int(causal_shift)
        self.augment_flip = bool(augment_flip)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.endless = bool(endless)
        self.num_sequences = len(pairs)
        self.lengths = np.array([p.num_frames for p in pairs], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        kpts = np.concatenate([p.kpts_norm for p in pairs]).astype(np.float32)
        pose = np.concatenate([p.pose_cam_m for p in pairs]).astype(np.float32)
        traj = np.concatenate([p.traj_cam_m for p in pairs]).astype(np.float32)
        intr = np.stack([np.asarray(p.intrinsics, np.float32) for p in pairs])
        self._total = int(kpts.shape[0])
        self._kps_perm = _swap_permutation(kpts.shape[1], kps_left, kps_right)
        self._joints_perm = _swap_permutation(pose.shape[1], joints_left, joints_right)
        if augment_flip:
            # A mirrored copy of every buffer (x negated, left/right swapped; c_x and p_2
            # negated) so a flipped window is a plain gather: memory for speed.
            kpts = np.concatenate([kpts, _mirror(kpts[:, self._kps_perm])])
            pose = np.concatenate([pose, _mirror(pose[:, self._joints_perm])])
            traj = np.concatenate([traj, _mirror(traj)])
            intr_f = intr.copy()
            intr_f[:, 2] *= -1
            intr_f[:, 8] *= -1
            intr = np.concatenate([intr, intr_f])
        self._kpts = np.ascontiguousarray(kpts)
        self._pose = np.ascontiguousarray(pose)
        self._traj = np.ascontiguousarray(traj)
        self._intr = np.ascontiguousarray(intr)
        self._seq, self._start, self._flip = chunk_table(self.lengths, self.chunk_length,
                                                         self.augment_flip)
        self._win_2d = np.arange(self.chunk_length + 2 * self.pad, dtype=np.int64) \
            - self.pad - self.causal_shift
        self._win_3d = np.arange(self.chunk_length, dtype=np.int64)
        self.epoch = 0
        self.batch_in_epoch = 0

    # ------------------------------------------------------------------ sizes
    @property
    def num_chunks(self) -> int:
        """Samples per epoch (flipped copies included)."""
        return int(self._seq.shape[0])

    @property
    def chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The chunk table ``(seq (N,), start (N,), flip (N,))`` in unshuffled order; row ``i``
        of epoch ``e`` is ``epoch_order(e)[i]``."""
        return self._seq, self._start, self._flip

    @property
    def num_batches(self) -> int:
        """Batches per epoch."""
        return (self.num_chunks + self.batch_size - 1) // self.batch_size

    @property
    def num_frames(self) -> int:
        """Target frames of all sequences (without flipped copies)."""
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return self.num_batches

    # ------------------------------------------------------------------ order and state
    def epoch_order(self, epoch: int) -> np.ndarray:
        """Permutation of the chunk table used in ``epoch`` (identity without shuffle)."""
        if not self.shuffle:
            return np.arange(self.num_chunks)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.num_chunks)

    def state_dict(self) -> dict:
        """Position in the stream: ``{"seed", "epoch", "batch_in_epoch", "num_chunks"}`` (ints)."""
        return {"seed": self.seed, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "num_chunks": self.num_chunks}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict` taken on a sampler over the same sequences."""
        if int(state.get("num_chunks", self.num_chunks)) != self.num_chunks:
            raise ValueError(f"sampler state is for {state['num_chunks']} chunks, this sampler has "
                             f"{self.num_chunks}: the dataset or sampler settings changed")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])

    # ------------------------------------------------------------------ batches
    def gather(self, seq: np.ndarray, start: np.ndarray, flip: np.ndarray) -> Batch:
        """Build a batch for explicit chunk rows (vectorised gather + flip)."""
        seq = np.asarray(seq, np.int64)
        start = np.asarray(start, np.int64)
        flip = np.asarray(flip, bool)
        last = (self.lengths[seq] - 1)[:, None]
        # Flipped rows read from the mirrored half of the buffers (second copy).
        base = (self.offsets[seq] + flip * self._total)[:, None]
        idx_2d = base + np.clip(start[:, None] + self._win_2d[None], 0, last)  # (B, W)
        idx_3d = base + np.clip(start[:, None] + self._win_3d[None], 0, last)  # (B, L)
        kpts = np.take(self._kpts, idx_2d, axis=0)  # (B, W, J_in, 2)
        pose = np.take(self._pose, idx_3d, axis=0)  # (B, L, J_out, 3)
        traj = np.take(self._traj, idx_3d, axis=0)  # (B, L, 1, 3)
        intr = np.take(self._intr, seq + flip * self.num_sequences, axis=0)  # (B, 9)
        return Batch(intrinsics=intr, pose_3d=pose, traj_3d=traj, kpts_2d=kpts,
                     seq_index=seq, start=start, flip=flip)

    def next_epoch(self) -> Iterator[Batch]:
        """Yield the remaining batches of the current epoch, then advance to the next epoch."""
        order = self.epoch_order(self.epoch)
        while self.batch_in_epoch < self.num_batches:
            rows = order[self.batch_in_epoch * self.batch_size:
                         (self.batch_in_epoch + 1) * self.batch_size]
            self.batch_in_epoch += 1
            yield self.gather(self._seq[rows], self._start[rows], self._flip[rows])
        self.epoch += 1
        self.batch_in_epoch = 0

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield from self.next_epoch()
            if not self.endless:
                return


def reference_batch(pairs: Sequence[SequencePair], rows: Sequence[tuple[int, int, bool]],
                    chunk_length: int, pad: int, causal_shift: int,
                    kps_left: Sequence[int], kps_right: Sequence[int],
                    joints_left: Sequence[int], joints_right: Sequence[int]) -> Batch:
    """The same windows as :meth:`ChunkedSampler.gather`, built one sample at a time with
    ``np.pad``: the slow reference the tests and ``benchmarks/sampler.py`` compare against."""
    ks, ps, ts, cs = [], [], [], []
    for s, start, flip in rows:
        p = pairs[s]
        n = p.num_frames
        lo2, hi2 = start - pad - causal_shift, start + chunk_length + pad - causal_shift
        a, b = max(lo2, 0), min(hi2, n)
        k = np.pad(p.kpts_norm[a:b], ((a - lo2, hi2 - b), (0, 0), (0, 0)), mode="edge")
        lo3, hi3 = start, start + chunk_length
        a, b = max(lo3, 0), min(hi3, n)
        pose = np.pad(p.pose_cam_m[a:b], ((a - lo3, hi3 - b), (0, 0), (0, 0)), mode="edge")
        traj = np.pad(p.traj_cam_m[a:b], ((a - lo3, hi3 - b), (0, 0), (0, 0)), mode="edge")
        cam = np.array(p.intrinsics, np.float32)
        if flip:
            k = k.copy()
            k[:, :, 0] *= -1
            k[:, list(kps_left) + list(kps_right)] = k[:, list(kps_right) + list(kps_left)]
            pose = pose.copy()
            pose[:, :, 0] *= -1
            pose[:, list(joints_left) + list(joints_right)] = pose[:, list(joints_right) + list(joints_left)]
            traj = traj.copy()
            traj[:, :, 0] *= -1
            cam[2] *= -1
            cam[8] *= -1
        ks.append(k)
        ps.append(pose)
        ts.append(traj)
        cs.append(cam)
    rows_a = np.array(rows, dtype=object).reshape(-1, 3)
    return Batch(intrinsics=np.stack(cs), pose_3d=np.stack(ps).astype(np.float32),
                 traj_3d=np.stack(ts).astype(np.float32), kpts_2d=np.stack(ks).astype(np.float32),
                 seq_index=rows_a[:, 0].astype(np.int64), start=rows_a[:, 1].astype(np.int64),
                 flip=rows_a[:, 2].astype(bool))
