"""The model cache: where downloaded checkpoints, trust-on-first-use checksums and user entries live.

Layout of the cache folder (:func:`pose3d_cli.paths.cache_dir`)::

    checkpoints/<file name>          verified downloads (published names kept as they are)
    checkpoints/<file name>.partial  an interrupted download, resumed by the next attempt
    checkpoints/<file name>.lock     held while one process downloads or checks the file
    checksums.json                   sha256 and size recorded at the first verified download
                                     of a file whose checksum is not published
    models.json                      entries added with ``pose3d models add NAME PATH``
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from pose3d_cli.errors import DownloadError, InputError
from pose3d_cli.io.atomic import atomic_path
from pose3d_cli.paths import checkpoints_dir, trust_file, user_models_file

if TYPE_CHECKING:
    from pose3d_cli.zoo.registry import ModelEntry

TRUST_FORMAT = "pose3d-trusted-checksums"
_HASH_CHUNK = 1 << 20


def cached_path(entry: ModelEntry) -> Path:
    """Where an entry's file is (or would be) on disk.

    Published entries live in the cache; built-in and user entries at their own ``path``.
    """
    if entry.path is not None:
        return entry.path
    return checkpoints_dir() / entry.file_name


def is_cached(entry: ModelEntry) -> bool:
    """Whether the entry's file is present (not whether it is verified)."""
    return cached_path(entry).is_file()


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it writable by creating a file in it.

    Raises :class:`DownloadError` naming the folder and the ways out. A probe file is used,
    not ``os.access``, because ``os.access`` answers "yes" to root whatever the folder is.
    """
    fix = "set POSE3D_HOME to a writable folder, or pass --checkpoint PATH to a file you have"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DownloadError(f"the model cache {path} is not writable ({reason}); {fix}") from None
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json_or_empty(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc}); delete the file to reset it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the {what} is not a JSON object; delete the file to reset it")
    return data


def trusted_record(file_name: str) -> dict[str, Any] | None:
    """The record of a file's first verified download (``sha256``, ``size``, ``url``...), if any."""
    files = _read_json_or_empty(trust_file(), "trusted checksum list").get("files") or {}
    record = files.get(file_name)
    return record if isinstance(record, dict) and "sha256" in record else None


def record_trust(entry: ModelEntry, sha256: str, size: int, url: str) -> dict[str, Any]:
    """Record ``sha256`` and ``size`` as the trusted identity of ``entry.file_name``.

    An existing record is never replaced (the first verified file wins); the record that holds
    is returned.
    """
    path = trust_file()
    ensure_writable_dir(path.parent)
    with FileLock(str(path) + ".lock"):
        data = _read_json_or_empty(path, "trusted checksum list")
        files = data.setdefault("files", {})
        if existing := files.get(entry.file_name):
            return existing
        record = {
            "sha256": sha256, "size": size, "entry": entry.name, "url": url,
            "recorded_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        files[entry.file_name] = record
        data["format"] = TRUST_FORMAT
        data["format_version"] = 1
        _write_json(path, data)
        return record


def forget_trust(file_name: str) -> bool:
    """Drop the trust record of a file (after the user deleted a bad first download)."""
    path = trust_file()
    if not path.is_file():
        return False
    with FileLock(str(path) + ".lock"):
        data = _read_json_or_empty(path, "trusted checksum list")
        if file_name not in (data.get("files") or {}):
            return False
        del data["files"][file_name]
        _write_json(path, data)
        return True


def save_user_entry(name: str, entry_data: dict[str, Any]) -> Path:
    """Add or replace one user entry in ``<cache>/models.json``; returns that file's path."""
    path = user_models_file()
    ensure_writable_dir(path.parent)
    with FileLock(str(path) + ".lock"):
        data = _read_json_or_empty(path, "user model list")
        data["format"] = "pose3d-user-models"
        data["format_version"] = 1
        data.setdefault("models", {})[name] = entry_data
        _write_json(path, data)
    return path
