"""Accepting a checkpoint file: size, sha256, a safe load and the entry's architecture.

A file is accepted only when all of these hold:

- its size equals the published size (or the size recorded at its first verified download);
- its sha256 equals the published digest (or the digest recorded at its first verified
  download: trust on first use);
- it loads through :func:`pose3d_cli.lifting.checkpoint.load_checkpoint`, which reads with
  ``torch.load(weights_only=True)`` and so refuses pickles that carry code without running them;
- the architecture read from its weights matches the entry (filter widths, channels where the
  entry states them, causal for files that record it, input and output joint counts).

Results are remembered per process for an unchanged file (same path, size, mtime, inode), so a
batch run hashes a checkpoint once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose3d_cli.errors import CheckpointError, DownloadError
from pose3d_cli.zoo.cache import sha256_file, trusted_record
from pose3d_cli.zoo.registry import ModelEntry

_VERIFIED: dict[tuple[str, int, int, int, str], str] = {}


@dataclass(frozen=True)
class Expected:
    """What a file must match: ``sha256``/``size`` may be ``None`` (unknown); ``trusted`` says the
    values come from a trust-on-first-use record rather than from the publisher."""

    sha256: str | None
    size: int | None
    trusted: bool


def expected_for(entry: ModelEntry) -> Expected:
    """The published checksum and size, else those recorded at the first verified download."""
    if entry.sha256 is not None:
        return Expected(entry.sha256, entry.size, trusted=False)
    if entry.kind == "published":
        record = trusted_record(entry.file_name)
        if record is not None:
            return Expected(str(record["sha256"]), entry.size or record.get("size"), trusted=True)
    return Expected(None, entry.size, trusted=False)


def _fmt_arch(widths: Any, channels: Any, joints_in: Any, joints_out: Any) -> str:
    w = ",".join(str(int(x)) for x in widths)
    ch = "?" if channels is None else str(channels)
    return f"filter widths {w}, {ch} channels, {joints_in} joints in, {joints_out} out"


def check_architecture(path: Path, entry: ModelEntry | None) -> Any:
    """Load ``path`` safely and, given an entry, compare its architecture; return the checkpoint.

    Raises :class:`CheckpointError` (from the loader, or for an architecture mismatch).
    """
    from pose3d_cli.lifting.checkpoint import load_checkpoint

    if entry is None:
        return load_checkpoint(path)
    # Causality is not visible in the weights: the loader takes the entry's word for a
    # VideoPose3D file and refuses a pose3d file that records the other kind.
    ck = load_checkpoint(path, layout_in=entry.layout_in, layout_out=entry.layout_out,
                         causal=entry.arch.causal)
    arch = ck.arch
    got = (tuple(int(w) for w in arch.filter_widths), int(arch.channels),
           int(arch.joints_in), int(arch.joints_out))
    want_channels = entry.arch.channels if entry.arch.channels is not None else got[1]
    want = (entry.arch.filter_widths, want_channels, entry.joints_in, entry.joints_out)
    if got != want or bool(arch.causal) != entry.arch.causal:
        got_s = _fmt_arch(*got) + (", causal" if arch.causal else "")
        want_s = _fmt_arch(entry.arch.filter_widths, entry.arch.channels, entry.joints_in,
                           entry.joints_out) + (", causal" if entry.arch.causal else "")
        raise CheckpointError(f"{path} does not match model {entry.name}: the file has {got_s}, "
                              f"the registry expects {want_s}; pass the right --checkpoint or "
                              f"re-download with `pose3d download {entry.name}`")
    return ck


def verify_file(path: Path, entry: ModelEntry | None, expected: Expected | None = None,
                what: str = "file") -> str:
    """Check size, sha256, safe load and architecture of ``path``; return its sha256.

    Never deletes anything: callers decide what a failure means for the file. A size or sha256
    mismatch raises :class:`DownloadError`; a load or architecture failure
    :class:`CheckpointError`.
    """
    expected = expected or (expected_for(entry) if entry is not None else Expected(None, None, False))
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino,
           entry.name if entry is not None else "")
    cached = _VERIFIED.get(key)
    if cached is not None and (expected.sha256 is None or cached == expected.sha256):
        return cached
    label = entry.name if entry is not None else str(path)
    if expected.size is not None and st.st_size != expected.size:
        raise DownloadError(f"{what} {path} has {st.st_size} bytes, {label} has {expected.size}")
    digest = sha256_file(path)
    if expected.sha256 is not None and digest != expected.sha256:
        source = "recorded at its first download" if expected.trusted else "published"
        raise DownloadError(f"{what} {path} failed its sha256 check for {label}: expected "
                            f"{expected.sha256} ({source}), got {digest}")
    check_architecture(Path(path), entry)
    _VERIFIED[key] = digest
    return digest


def remember_verified(path: Path, entry: ModelEntry | None, digest: str) -> None:
    """Note that ``path`` (just renamed into place after verification) is verified."""
    st = os.stat(path)
    _VERIFIED[(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino,
               entry.name if entry is not None else "")] = digest


def forget_verified() -> None:
    """Clear the per-process memory of verified files (tests use it)."""
    _VERIFIED.clear()
