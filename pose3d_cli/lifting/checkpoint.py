"""Loading and saving lifter checkpoints without executing pickled code.

Two formats are read:

- **VideoPose3D** ``.bin`` files as published (a ``torch.save``d dict with ``epoch``, ``lr``,
  ``random_state`` (a numpy ``RandomState`` state tuple), ``optimizer``, ``model_pos``,
  optionally ``model_traj`` and ``random_state_semi``). The architecture is read from the weight
  shapes; the joint layouts are not in the file and default by joint count (17 in → COCO-17,
  the in-the-wild model; 15 → HumanEva-15) unless the caller names them.
- **pose3d** files (``format = "pose3d-checkpoint"``) that describe themselves: architecture,
  layouts, causal flag, training metadata, optionally a training state for resuming.

Every load goes through ``torch.load(weights_only=True)`` with a minimal allow-list: the numpy
globals needed to rebuild the ``random_state`` array. A pickle that names anything else —
for example code to run — is refused before any of it runs.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from pose3d_cli.errors import CheckpointError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.skeleton import get_layout

FORMAT = "pose3d-checkpoint"
FORMAT_VERSION = 1


def _numpy_allow_list() -> list:
    """The numpy globals a published checkpoint's ``random_state`` needs, under the names
    both numpy 1.x (``numpy.core``) and numpy 2.x (``numpy._core``) pickle them with."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        (np.ndarray, "numpy.ndarray"),
        (np.dtype, "numpy.dtype"),
        # Rebuilding the uint32 dtype of the Mersenne-Twister key applies its state to an
        # instance of this class (numpy >= 1.25).
        type(np.dtype(np.uint32)),
    ]


def safe_load(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with the numpy allow-list, mapped to CPU.

    Raises :class:`CheckpointError` for a missing, truncated, non-torch or unsafe file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file; give --checkpoint PATH or a registry "
                              "name from `pose3d models`")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file; delete it and download or copy the checkpoint again")
    try:
        with torch.serialization.safe_globals(_numpy_allow_list()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        m = (re.search(r"GLOBAL ([\w.]+)", msg) or re.search(r"Unsupported global: ([\w.]+)", msg)
             or re.search(r"but got <class '([\w.]+)'>", msg))
        if m:
            raise CheckpointError(
                f"{path}: refused to load: the file contains pickled objects outside the safe "
                f"allow-list ({m.group(1)}), which could run code; use a checkpoint from a trusted "
                "source") from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({_short(exc)}); the file may be "
                              "truncated or corrupt: download it again") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError,
            IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_short(exc)}); the file may be "
                              "truncated or corrupt: download it again") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{exc.__class__.__name__}: {first[:160]}" if first else exc.__class__.__name__


