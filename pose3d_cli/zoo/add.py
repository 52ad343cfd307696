"""``add_model``: register a checkpoint file the user has (``pose3d models add NAME PATH``).

- NAME of a published model: the file is verified against the registry (size, sha256 when
  published, safe load, architecture) and copied into the cache as that model's file.
- Any other NAME: the file is loaded safely, its architecture read from the weights, and a user
  entry written to ``models.json`` in the cache (the file stays where it is; its sha256 is
  recorded and checked on use).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pose3d_cli.errors import CheckpointError, DownloadError, InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.paths import checkpoints_dir
from pose3d_cli.zoo.cache import (
    cached_path,
    ensure_writable_dir,
    record_trust,
    save_user_entry,
    sha256_file,
)
from pose3d_cli.zoo.registry import NAME_PATTERN, entry_from_dict, load_registry
from pose3d_cli.zoo.verify import check_architecture, expected_for, verify_file


@dataclass(frozen=True)
class AddedModel:
    """What :func:`add_model` did: the entry name, the file now used, its sha256, and a line for the user."""

    name: str
    path: Path
    sha256: str
    message: str


def add_model(name: str, path: str | os.PathLike, *, layout_in: str | None = None, layout_out: str | None = None,
              licence: str = "unknown", description: str | None = None) -> AddedModel:
    """Register ``path`` under ``name`` (see the module docstring).

    Raises:
        InputError: no such file, an invalid or built-in name.
        CheckpointError: not a safe, finite lifter checkpoint, or not the published file named.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"checkpoint file {path} not found; give the path of a file you have")
    registry = load_registry()
    if name in registry:
        entry = registry.get(name)
        if entry.kind == "builtin":
            raise InputError(f"{name} is the built-in model and cannot be replaced; choose another NAME")
        if entry.kind == "published":
            try:
                digest = verify_file(path, entry, expected_for(entry), what="file")
            except DownloadError as exc:
                raise CheckpointError(f"{exc}; it is not the published {entry.file_name}, so it "
                                      f"was not added (use a new NAME to add it as your own)") from None
            dest = ensure_writable_dir(checkpoints_dir()) / entry.file_name
            with atomic_path(dest, overwrite=True) as tmp:
                shutil.copyfile(path, tmp)
            if entry.sha256 is None:
                record_trust(entry, digest, dest.stat().st_size, f"file://{path.resolve()}")
            return AddedModel(name, cached_path(entry), digest,
                              f"{name}: verified {path} (sha256 {digest}) and copied it to {cached_path(entry)}")
    if not NAME_PATTERN.match(name):
        raise InputError(f"model name {name!r} is not valid: use lower-case letters, digits, '-' "
                         f"and '_', with at most one '.' (e.g. my-27f.walking)")
    ck = check_architecture(path, None)
    layout_in = layout_in or getattr(ck, "layout_in", None) or "coco17"
    layout_out = layout_out or getattr(ck, "layout_out", None) or "h36m17"
    if layout_in != getattr(ck, "layout_in", None) or layout_out != getattr(ck, "layout_out", None):
        from pose3d_cli.lifting.checkpoint import load_checkpoint

        ck = load_checkpoint(path, layout_in=layout_in, layout_out=layout_out)  # the loader checks them
    digest = sha256_file(path)
    arch = ck.arch
    data = {
        "kind": "user", "file_name": path.name, "path": str(path.resolve()),
        "size": path.stat().st_size, "sha256": digest, "urls": [],
        "arch": {"filter_widths": [int(w) for w in arch.filter_widths],
                 "channels": int(arch.channels), "causal": bool(arch.causal)},
        "layout_in": layout_in, "layout_out": layout_out, "input_source": "unknown",
        "licence": licence, "origin": f"added by the user from {path.resolve()}",
        "description": description or f"Checkpoint added from {path.name}.",
    }
    entry_from_dict(name, data, str(path))  # validate before saving
    where = save_user_entry(name, data)
    return AddedModel(name, path.resolve(), digest,
                      f"{name}: added {path.resolve()} (receptive field {arch.receptive_field}, "
                      f"{layout_in} -> {layout_out}, sha256 {digest}) to {where}")
