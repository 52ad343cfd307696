"""The Human3.6M cameras as named data: intrinsics of its four cameras and the extrinsics of
each subject's recordings (from ``pose3d_cli/data/h36m_cameras.json``)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from pose3d_cli.errors import InputError
from pose3d_cli.geometry.camera import Camera, CameraIntrinsics

H36M_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S11")


@lru_cache(maxsize=1)
def _raw() -> dict:
    with resources.files("pose3d_cli").joinpath("data/h36m_cameras.json").open() as f:
        return json.load(f)


def h36m_intrinsics() -> tuple[CameraIntrinsics, ...]:
    """The four Human3.6M cameras' intrinsics, in the dataset's camera order."""
    out = []
    for c in _raw()["intrinsics"]:
        out.append(CameraIntrinsics(center_px=tuple(c["center"]), focal_px=tuple(c["focal_length"]),
                                    radial=tuple(c["radial_distortion"]),
                                    tangential=tuple(c["tangential_distortion"]),
                                    width=int(c["res_w"]), height=int(c["res_h"]), id=str(c["id"]),
                                    azimuth=float(c["azimuth"])))
    return tuple(out)


def h36m_cameras(subject: str) -> tuple[Camera, ...]:
    """The four calibrated cameras of one subject's recordings (translation in metres)."""
    ext = _raw()["extrinsics"]
    if subject not in ext:
        raise InputError(f"no Human3.6M calibration for subject {subject!r}; known: {', '.join(ext)}")
    return tuple(Camera(intrinsics=intr, orientation=tuple(e["orientation"]),
                        translation_m=tuple(x / 1000.0 for x in e["translation"]))
                 for intr, e in zip(h36m_intrinsics(), ext[subject]))
