"""Describing a built-in checkpoint: writes ``pose3d_cli/zoo/weights/BUILTIN.json`` (the main
built-in model) or ``<name>.json`` (a further one, e.g. the causal model); the registry reads
every ``*.json`` there.

The training code ships a small lifter in ``pose3d_cli/zoo/weights/`` and calls
:func:`write_builtin_description` next to it, so that the registry's built-in entry states the
real file name, size, sha256, architecture, layouts, training data and measured error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.zoo.cache import sha256_file

BUILTIN_FILE = "BUILTIN.json"


def write_builtin_description(weights: str | Path, *, name: str = "pose3d-27f.mocap-coco",
                              trained_on: str, measured_error: list[dict[str, Any]] | None = None,
                              description: str | None = None, licence: str = "MIT",
                              input_source: str = "mocap-noisy",
                              input_description: str | None = None,
                              description_file: str = BUILTIN_FILE) -> Path:
    """Write ``BUILTIN.json`` (or ``description_file``, e.g. ``<name>.json`` for a further
    built-in model) beside ``weights`` (a pose3d or VideoPose3D checkpoint file).

    The architecture and layouts are read from the file itself (through the safe loader);
    size and sha256 are computed. ``measured_error`` is a list of
    ``{"benchmark", "mpjpe_mm", "p_mpjpe_mm", "note"}`` dicts (millimetres).

    Returns the path of the description written.
    """
    from pose3d_cli.lifting.checkpoint import load_checkpoint

    weights = Path(weights)
    if "/" in description_file or not description_file.endswith(".json"):
        raise InputError(f"built-in description file name {description_file!r} must be a plain "
                         f"*.json file name (BUILTIN.json or <name>.json)")
    if not weights.is_file():
        raise InputError(f"built-in weights {weights} not found; save the checkpoint first")
    ck = load_checkpoint(weights)
    data: dict[str, Any] = {
        "name": name,
        "file_name": weights.name,
        "size": weights.stat().st_size,
        "sha256": sha256_file(weights),
        "arch": {"filter_widths": [int(w) for w in ck.arch.filter_widths],
                 "channels": int(ck.arch.channels), "causal": bool(ck.arch.causal)},
        "layout_in": ck.layout_in,
        "layout_out": ck.layout_out,
        "trained_on": trained_on,
        "measured_error": list(measured_error or []),
        "licence": licence,
        "input_source": input_source,
    }
    if description is not None:
        data["description"] = description
    if input_description is not None:
        data["input_description"] = input_description
    out = weights.parent / description_file
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out
