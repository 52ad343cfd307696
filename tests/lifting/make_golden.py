"""Regenerate the pinned golden outputs (run only when the model's numerics change on purpose):

    python tests/lifting/make_golden.py
"""

from pathlib import Path

import numpy as np
import torch
from _reference import seeded_state_dict

from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.lifting.predict import predict

HERE = Path(__file__).parent


def golden_case():
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=64, joints_in=17, joints_out=17)
    model = TemporalModel(arch)
    sd = seeded_state_dict(model, seed=2019)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in sd.items()})
    rng = np.random.RandomState(7)
    t = np.linspace(0, 2 * np.pi, 50)[:, None, None]
    kpts_norm = (0.3 * np.sin(t + rng.uniform(0, 6, (1, 17, 2))) + rng.normal(0, 0.02, (50, 17, 2))).astype(np.float32)
    return model.eval(), kpts_norm


if __name__ == "__main__":
    model, kpts = golden_case()
    outs = {f"flip{int(f)}": predict(model, kpts, layout_in="coco17", layout_out="h36m17", flip=f, fuse=False)
            for f in (False, True)}
    np.savez(HERE / "data" / "golden_27f.npz", kpts_norm=kpts, **outs)
    print({k: v.shape for k, v in outs.items()})
