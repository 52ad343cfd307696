"""The checkpoint registry: model entries kept as data.

Three sources are merged, in this order:

1. ``pose3d_cli/zoo/registry.json`` (shipped in the package): the published VideoPose3D
   checkpoints and the project's built-in entry.
2. ``pose3d_cli/zoo/weights/*.json`` (written by the training code next to the shipped
   weights): ``BUILTIN.json`` overrides the registry's built-in entry with the real file name,
   size, sha256, architecture and measured error (without it that entry is marked ``"not yet
   trained"``); every other description there (``<name>.json``, same shape, its ``name`` key
   naming the entry) is merged the same way over the entry of that name, or creates a built-in
   entry from the registry's built-in one (e.g. the causal ``pose3d-27f-causal.mocap-coco``).
3. ``<cache>/models.json``: entries a user added with ``pose3d models add NAME PATH``.

Entry names follow ``arch.tag`` (``videopose3d-243f.h36m-detectron-coco``): the part before the
first dot names the architecture and receptive field, the part after it the training data and
input keypoints.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pose3d_cli.errors import InputError
from pose3d_cli.paths import user_models_file
from pose3d_cli.skeleton import get_layout

REGISTRY_FORMAT = "pose3d-model-registry"
USER_FORMAT = "pose3d-user-models"
#: Entry kinds: downloadable published files, the file shipped in the package, user files.
KINDS = ("published", "builtin", "user")
#: Where the 2D input keypoints of a model came from.
INPUT_SOURCES = {
    "detectron": "Detectron / Mask R-CNN keypoints",
    "cpn": "Cascaded Pyramid Network keypoints",
    "ground-truth": "ground-truth 2D (projected motion capture)",
    "mocap-noisy": "projected motion capture with detector-like noise",
    "unknown": "not stated",
}
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)?$")
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ArchInfo:
    """Architecture of a temporal lifter as far as the registry states it.

    Attributes:
        filter_widths: temporal kernel width per block, e.g. ``(3, 3, 3, 3, 3)``.
        channels: convolution channels, or ``None`` where unpublished (then not checked).
        causal: whether the model sees only past frames (padding all before the clip).
    """

    filter_widths: tuple[int, ...]
    channels: int | None
    causal: bool

    @property
    def receptive_field(self) -> int:
        """Frames of 2D input that one output pose depends on (the product of the widths)."""
        rf = 1
        for w in self.filter_widths:
            rf *= w
        return rf


@dataclass(frozen=True)
class ReportedError:
    """One published (or measured) error figure for a model, in millimetres."""

    benchmark: str
    mpjpe_mm: float | None = None
    p_mpjpe_mm: float | None = None
    error_mm: float | None = None
    note: str = ""

    def summary(self) -> str:
        """``"46.8 mm MPJPE, 36.5 mm P-MPJPE"``-style text."""
        parts = []
        if self.mpjpe_mm is not None:
            parts.append(f"{self.mpjpe_mm:g} mm MPJPE")
        if self.p_mpjpe_mm is not None:
            parts.append(f"{self.p_mpjpe_mm:g} mm P-MPJPE")
        if self.error_mm is not None:
            parts.append(f"{self.error_mm:g} mm")
        return ", ".join(parts) or "no figure"


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint the registry knows.

    Attributes:
        name: registry key, ``arch.tag``.
        kind: ``"published"`` (downloadable), ``"builtin"`` (shipped) or ``"user"`` (added).
        file_name: file name in the cache (published names kept as they are) or in the package.
        urls: download URLs, tried in order (empty for built-in and user entries).
        size: file size in bytes, or ``None`` where not published.
        sha256: hex digest, or ``None`` where not published (then trust on first use).
        arch: architecture the file must have.
        layout_in / layout_out: joint layouts of the 2D input and the 3D output.
        input_source: key of :data:`INPUT_SOURCES`; ``input_description`` says it in words.
        trained_on: training data in words.
        reported_error: published or measured error figures.
        licence / licence_url: licence of the weights.
        origin: who made the weights.
        description: one or two sentences for the model card.
        status: ``"available"`` or ``"not yet trained"`` (a built-in entry without weights).
        path: absolute file path for built-in and user entries; ``None`` for published ones.
    """

    name: str
    kind: str
    file_name: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None
    arch: ArchInfo
    layout_in: str
    layout_out: str
    input_source: str = "unknown"
    input_description: str = ""
    trained_on: str = ""
    reported_error: tuple[ReportedError, ...] = ()
    licence: str = "unknown"
    licence_url: str = ""
    origin: str = ""
    description: str = ""
    status: str = "available"
    path: Path | None = None

    @property
    def receptive_field(self) -> int:
        return self.arch.receptive_field

    @property
    def downloadable(self) -> bool:
        return self.kind == "published"

    @property
    def joints_in(self) -> int:
        return get_layout(self.layout_in).num_joints

    @property
    def joints_out(self) -> int:
        return get_layout(self.layout_out).num_joints

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the same keys as ``registry.json`` plus ``name``."""
        return {
            "name": self.name, "kind": self.kind, "status": self.status,
            "file_name": self.file_name, "urls": list(self.urls), "size": self.size,
            "sha256": self.sha256,
            "arch": {"filter_widths": list(self.arch.filter_widths),
                     "channels": self.arch.channels, "causal": self.arch.causal},
            "receptive_field": self.receptive_field,
            "layout_in": self.layout_in, "input_source": self.input_source,
            "input_description": self.input_description, "layout_out": self.layout_out,
            "trained_on": self.trained_on,
            "reported_error": [
                {"benchmark": r.benchmark, "mpjpe_mm": r.mpjpe_mm, "p_mpjpe_mm": r.p_mpjpe_mm,
                 "error_mm": r.error_mm, "note": r.note} for r in self.reported_error],
            "licence": self.licence, "licence_url": self.licence_url, "origin": self.origin,
            "description": self.description,
            "path": str(self.path) if self.path is not None else None,
        }


@dataclass(frozen=True)
class Registry:
    """All known entries, with the names of the default and the built-in model."""

    entries: Mapping[str, ModelEntry]
    default_name: str
    builtin_name: str
    sources: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> ModelEntry:
        """Entry by name or by published file name; :class:`InputError` with suggestions."""
        if name in self.entries:
            return self.entries[name]
        for entry in self.entries.values():
            if entry.kind == "published" and entry.file_name == name:
                return entry
        close = difflib.get_close_matches(name, list(self.entries), n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise InputError(f"unknown model {name!r}; {hint}run `pose3d models` for the list, "
                         f"or pass a checkpoint file path")

    @property
    def default(self) -> ModelEntry:
        return self.entries[self.default_name]

    @property
    def builtin(self) -> ModelEntry:
        return self.entries[self.builtin_name]

    def builtin_for(self, causal: bool) -> ModelEntry | None:
        """The built-in entry to use as the default for a causal (or symmetric) lifter: the
        registry's built-in entry if it matches, else the first other matching built-in entry
        (available ones first); ``None`` when no built-in entry matches."""
        builtins = [e for e in self.entries.values() if e.kind == "builtin" and e.arch.causal == causal]
        builtins.sort(key=lambda e: (e.name != self.builtin_name, e.status != "available", e.name))
        return builtins[0] if builtins else None


def _field_error(where: str, name: str, what: str) -> InputError:
    return InputError(f"{where}: model {name!r}: {what}; fix the entry or remove it")


def _int_or_none(value: Any, where: str, name: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _field_error(where, name, f"{key} must be a positive integer or null, got {value!r}")
    return value


def entry_from_dict(name: str, data: Mapping[str, Any], where: str) -> ModelEntry:
    """Build and validate a :class:`ModelEntry` from its JSON form (``where`` names the file)."""
    if not NAME_PATTERN.match(name):
        raise _field_error(where, name, "names are lower-case letters, digits, '-' and '_', "
                                        "with at most one '.' (arch.tag)")
    kind = data.get("kind", "published")
    if kind not in KINDS:
        raise _field_error(where, name, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    file_name = data.get("file_name")
    if not isinstance(file_name, str) or not file_name or "/" in file_name or file_name in (".", ".."):
        raise _field_error(where, name, f"file_name must be a plain file name, got {file_name!r}")
    urls = tuple(data.get("urls") or ())
    if kind == "published" and not urls:
        raise _field_error(where, name, "a published entry needs at least one URL")
    sha = data.get("sha256")
    if sha is not None:
        sha = str(sha).lower()
        if not _SHA256_PATTERN.match(sha):
            raise _field_error(where, name, f"sha256 must be 64 hex digits, got {data.get('sha256')!r}")
    arch_d = data.get("arch") or {}
    try:
        widths = tuple(int(w) for w in arch_d["filter_widths"])
    except (KeyError, TypeError, ValueError):
        raise _field_error(where, name, "arch.filter_widths must be a list of odd integers") from None
    if not widths or any(w < 1 or w % 2 == 0 for w in widths):
        raise _field_error(where, name, f"arch.filter_widths must be odd integers, got {list(widths)}")
    arch = ArchInfo(widths, _int_or_none(arch_d.get("channels"), where, name, "arch.channels"),
                    bool(arch_d.get("causal", False)))
    for key in ("layout_in", "layout_out"):
        if not isinstance(data.get(key), str):
            raise _field_error(where, name, f"{key} is missing")
        try:
            get_layout(data[key])
        except InputError:
            raise _field_error(where, name, f"{key} {data[key]!r} is not a known joint layout") from None
    reported = []
    for r in data.get("reported_error") or ():
        reported.append(ReportedError(
            benchmark=str(r.get("benchmark", "")),
            mpjpe_mm=r.get("mpjpe_mm"), p_mpjpe_mm=r.get("p_mpjpe_mm"),
            error_mm=r.get("error_mm"), note=str(r.get("note", ""))))
    source = data.get("input_source", "unknown")
    if source not in INPUT_SOURCES:
        raise _field_error(where, name, f"input_source must be one of {', '.join(INPUT_SOURCES)}")
    path = data.get("path")
    return ModelEntry(
        name=name, kind=kind, file_name=file_name, urls=urls,
        size=_int_or_none(data.get("size"), where, name, "size"), sha256=sha, arch=arch,
        layout_in=get_layout(data["layout_in"]).name, layout_out=get_layout(data["layout_out"]).name,
        input_source=source, input_description=str(data.get("input_description", "")),
        trained_on=str(data.get("trained_on", "")), reported_error=tuple(reported),
        licence=str(data.get("licence", "unknown")), licence_url=str(data.get("licence_url", "")),
        origin=str(data.get("origin", "")), description=str(data.get("description", "")),
        status=str(data.get("status", "available")),
        path=Path(path) if path else None,
    )


def weights_dir() -> Path:
    """Folder of the weights shipped inside the package (``pose3d_cli/zoo/weights``)."""
    return Path(str(resources.files("pose3d_cli.zoo"))) / "weights"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the {what} is not valid JSON ({exc.msg}, line {exc.lineno}); "
                         f"fix or delete the file") from None
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the {what} must be a JSON object; fix or delete the file")
    return data


def _builtin_overrides(base: Mapping[str, Any], builtin: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a built-in description (``BUILTIN.json`` or ``<name>.json``, written by the training
    code) over the registry's built-in entry.

    Accepted keys: ``name``, ``file_name``, ``sha256``, ``size``, ``arch`` (or ``filter_widths``
    / ``channels`` / ``causal`` at the top level), ``layout_in`` and ``layout_out`` (or
    ``layouts`` as ``{"in", "out"}`` or a pair), ``measured_error`` (a list like
    ``reported_error``, one such object, a number in mm MPJPE, or text; or ``mpjpe_mm`` /
    ``p_mpjpe_mm`` at the top level), ``trained_on``, ``description``, ``licence``,
    ``input_source``, ``input_description``, ``origin``.
    """
    merged = dict(base)
    for key in ("file_name", "sha256", "size", "layout_in", "layout_out", "trained_on",
                "description", "licence", "licence_url", "input_source", "input_description",
                "origin"):
        if builtin.get(key) is not None:
            merged[key] = builtin[key]
    arch = dict(base.get("arch") or {})
    arch.update({k: v for k, v in (builtin.get("arch") or {}).items()
                 if k in ("filter_widths", "channels", "causal")})
    for key in ("filter_widths", "channels", "causal"):
        if key in builtin:
            arch[key] = builtin[key]
    merged["arch"] = arch
    layouts = builtin.get("layouts")
    if isinstance(layouts, dict):
        merged["layout_in"] = layouts.get("in", layouts.get("layout_in", merged.get("layout_in")))
        merged["layout_out"] = layouts.get("out", layouts.get("layout_out", merged.get("layout_out")))
    elif isinstance(layouts, (list, tuple)) and len(layouts) == 2:
        merged["layout_in"], merged["layout_out"] = layouts
    measured = builtin.get("measured_error", builtin.get("reported_error"))
    if measured is None and ("mpjpe_mm" in builtin or "p_mpjpe_mm" in builtin):
        measured = {k: builtin.get(k) for k in ("mpjpe_mm", "p_mpjpe_mm")}
    if isinstance(measured, (int, float)) and not isinstance(measured, bool):
        measured = {"mpjpe_mm": float(measured)}
    if isinstance(measured, dict):
        measured = [{"benchmark": "measured by the training code", **measured}]
    if isinstance(measured, str):
        measured = [{"benchmark": measured}]
    if isinstance(measured, list):
        merged["reported_error"] = [m if isinstance(m, dict) else {"benchmark": str(m)} for m in measured]
    merged["status"] = "available"
    merged["kind"] = "builtin"
    merged["urls"] = []
    return merged