def arch_from_state_dict(sd: Mapping[str, torch.Tensor], causal: bool = False,
                         dropout: float = 0.25, source: str = "checkpoint") -> ArchSpec:
    """Read filter widths, channels and joint counts from a ``model_pos``/``model_traj`` state dict."""
    try:
        ew = sd["expand_conv.weight"]
        sw = sd["shrink.weight"]
    except KeyError as exc:
        raise CheckpointError(f"{source}: state dict lacks {exc.args[0]!r}; not a VideoPose3D "
                              "temporal model") from None
    if ew.ndim != 3 or sw.ndim != 3:
        raise CheckpointError(f"{source}: unexpected weight ranks (expand_conv {tuple(ew.shape)}, "
                              f"shrink {tuple(sw.shape)})")
    channels, in_ch, w0 = (int(s) for s in ew.shape)
    if in_ch % 2 or sw.shape[0] % 3:
        raise CheckpointError(f"{source}: input channels {in_ch} / output channels {sw.shape[0]} are "
                              "not joints×2 / joints×3")
    widths = [w0]
    i = 0
    while f"layers_conv.{2 * i}.weight" in sd:
        widths.append(int(sd[f"layers_conv.{2 * i}.weight"].shape[-1]))
        i += 1
    try:
        return ArchSpec(filter_widths=tuple(widths), channels=channels, joints_in=in_ch // 2,
                        joints_out=int(sw.shape[0]) // 3, causal=causal, dropout=dropout)
    except ValueError as exc:
        raise CheckpointError(f"{source}: unsupported architecture: {exc}") from None


def _build(arch: ArchSpec, sd: Mapping[str, torch.Tensor], source: str) -> TemporalModel:
    model = TemporalModel(arch)
    result = model.load_state_dict(dict(sd), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{source}: weights do not match a {arch.receptive_field}-frame model "
            f"(missing: {', '.join(result.missing_keys[:5]) or 'none'}; "
            f"unexpected: {', '.join(result.unexpected_keys[:5]) or 'none'})")
    return model.eval()


def _default_layout(joints: int) -> str:
    return {17: "coco17", 15: "humaneva15"}.get(joints, "")


def _default_out_layout(joints: int) -> str:
    return {17: "h36m17", 15: "humaneva15"}.get(joints, "")


@dataclass
class LoadedCheckpoint:
    """A loaded lifter: models in eval mode plus what the file says about them."""

    model_pos: TemporalModel
    arch: ArchSpec
    layout_in: str
    layout_out: str
    model_traj: TemporalModel | None = None
    meta: dict = field(default_factory=dict)
    source_format: str = "pose3d"
    path: str = ""
    training_state: dict | None = None

    @property
    def receptive_field(self) -> int:
        return self.arch.receptive_field


def load_checkpoint(path: str | Path, *, layout_in: str | None = None, layout_out: str | None = None,
                    expect: ArchSpec | None = None, causal: bool | None = None) -> LoadedCheckpoint:
    """Load a VideoPose3D or pose3d checkpoint safely and build its models.

    Args:
        path: checkpoint file.
        layout_in, layout_out: joint layouts; override what the file says (or the defaults by
            joint count for VideoPose3D files, whose layouts are not stored).
        expect: if given, the architecture must match it (filter widths, channels, joints).
        causal: for VideoPose3D files, whether the model was trained causal (not stored in the
            file); a pose3d file's own flag must agree when this is given.
    Raises:
        CheckpointError: missing, truncated, not a checkpoint, unsafe, or unexpected architecture.
    """
    path = Path(path)
    obj = safe_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict with 'model_pos'")
    if obj.get("format") == FORMAT:
        ck = _from_pose3d(path, obj, causal)
    elif "model_pos" in obj:
        ck = _from_videopose3d(path, obj, bool(causal))
    else:
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise CheckpointError(f"{path}: not a lifter checkpoint (no 'model_pos'; keys: {keys or 'none'})")
    if layout_in:
        ck.layout_in = layout_in
    if layout_out:
        ck.layout_out = layout_out
    for which, name, joints in (("input", ck.layout_in, ck.arch.joints_in),
                                ("output", ck.layout_out, ck.arch.joints_out)):
        if not name:
            raise CheckpointError(f"{path}: {joints} {which} joints match no known layout; name it "
                                  f"with --layout-{'in' if which == 'input' else 'out'}")
        lay = get_layout(name)
        if lay.num_joints != joints:
            raise CheckpointError(f"{path}: the model has {joints} {which} joints but layout "
                                  f"{lay.name} has {lay.num_joints}")
    if expect is not None:
        check_arch(ck.arch, expect, str(path))
    return ck


def check_arch(got: ArchSpec, expect: ArchSpec, source: str) -> None:
    """Raise :class:`CheckpointError` unless ``got`` has ``expect``'s widths, channels and joints."""
    fields = ("filter_widths", "channels", "joints_in", "joints_out")
    diffs = [f"{f} {getattr(got, f)} (expected {getattr(expect, f)})" for f in fields
             if getattr(got, f) != getattr(expect, f)]
    if diffs:
        raise CheckpointError(f"{source}: unexpected architecture: {'; '.join(diffs)}")


def _from_videopose3d(path: Path, obj: dict, causal: bool) -> LoadedCheckpoint:
    sd = obj["model_pos"]
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"{path}: 'model_pos' is a {type(sd).__name__}, not a state dict")
    arch = arch_from_state_dict(sd, causal=causal, source=str(path))
    model = _build(arch, sd, str(path))
    traj = None
    if isinstance(obj.get("model_traj"), Mapping):
        traj_arch = arch_from_state_dict(obj["model_traj"], causal=causal, source=f"{path} (model_traj)")
        traj = _build(traj_arch, obj["model_traj"], f"{path} (model_traj)")
    meta = {"epoch": obj.get("epoch"), "lr": obj.get("lr"), "origin": "VideoPose3D"}
    return LoadedCheckpoint(model_pos=model, model_traj=traj, arch=arch,
                            layout_in=_default_layout(arch.joints_in),
                            layout_out=_default_out_layout(arch.joints_out), meta=meta,
                            source_format="videopose3d", path=str(path))


