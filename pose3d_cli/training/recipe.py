"""From dataset files and subject splits to the samplers and clips a training run reads.

The paper's splits: Human3.6M trains on S1, S5, S6, S7, S8 and tests on S9, S11; its
semi-supervised experiments label S1 (optionally only a ``subset`` fraction of it) or S1+S5
and use the remaining training subjects' 2D without labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pose3d_cli.errors import InputError
from pose3d_cli.lifting.model import ArchSpec
from pose3d_cli.skeleton import get_layout
from pose3d_cli.training.data import (
    SequencePair,
    load_dataset_3d,
    load_detections_2d,
    prepare_sequences,
)
from pose3d_cli.training.sampler import ChunkedSampler
from pose3d_cli.training.trainer import TrainingData

#: The paper's Human3.6M training and test subjects.
PAPER_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
PAPER_TEST_SUBJECTS = ("S9", "S11")


def parse_subjects(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"S1,S5"`` → ``("S1", "S5")``; empty or ``None`` → ``()``."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(s.strip() for s in items if s.strip())


@dataclass(frozen=True)
class DatasetInfo:
    """What the two files hold: subjects and layouts (read once from the files)."""

    subjects: tuple[str, ...]
    layout_in: str
    layout_out: str
    kps_left: tuple[int, ...]
    kps_right: tuple[int, ...]
    fps: float | None


def inspect_dataset(path_3d: str | Path, path_2d: str | Path) -> DatasetInfo:
    """Subjects present in both files, and the 2D/3D joint layouts."""
    poses = load_dataset_3d(path_3d)
    det = load_detections_2d(path_2d)
    subjects = tuple(s for s in poses if s in det.positions_2d)
    if not subjects:
        raise InputError(f"{path_3d} and {path_2d} share no subject; generate them together "
                         "(`pose3d dataset`)")
    layout_in = get_layout(det.layout_name or {17: "coco17", 15: "humaneva15"}.get(det.num_joints, "?")).name
    sample = next(iter(next(iter(poses.values())).values()))
    joints_3d = sample.shape[1]
    layout_out = {32: "h36m17", 17: "h36m17", 15: "humaneva15"}.get(joints_3d)
    if layout_out is None:
        raise InputError(f"{path_3d}: 3D poses have {joints_3d} joints; expected 32 or 17 (Human3.6M) "
                         "or 15 (HumanEva)")
    lay = get_layout(layout_in)
    left = det.keypoints_left or lay.left
    right = det.keypoints_right or lay.right
    return DatasetInfo(subjects=subjects, layout_in=layout_in, layout_out=layout_out,
                       kps_left=tuple(left), kps_right=tuple(right), fps=det.fps)


@dataclass(frozen=True)
class Split:
    """Which subjects play which part."""

    train: tuple[str, ...]
    unlabelled: tuple[str, ...]
    test: tuple[str, ...]


def resolve_split(info: DatasetInfo, train: Sequence[str], unlabelled: Sequence[str],
                  test: Sequence[str], semi_supervised: bool, source: str) -> Split:
    """Fill in the paper's defaults and check every subject exists.

    Defaults: train = the paper's training subjects present in the files (else all but the test
    ones); test = S9, S11 when present; unlabelled (semi-supervised only) = the paper's training
    subjects not labelled."""
    have = set(info.subjects)
    test = tuple(test) or tuple(s for s in PAPER_TEST_SUBJECTS if s in have)
    if not train:
        train = tuple(s for s in PAPER_TRAIN_SUBJECTS if s in have) or \
            tuple(s for s in info.subjects if s not in test)
    if semi_supervised and not unlabelled:
        unlabelled = tuple(s for s in PAPER_TRAIN_SUBJECTS if s in have and s not in train)
    for flag, subjects in (("--subjects-train", train), ("--subjects-unlabeled", unlabelled),
                           ("--subjects-test", test)):
        missing = [s for s in subjects if s not in have]
        if missing:
            raise InputError(f"{source}: {flag} names {', '.join(missing)}, not in the dataset; "
                             f"it has {', '.join(info.subjects)}")
    if not train:
        raise InputError(f"{source}: no training subjects; give --subjects-train")
    if not test:
        raise InputError(f"{source}: no test subjects (S9/S11 absent); give --subjects-test")
    overlap = set(train) & set(test)
    if overlap:
        raise InputError(f"{source}: {', '.join(sorted(overlap))} is both a training and a test subject; "
                         "choose disjoint --subjects-train and --subjects-test")
    if semi_supervised and not unlabelled:
        raise InputError(f"{source}: --semi-supervised but no unlabelled subjects left; give "
                         "--subjects-unlabeled")
    return Split(train=tuple(train), unlabelled=tuple(unlabelled), test=tuple(test))


def build_training_data(path_3d: str | Path, path_2d: str | Path, arch: ArchSpec, *,
                        batch_size: int, split: Split, semi_supervised: bool = False,
                        subset: float = 1.0, downsample: int = 1, actions: Sequence[str] | None = None,
                        augment_flip: bool = True, seed: int = 0,
                        info: DatasetInfo | None = None) -> TrainingData:
    """Samplers over the training (and unlabelled) subjects and whole test clips for validation.

    The labelled sampler yields single-frame windows (``L = 1``) for the strided model; its
    ``subset`` fraction of each action is one contiguous chunk (the paper's ``--subset``). The
    unlabelled one uses every frame of the unlabelled subjects. Both flip-augment.
    """
    info = info or inspect_dataset(path_3d, path_2d)
    lay_out = get_layout(info.layout_out)
    pad = (arch.receptive_field - 1) // 2
    causal_shift = pad if arch.causal else 0
    common = dict(actions=actions, downsample=downsample)
    labelled = prepare_sequences(path_3d, path_2d, split.train, subset=subset, seed=seed, **common)
    valid = prepare_sequences(path_3d, path_2d, split.test, **common)
    kw = dict(pad=pad, causal_shift=causal_shift, augment_flip=augment_flip, kps_left=info.kps_left,
              kps_right=info.kps_right, joints_left=lay_out.left, joints_right=lay_out.right)
    sampler = ChunkedSampler(labelled, 1, batch_size=batch_size, seed=seed, **kw)
    unl_sampler = None
    unl_frames = 0
    if semi_supervised:
        unl = prepare_sequences(path_3d, path_2d, split.unlabelled, **common)
        unl_sampler = ChunkedSampler(unl, 1, batch_size=batch_size, seed=seed + 1, **kw)
        unl_frames = sum(p.num_frames for p in unl)
    description = {
        "data_3d": str(path_3d), "data_2d": str(path_2d),
        "subjects_train": list(split.train), "subjects_unlabeled": list(split.unlabelled),
        "subjects_test": list(split.test), "subset": subset, "downsample": downsample,
        "actions": list(actions) if actions else None, "augment_flip": augment_flip,
        "labelled_frames": int(sum(p.num_frames for p in labelled)),
        "unlabelled_frames": int(unl_frames),
        "test_frames": int(sum(p.num_frames for p in valid)),
        "fps": info.fps,
    }
    return TrainingData(labelled=sampler, validation=valid, layout_in=info.layout_in,
                        layout_out=info.layout_out, unlabelled=unl_sampler,
                        num_labelled_windows=sampler.num_chunks,
                        num_unlabelled_windows=unl_sampler.num_chunks if unl_sampler else 0,
                        description=description)


def load_test_sequences(path_3d: str | Path, path_2d: str | Path, subjects: Sequence[str],
                   actions: Sequence[str] | None = None, downsample: int = 1) -> list[SequencePair]:
    """Whole test sequences for :mod:`pose3d_cli.training.evaluate`."""
    return prepare_sequences(path_3d, path_2d, subjects, actions=actions, downsample=downsample)


def describe_split(data: TrainingData) -> str:
    """One line for the CLI: frames per part."""
    d = data.description
    return (f"train {','.join(d['subjects_train'])} ({d['labelled_frames']} frames, subset {d['subset']:g})"
            + (f", unlabelled {','.join(d['subjects_unlabeled'])} ({d['unlabelled_frames']} frames)"
               if d["unlabelled_frames"] else "")
            + f", test {','.join(d['subjects_test'])} ({d['test_frames']} frames)")


__all__ = ["PAPER_TRAIN_SUBJECTS", "PAPER_TEST_SUBJECTS", "DatasetInfo", "Split", "parse_subjects",
           "inspect_dataset", "resolve_split", "build_training_data", "load_test_sequences", "describe_split"]
