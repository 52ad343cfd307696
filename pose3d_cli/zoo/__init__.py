"""Checkpoints by name: the registry (data), the cache, verified downloads.

>>> from pose3d_cli.zoo import resolve_checkpoint, default_checkpoint_name
>>> path, name = resolve_checkpoint(None, download=False)      # doctest: +SKIP

``resolve_checkpoint`` accepts a registry name (``videopose3d-243f.h36m-detectron-coco``), a
published file name (``pretrained_h36m_cpn.bin``), a file path, or ``None`` for the default: the
published Detectron-COCO model once it is cached, else the built-in checkpoint shipped in
``pose3d_cli/zoo/weights/``; with ``causal=True`` the causal built-in checkpoint (no published
model is causal). Every returned file has passed :func:`verify.verify_file`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pose3d_cli.errors import CheckpointError, DownloadError, InputError
from pose3d_cli.paths import cache_dir
from pose3d_cli.zoo.cache import cached_path, is_cached, record_trust
from pose3d_cli.zoo.registry import ModelEntry, Registry, load_registry

__all__ = [
    "ModelEntry",
    "Registry",
    "cache_dir",
    "default_checkpoint_name",
    "lifter_licence",
    "load_registry",
    "registry_layouts",
    "resolve_checkpoint",
]

log = logging.getLogger(__name__)
_CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".tar")


def default_checkpoint_name(registry: Registry | None = None, causal: bool = False) -> str:
    """The registry default (published Detectron-COCO) if its file is cached, else the built-in.

    With ``causal``: the registry default if it is causal and cached, else the causal built-in
    entry (:class:`CheckpointError` when the registry has none)."""
    registry = registry or load_registry()
    if not causal:
        if is_cached(registry.default):
            return registry.default_name
        return registry.builtin_name
    if registry.default.arch.causal and is_cached(registry.default):
        return registry.default_name
    entry = registry.builtin_for(causal=True)
    if entry is None:
        raise CheckpointError("no causal model is registered (the built-in causal checkpoint is "
                              "missing from pose3d_cli/zoo/weights); pass --checkpoint with a "
                              "causally trained checkpoint")
    return entry.name


def lifter_licence(name: str) -> str:
    """The licence the registry states for a model name ('' for a path or an unknown name)."""
    try:
        entry = load_registry().entries.get(name)
    except InputError:  # an unreadable user registry: the load already reported it
        return ""
    return "" if entry is None or entry.licence == "unknown" else entry.licence


def registry_layouts(name: str) -> tuple[str, str] | None:
    """``(layout_in, layout_out)`` the registry states for a model name, or ``None`` when ``name``
    is not a registry name (e.g. a path). VideoPose3D files do not record their layouts, so
    pass these to ``load_checkpoint(path, layout_in=..., layout_out=...)``."""
    registry = load_registry()
    try:
        entry = registry.get(name)
    except InputError:
        return None
    return entry.layout_in, entry.layout_out


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith("~") or text.endswith(_CHECKPOINT_SUFFIXES)


def resolve_checkpoint(name_or_path: str | os.PathLike | None = None, download: bool = True,
                       quiet: bool = False, causal: bool = False) -> tuple[Path, str]:
    """Turn a model name, a file path or ``None`` into a verified checkpoint file.

    Args:
        name_or_path: registry name, published file name, checkpoint path, or ``None`` (default).
        download: fetch a published model that is not cached yet (else raise).
        quiet: no progress bar or notes.
        causal: with ``name_or_path`` None, the default causal model (see
            :func:`default_checkpoint_name`); ignored for a name or a path.

    Returns:
        ``(path, name)``: the file on disk and the registry name (for a path: the path as given).

    Raises:
        InputError: unknown name or missing file. DownloadError: not cached and ``download`` is
        false, or the download failed. CheckpointError: the file is unsafe, broken or of the
        wrong architecture.
    """
    registry = load_registry()
    if name_or_path is None:
        return _resolve_entry(registry.get(default_checkpoint_name(registry, causal=causal)),
                              download, quiet)
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return _resolve_path(path), text
    if not isinstance(name_or_path, os.PathLike):
        try:
            entry = registry.get(text)
        except InputError:
            if not _looks_like_path(text):
                raise
        else:
            return _resolve_entry(entry, download, quiet)
    if path.exists():
        raise InputError(f"checkpoint {path} is not a file; pass a checkpoint file to --checkpoint")
    raise InputError(f"checkpoint file {path} not found; pass an existing file to --checkpoint "
                     f"or a model name from `pose3d models`")


def _resolve_path(path: Path) -> Path:
    """A file the user names is taken as is: ``load_checkpoint`` (which callers run next, with
    the layouts they know) does the safe load and the architecture checks."""
    return path.resolve()


def _resolve_entry(entry: ModelEntry, download: bool, quiet: bool) -> tuple[Path, str]:
    from pose3d_cli.zoo.verify import verify_file

    path = cached_path(entry)
    if entry.kind == "builtin":
        if entry.status != "available" or not path.is_file():
            raise CheckpointError(
                f"the built-in model {entry.name} is not in this installation ({path} is missing: "
                f"{entry.status}); run `pose3d download videopose3d-243f.h36m-detectron-coco` "
                f"or pass --checkpoint PATH")
        try:
            verify_file(path, entry, what="built-in checkpoint")
        except DownloadError as exc:
            raise CheckpointError(f"{exc}; the installation is damaged (or "
                                  f"pose3d_cli/zoo/weights/BUILTIN.json is out of date): reinstall "
                                  f"pose3d, or pass --checkpoint PATH") from None
        return path, entry.name
    if entry.kind == "user":
        if not path.is_file():
            raise InputError(f"model {entry.name} was added from {path}, which no longer exists; "
                             f"add it again with `pose3d models add {entry.name} PATH`")
        try:
            verify_file(path, entry, what="checkpoint")
        except DownloadError as exc:
            raise CheckpointError(f"{exc}: the file changed since `pose3d models add`; add it "
                                  f"again with `pose3d models add {entry.name} PATH`") from None
        return path, entry.name

    if path.is_file():
        try:
            digest = verify_file(path, entry, what="cached file")
        except DownloadError as exc:
            path.unlink(missing_ok=True)
            if not download:
                raise DownloadError(f"{exc}; the file was deleted; run `pose3d download "
                                    f"{entry.name}` to fetch it again") from None
            if not quiet:
                print(f"pose3d: {exc}; the file was deleted and will be downloaded again",
                      file=sys.stderr)
        else:
            if entry.sha256 is None:
                try:
                    record_trust(entry, digest, path.stat().st_size, "")
                except DownloadError as exc:  # a read-only shared cache: check, don't record
                    log.debug("not recording the checksum of %s: %s", path, exc)
            return path, entry.name
    if not download:
        raise DownloadError(f"{entry.name} ({entry.file_name}) is not in the cache {cache_dir()}; "
                            f"run `pose3d download {entry.name}`, or pass --checkpoint PATH")
    from pose3d_cli.zoo.download import download as fetch

    result = fetch(entry, quiet=quiet)
    return result.path, entry.name


def load_lifter(name_or_path: str | os.PathLike | None = None, *, layout_in: str | None = None,
                layout_out: str | None = None, causal: bool | None = None, download: bool = True,
                quiet: bool = False):
    """Resolve a checkpoint (registry name, path or ``None`` for the default) and load it with the
    layouts its registry entry states (VideoPose3D files do not record them); explicit
    ``layout_in``/``layout_out`` win. ``causal=True`` with ``name_or_path`` None picks the
    default causal model. Returns ``(LoadedCheckpoint, name)``."""
    from pose3d_cli.lifting.checkpoint import load_checkpoint

    path, name = resolve_checkpoint(name_or_path, download=download, quiet=quiet,
                                    causal=bool(causal))
    stated = registry_layouts(name)
    if stated is not None:
        layout_in = layout_in or stated[0]
        layout_out = layout_out or stated[1]
    ck = load_checkpoint(path, layout_in=layout_in, layout_out=layout_out, causal=causal)
    return ck, name
