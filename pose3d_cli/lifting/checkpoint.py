"""Loading and saving lifter checkpoints without executing pickled code.

Two formats are read:

- **VideoPose3D** ``.bin`` files as published (a ``torch.save``d dict with ``epoch``, ``lr``,
  ``random_state`` — the training generator's ``numpy.random.RandomState`` object itself —
  ``optimizer``, ``model_pos``, optionally ``model_traj`` and ``random_state_semi``). The
  architecture is read from the weight shapes; the joint layouts are not in the file and default
  by joint count (17 in → COCO-17, the in-the-wild model; 15 → HumanEva-15) unless the caller
  names them.
- **pose3d** files (``format = "pose3d-checkpoint"``) that describe themselves: architecture,
  layouts, causal flag, training metadata, optionally a training state for resuming.

Every load goes through ``torch.load(weights_only=True)`` with a minimal allow-list:

- the numpy globals that rebuild plain arrays (``_reconstruct``, ``ndarray``, ``dtype``);
- for the pickled ``RandomState``, stand-ins of pose3d's own for numpy's pickling helpers,
  under both name families: ``numpy.random.__RandomState_ctor`` (numpy < 1.17, the published
  files) and ``numpy.random._pickle.__randomstate_ctor`` / ``__bit_generator_ctor`` (numpy >=
  1.17). They accept only the MT19937 generator and return a fresh ``RandomState`` whose state
  the pickle then sets (numbers only); numpy's own helpers, which call any class or callable they
  are given, are never reachable from a file.

A pickle that names anything else — for example code to run — is refused before any of it runs.
A loaded model must produce finite output on a small forward pass (NaN/inf weights are refused).
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pose3d_cli.errors import CheckpointError, InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.skeleton import get_layout

FORMAT = "pose3d-checkpoint"
FORMAT_VERSION = 1


def _mt19937(bit_generator: Any) -> np.random.MT19937:
    """A fresh MT19937 for the name or class a pickle gives; anything else is refused."""
    from numpy.random import MT19937

    if bit_generator is MT19937 or (isinstance(bit_generator, str) and bit_generator == "MT19937"):
        return MT19937()
    what = (bit_generator if isinstance(bit_generator, str) else getattr(bit_generator, "__name__", None)
            if isinstance(bit_generator, type) else type(bit_generator).__name__)
    raise pickle.UnpicklingError(f"random_state: refusing bit generator {str(what)[:40]!r} "
                                 "(only MT19937 is rebuilt)")


def _bit_generator_ctor(bit_generator: Any = "MT19937") -> np.random.MT19937:
    """Stands for ``numpy.random._pickle.__bit_generator_ctor`` (which would call any class)."""
    return _mt19937(bit_generator)


def _randomstate_ctor(bit_generator_name: Any = "MT19937",
                      bit_generator_ctor: Any = None) -> np.random.RandomState:
    """Stands for ``numpy.random._pickle.__randomstate_ctor`` (numpy >= 1.17).

    numpy writes ``('MT19937',)``, ``('MT19937', __bit_generator_ctor)`` or (numpy >= 2)
    ``(<MT19937 built by __bit_generator_ctor>,)``; numpy's helper would call whatever callable
    the file passes, this one never calls it and accepts only its own stand-in."""
    from numpy.random import MT19937

    if bit_generator_ctor is not None and bit_generator_ctor is not _bit_generator_ctor:
        raise pickle.UnpicklingError("random_state: refusing an unknown bit-generator constructor")
    if type(bit_generator_name) is MT19937:
        return np.random.RandomState(bit_generator_name)
    return np.random.RandomState(_mt19937(bit_generator_name))


def _legacy_randomstate_ctor() -> np.random.RandomState:
    """Stands for ``numpy.random.__RandomState_ctor`` (numpy < 1.17): a RandomState whose state
    the pickle's BUILD then sets from the ``('MT19937', key, pos, has_gauss, gauss)`` tuple."""
    return np.random.RandomState(0)


