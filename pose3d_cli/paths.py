"""Where pose3d keeps files between runs (a leaf: imports nothing of pose3d).

The cache folder is ``$POSE3D_HOME``, else ``$XDG_CACHE_HOME/pose3d``, else
``~/.cache/pose3d``. Inside it: ``checkpoints/`` (lifters, see :mod:`pose3d_cli.zoo.cache`)
and ``detectors/`` (detector weights fetched by a backend).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder; not created here."""
    home = os.environ.get("POSE3D_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "pose3d"
    return Path.home() / ".cache" / "pose3d"


def checkpoints_dir() -> Path:
    """``<cache>/checkpoints``: downloaded lifter checkpoints."""
    return cache_dir() / "checkpoints"


def trust_file() -> Path:
    """``<cache>/checksums.json``: sha256 recorded at the first verified download."""
    return cache_dir() / "checksums.json"


def user_models_file() -> Path:
    """``<cache>/models.json``: entries added with ``pose3d models add``."""
    return cache_dir() / "models.json"


def detector_cache_dir() -> Path:
    """``<cache>/detectors``: weights a detector backend downloads (not created here)."""
    return cache_dir() / "detectors"