def _from_pose3d(path: Path, obj: dict, causal: bool | None) -> LoadedCheckpoint:
    if int(obj.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: pose3d checkpoint format {obj.get('format_version')} is newer "
                              "than this pose3d understands; upgrade pose3d")
    try:
        arch = ArchSpec.from_dict(obj["arch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad 'arch' entry ({_short(exc)})") from None
    if causal is not None and bool(causal) != arch.causal:
        kind = "causal" if arch.causal else "symmetric"
        raise CheckpointError(f"{path}: this checkpoint was trained {kind}; "
                              f"{'drop --causal' if arch.causal is False else 'pass --causal'} or "
                              "choose a checkpoint trained the other way")
    from_weights = arch_from_state_dict(obj["model_pos"], causal=arch.causal, source=str(path))
    check_arch(from_weights, arch, str(path))
    model = _build(arch, obj["model_pos"], str(path))
    traj = None
    if isinstance(obj.get("model_traj"), Mapping):
        traj_arch = arch_from_state_dict(obj["model_traj"], causal=arch.causal, source=f"{path} (model_traj)")
        traj = _build(traj_arch, obj["model_traj"], f"{path} (model_traj)")
    return LoadedCheckpoint(model_pos=model, model_traj=traj, arch=arch,
                            layout_in=str(obj.get("layout_in", "")), layout_out=str(obj.get("layout_out", "")),
                            meta=dict(obj.get("meta") or {}), source_format="pose3d", path=str(path),
                            training_state=obj.get("training_state"))


def _plain(sd: Mapping[str, torch.Tensor], dtype: torch.dtype | None) -> dict:
    out = {}
    for k, v in sd.items():
        v = v.detach().cpu().clone()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


def save_checkpoint(path: str | Path, model_pos: torch.nn.Module, *, layout_in: str, layout_out: str,
                    model_traj: torch.nn.Module | None = None, meta: dict | None = None,
                    training_state: dict | None = None, overwrite: bool = True,
                    dtype: torch.dtype | None = None) -> Path:
    """Write a self-describing pose3d checkpoint atomically.

    ``model_pos`` is a :class:`TemporalModel` or :class:`TemporalModelStrided` (same weights);
    ``meta`` must hold only plain data (str, numbers, bools, lists, dicts, None); so must
    ``training_state`` (tensors allowed). ``dtype=torch.float16`` halves the file for shipping
    (loading restores float32).
    """
    arch: ArchSpec = model_pos.arch
    get_layout(layout_in)
    get_layout(layout_out)
    obj = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": arch.to_dict(),
        "layout_in": layout_in,
        "layout_out": layout_out,
        "model_pos": _plain(model_pos.state_dict(), dtype),
        "model_traj": _plain(model_traj.state_dict(), dtype) if model_traj is not None else None,
        "meta": dict(meta or {}),
        "training_state": training_state,
    }
    path = Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(buf.getvalue())
    return path


def save_videopose3d_checkpoint(path: str | Path, model_pos: torch.nn.Module, *,
                                model_traj: torch.nn.Module | None = None, epoch: int = 0,
                                lr: float = 1e-3, seed: int = 1234, legacy_format: bool = False,
                                overwrite: bool = True) -> Path:
    """Write a checkpoint in the published VideoPose3D layout (for use with the paper's code).

    The dict holds ``epoch``, ``lr``, ``random_state`` (a numpy ``RandomState`` state tuple, as
    the paper's training script saves it), ``optimizer`` (an empty Adam-style state),
    ``model_pos``, ``model_traj`` (or None) and ``random_state_semi`` (None).
    ``legacy_format=True`` uses torch's pre-1.6 serialisation, as the published files do."""
    obj = {
        "epoch": int(epoch),
        "lr": float(lr),
        "random_state": np.random.RandomState(seed).get_state(),
        "optimizer": {"state": {}, "param_groups": [{"lr": float(lr), "betas": (0.9, 0.999), "eps": 1e-8,
                                                       "weight_decay": 0, "amsgrad": True,
                                                       "params": list(range(len(list(model_pos.parameters()))))}]},
        "model_pos": _plain(model_pos.state_dict(), None),
        "model_traj": _plain(model_traj.state_dict(), None) if model_traj is not None else None,
        "random_state_semi": None,
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy_format)
    return path
