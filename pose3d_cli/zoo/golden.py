"""Golden outputs: a checkpoint's prediction on a fixed input, recorded beside a shipped model
(``golden_output`` in its weights description) so a test can tell the file still computes what
it computed when it was shipped, whatever else changed around it."""

from __future__ import annotations

import numpy as np

#: Frames of the fixed input; the output is recorded at frames 0, the middle and the last.
GOLDEN_FRAMES = 40
GOLDEN_DECIMALS = 5


def golden_input(joints_in: int, frames: int = GOLDEN_FRAMES, seed: int = 0) -> np.ndarray:
    """A fixed ``(frames, joints_in, 2)`` float32 input in normalised screen coordinates: a
    smooth random walk of every joint around a spread of positions (deterministic)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.4, 0.4, size=(1, joints_in, 2))
    steps = rng.normal(scale=0.01, size=(frames, joints_in, 2)).cumsum(axis=0)
    return (base + steps).astype(np.float32)


def golden_output(ck) -> list:
    """``ck``'s prediction (flip augmentation on, float32 on the CPU) on :func:`golden_input`
    at frames 0, middle and last, rounded to :data:`GOLDEN_DECIMALS` metres: nested lists."""
    from pose3d_cli.lifting.predict import predict

    x = golden_input(ck.arch.joints_in)
    out = predict(ck.model_pos, x, layout_in=ck.layout_in, layout_out=ck.layout_out, flip=True, device="cpu")
    picks = out[[0, len(x) // 2, len(x) - 1]]
    return np.round(picks.astype(np.float64), GOLDEN_DECIMALS).tolist()