def load_registry(include_user: bool = True) -> Registry:
    """Read the package registry, the built-in weights' description and the user's entries."""
    pkg_file = Path(str(resources.files("pose3d_cli.zoo"))) / "registry.json"
    data = _read_json(pkg_file, "model registry")
    if data.get("format") != REGISTRY_FORMAT:
        raise InputError(f"{pkg_file}: not a pose3d model registry (format {data.get('format')!r}); "
                         f"reinstall pose3d")
    raw: dict[str, Mapping[str, Any]] = dict(data["models"])
    default_name, builtin_name = data["default"], data["builtin"]
    sources = [str(pkg_file)]

    where: dict[str, str] = {}
    template = raw[builtin_name]
    builtin_json = weights_dir() / "BUILTIN.json"
    if builtin_json.is_file():
        info = _read_json(builtin_json, "built-in model description")
        new_name = str(info.get("name") or builtin_name)
        base = raw.pop(builtin_name)
        raw[new_name] = _builtin_overrides(base, info)
        where[new_name] = str(builtin_json)
        builtin_name = new_name
        sources.append(str(builtin_json))
    for desc_file in sorted(weights_dir().glob("*.json")):
        if desc_file.name == "BUILTIN.json":
            continue
        info = _read_json(desc_file, "built-in model description")
        name = str(info.get("name") or desc_file.stem)
        if name in where:
            raise InputError(f"{desc_file}: model {name!r} is also described by {where[name]}; "
                             f"remove one of the two descriptions")
        base = raw.get(name, template)
        if base.get("kind") != "builtin":
            raise _field_error(str(desc_file), name, f"the name is a {base.get('kind', 'published')} "
                                                     f"entry of the registry, not a built-in one")
        raw[name] = _builtin_overrides(base, info)
        where[name] = str(desc_file)
        sources.append(str(desc_file))

    entries: dict[str, ModelEntry] = {}
    for name, item in raw.items():
        entry = entry_from_dict(name, item, where.get(name, str(pkg_file)))
        if entry.kind == "builtin":
            entry = replace(entry, path=weights_dir() / entry.file_name)
        entries[name] = entry

    if include_user:
        user_file = user_models_file()
        if user_file.is_file():
            user = _read_json(user_file, "user model list")
            for name, item in (user.get("models") or {}).items():
                if name in entries:
                    continue  # a user entry never shadows a shipped one
                entry = entry_from_dict(name, {**item, "kind": "user"}, str(user_file))
                if entry.path is None:
                    raise _field_error(str(user_file), name, "a user entry needs a path")
                entries[name] = entry
            sources.append(str(user_file))
    return Registry(entries=entries, default_name=default_name, builtin_name=builtin_name,
                    sources=tuple(sources))