def _numpy_allow_list() -> list:
    """The globals a published checkpoint needs, under the names numpy 1.x (``numpy.core``,
    ``numpy.random.__RandomState_ctor``) and numpy >= 1.17 / 2.x (``numpy._core``,
    ``numpy.random._pickle``) pickle them with."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    from numpy.random import MT19937, RandomState

    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        (np.ndarray, "numpy.ndarray"),
        (np.dtype, "numpy.dtype"),
        # Rebuilding the uint32 dtype of the Mersenne-Twister key applies its state to an
        # instance of this class (numpy >= 1.25).
        type(np.dtype(np.uint32)),
        # The pickled RandomState (see the module docstring). The two classes are listed so the
        # pickle may set their state (numbers only); called, they only seed a generator.
        (_legacy_randomstate_ctor, "numpy.random.__RandomState_ctor"),
        (_randomstate_ctor, "numpy.random._pickle.__randomstate_ctor"),
        (_bit_generator_ctor, "numpy.random._pickle.__bit_generator_ctor"),
        (MT19937, "numpy.random._mt19937.MT19937"),
        (RandomState, "numpy.random.mtrand.RandomState"),
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
        ours = re.search(r"(random_state: [^\n]+)", msg)
        if ours:
            raise CheckpointError(f"{path}: refused to load: {ours.group(1)}; use a checkpoint from "
                                  "a trusted source") from None
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
    try:
        result = model.load_state_dict(dict(sd), strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not fit the {arch.receptive_field}-frame model "
                              f"their shapes describe ({_short(exc)}); the file is damaged: "
                              "use another checkpoint") from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{source}: weights do not match a {arch.receptive_field}-frame model "
            f"(missing: {', '.join(result.missing_keys[:5]) or 'none'}; "
            f"unexpected: {', '.join(result.unexpected_keys[:5]) or 'none'})")
    model.eval()
    _check_finite(model, source)
    return model


def _check_finite(model: TemporalModel, source: str) -> None:
    """Refuse NaN/inf weights, and a model whose output on a plain input is not finite.

    The probe is one receptive field of a fixed pose in normalised screen coordinates (within
    [-0.8, 0.8]): a healthy lifter maps it to finite metres; NaN/inf weights, negative BatchNorm
    variances or overflowing weights do not."""
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: weight {name} holds NaN or infinite values; the file "
                                  "is damaged or from a diverged training run: use another checkpoint")
    arch = model.arch
    probe = torch.linspace(-0.8, 0.8, arch.joints_in * arch.in_features).reshape(
        1, 1, arch.joints_in, arch.in_features).expand(1, arch.receptive_field, -1, -1)
    with torch.no_grad():
        out = model(probe.contiguous())
    if not bool(torch.isfinite(out).all()):
        raise CheckpointError(f"{source}: the model's output on a plain input is NaN or infinite "
                              "(its weights or BatchNorm statistics are broken); use another checkpoint")


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
    given = {"input": bool(layout_in), "output": bool(layout_out)}
    if layout_in:
        ck.layout_in = layout_in
    if layout_out:
        ck.layout_out = layout_out
    for which, name, joints in (("input", ck.layout_in, ck.arch.joints_in),
                                ("output", ck.layout_out, ck.arch.joints_out)):
        flag = f"--layout-{'in' if which == 'input' else 'out'}"
        if not name:
            raise CheckpointError(f"{path}: {joints} {which} joints match no known layout; name it "
                                  f"with {flag}")
        try:
            lay = get_layout(name)
        except InputError as exc:
            if given[which]:
                raise InputError(f"{exc} (the {which} layout asked for {path})") from None
            raise CheckpointError(f"{path}: the file names {which} layout {name[:40]!r}, which pose3d "
                                  f"does not know; give the right one with {flag}") from None
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


def _weights(path: Path, obj: dict, key: str) -> dict[str, torch.Tensor] | None:
    """``obj[key]`` as a state dict of tensors (``None`` when absent or None); else CheckpointError."""
    sd = obj.get(key)
    if sd is None:
        return None
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"{path}: '{key}' is a {type(sd).__name__}, not a state dict of weights; "
                              "the file is damaged or not a lifter checkpoint")
    bad = [str(k) for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: '{key}' holds entries that are not named tensors "
                              f"({', '.join(b[:40] for b in bad[:3])}); the file is damaged or not a "
                              "lifter checkpoint")
    return dict(sd)


def _from_videopose3d(path: Path, obj: dict, causal: bool) -> LoadedCheckpoint:
    sd = _weights(path, obj, "model_pos")
    if sd is None:
        raise CheckpointError(f"{path}: 'model_pos' is empty; not a usable lifter checkpoint")
    arch = arch_from_state_dict(sd, causal=causal, source=str(path))
    model = _build(arch, sd, str(path))
    traj = None
    traj_sd = _weights(path, obj, "model_traj")
    if traj_sd is not None:
        traj_arch = arch_from_state_dict(traj_sd, causal=causal, source=f"{path} (model_traj)")
        traj = _build(traj_arch, traj_sd, f"{path} (model_traj)")
    meta = {"epoch": _plain_number(obj.get("epoch")), "lr": _plain_number(obj.get("lr")),
            "origin": "VideoPose3D"}
    return LoadedCheckpoint(model_pos=model, model_traj=traj, arch=arch,
                            layout_in=_default_layout(arch.joints_in),
                            layout_out=_default_out_layout(arch.joints_out), meta=meta,
                            source_format="videopose3d", path=str(path))


def _plain_number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_ARCH_FIELDS = {"filter_widths": (list, tuple), "channels": int, "joints_in": int, "joints_out": int}


def _arch_from_field(path: Path, value: Any) -> ArchSpec:
    """The ``arch`` field of a pose3d checkpoint, checked field by field (no defaults filled in:
    a field that is missing is an error, not the 243-frame default)."""
    where = f"{path}: bad 'arch' field"
    fix = "the file's description of its model is damaged: re-save it with pose3d or use another checkpoint"
    if not isinstance(value, Mapping):
        raise CheckpointError(f"{where} (a {type(value).__name__}, expected a dict); {fix}")
    for key, kind in _ARCH_FIELDS.items():
        if key not in value:
            raise CheckpointError(f"{where} (no {key!r}); {fix}")
        item = value[key]
        if isinstance(item, bool) or not isinstance(item, kind):
            raise CheckpointError(f"{where} ({key} is {str(item)[:40]!r}); {fix}")
    widths = value["filter_widths"]
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        raise CheckpointError(f"{where} (filter_widths {str(widths)[:60]} are not all integers); {fix}")
    if "causal" in value and not isinstance(value["causal"], bool):
        raise CheckpointError(f"{where} (causal is {str(value['causal'])[:20]!r}, not true/false); {fix}")
    for key in ("in_features", "dropout"):
        if key in value and (isinstance(value[key], bool) or not isinstance(value[key], (int, float))):
            raise CheckpointError(f"{where} ({key} is {str(value[key])[:20]!r}); {fix}")
    try:
        return ArchSpec.from_dict(dict(value))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} ({_short(exc)}); {fix}") from None


def _from_pose3d(path: Path, obj: dict, causal: bool | None) -> LoadedCheckpoint:
    version = obj.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: bad 'format_version' {str(version)[:20]!r}; the file is damaged")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: pose3d checkpoint format {version} is newer "
                              "than this pose3d understands; upgrade pose3d")
    sd = _weights(path, obj, "model_pos")
    if sd is None:
        raise CheckpointError(f"{path}: a pose3d checkpoint without 'model_pos' weights; the file is "
                              "damaged or incomplete: save or download it again")
    arch = _arch_from_field(path, obj.get("arch"))
    if causal is not None and bool(causal) != arch.causal:
        kind = "causal" if arch.causal else "symmetric"
        raise CheckpointError(f"{path}: this checkpoint was trained {kind}; "
                              f"{'drop --causal' if arch.causal is False else 'pass --causal'} or "
                              "choose a checkpoint trained the other way")
    from_weights = arch_from_state_dict(sd, causal=arch.causal, source=str(path))
    fields = ("filter_widths", "channels", "joints_in", "joints_out")
    diffs = [f"{f} {getattr(arch, f)} in the field, {getattr(from_weights, f)} in the weights"
             for f in fields if getattr(arch, f) != getattr(from_weights, f)]
    if diffs:
        raise CheckpointError(f"{path}: its 'arch' field does not describe its weights "
                              f"({'; '.join(diffs)}); the file is damaged: re-save it or use "
                              "another checkpoint")
    model = _build(arch, sd, str(path))
    traj = None
    traj_sd = _weights(path, obj, "model_traj")
    if traj_sd is not None:
        traj_arch = arch_from_state_dict(traj_sd, causal=arch.causal, source=f"{path} (model_traj)")
        traj = _build(traj_arch, traj_sd, f"{path} (model_traj)")
    meta = obj.get("meta")
    layouts = [obj.get("layout_in", ""), obj.get("layout_out", "")]
    for i, name in enumerate(layouts):
        if not isinstance(name, str):
            raise CheckpointError(f"{path}: bad '{('layout_in', 'layout_out')[i]}' field "
                                  f"({str(name)[:40]!r}); give the layouts with --layout-in/--layout-out")
    return LoadedCheckpoint(model_pos=model, model_traj=traj, arch=arch,
                            layout_in=layouts[0], layout_out=layouts[1],
                            meta=dict(meta) if isinstance(meta, Mapping) else {},
                            source_format="pose3d", path=str(path),
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


class _Numpy116Pickler(pickle._Pickler):
    """Pickles numpy objects under the names numpy 1.16 (the paper's 2019 environment) wrote.

    A ``RandomState`` becomes ``numpy.random.__RandomState_ctor()`` + BUILD with the legacy state
    tuple ``('MT19937', key (624,) uint32, pos, has_gauss, gauss)``, and arrays are rebuilt through
    ``numpy.core.multiarray._reconstruct``. Names are written with GLOBAL opcodes, so this pickler
    is for protocol 2 (what ``torch.save`` uses)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.random.RandomState:
            return getattr(np.random, "__RandomState_ctor"), (), obj.get_state(legacy=True)
        return NotImplemented

    def save_global(self, obj: Any, name: str | None = None) -> None:
        old = _numpy116_names().get(id(obj))
        if old is None or self.proto >= 4:
            super().save_global(obj, name)
            return
        self.write(pickle.GLOBAL + old.encode("ascii"))
        self.memoize(obj)


def _numpy116_names() -> dict[int, str]:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x already writes these names
        return {}
    return {id(multiarray._reconstruct): "numpy.core.multiarray\n_reconstruct\n",
            id(multiarray.scalar): "numpy.core.multiarray\nscalar\n"}


class _Numpy116PickleModule:
    """What ``torch.save(pickle_module=...)`` needs: a ``Pickler`` class and ``dump``."""

    __name__ = "pose3d_numpy116_pickle"
    Pickler = _Numpy116Pickler

    @staticmethod
    def dump(obj: Any, file: Any, protocol: int | None = None) -> None:
        _Numpy116Pickler(file, protocol=protocol).dump(obj)


def save_videopose3d_checkpoint(path: str | Path, model_pos: torch.nn.Module, *,
                                model_traj: torch.nn.Module | None = None, epoch: int = 0,
                                lr: float = 1e-3, seed: int = 1234, legacy_format: bool = False,
                                old_numpy: bool = False, overwrite: bool = True) -> Path:
    """Write a checkpoint in the published VideoPose3D layout, as the paper's ``run.py`` does.

    The dict holds ``epoch``, ``lr``, ``random_state`` (a ``numpy.random.RandomState`` object:
    ``run.py`` saves ``train_generator.random_state()``, the generator itself), ``optimizer`` (an
    empty Adam-style state), ``model_pos``, ``model_traj`` (or None) and ``random_state_semi``
    (a second RandomState with ``model_traj``, as semi-supervised training saves, else None).

    Args:
        legacy_format: torch's pre-1.6 serialisation, as the published files use.
        old_numpy: pickle numpy objects under numpy 1.16's names (``numpy.random.__RandomState_ctor``,
            ``numpy.core.multiarray._reconstruct``), as the published files do; without it they
            carry this numpy's names (``numpy.random._pickle.__randomstate_ctor``, ...), as a file
            ``run.py`` writes today does. Only the newer names load in numpy >= 2 without shims,
            and only the older ones in numpy < 1.17.
    """
    semi = np.random.RandomState(seed + 1) if model_traj is not None else None
    obj = {
        "epoch": int(epoch),
        "lr": float(lr),
        "random_state": np.random.RandomState(seed),
        "optimizer": {"state": {}, "param_groups": [{"lr": float(lr), "betas": (0.9, 0.999), "eps": 1e-8,
                                                       "weight_decay": 0, "amsgrad": True,
                                                       "params": list(range(len(list(model_pos.parameters()))))}]},
        "model_pos": _plain(model_pos.state_dict(), None),
        "model_traj": _plain(model_traj.state_dict(), None) if model_traj is not None else None,
        "random_state_semi": semi,
    }
    path = Path(path)
    extra = {"pickle_module": _Numpy116PickleModule} if old_numpy else {}
    with atomic_path(path, overwrite) as tmp:
        torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy_format, **extra)
    return path
