"""Write-to-temporary-then-rename, so that an interrupted run never leaves a file that passes
for finished, and the checks every output goes through first.

Temporary files sit beside their output, named ``.<name>.tmp-<host>-<pid>-<random><suffix>``
(the suffix kept so tools that look at the extension, such as ffmpeg and numpy, behave). A
run that is killed cannot remove its own; the next run that writes the same output removes
the ones whose process is gone (same host), or that are more than :data:`STALE_AFTER_S` old
(another host).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Iterator

from pose3d_cli.errors import InputError, OutputError, OutputExistsError

#: Age after which another host's temporary file counts as abandoned.
STALE_AFTER_S = 6 * 3600.0


def _host() -> str:
    return "".join(c for c in socket.gethostname().split(".")[0] if c.isalnum() or c == "-")[:32] or "host"


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files of ``path`` left by runs that were killed; return them."""
    path = Path(path)
    prefix = _tmp_prefix(path)
    host = _host()
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        fields = tmp.name[len(prefix):].split("-")
        try:
            owner_host, pid = "-".join(fields[:-2]), int(fields[-2])
        except (ValueError, IndexError):
            continue
        if owner_host == host:
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, 0)
                continue  # its writer is still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # alive, another user's
        else:
            try:
                if now - tmp.stat().st_mtime < STALE_AFTER_S:
                    continue
            except OSError:
                continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def check_writable(path: str | os.PathLike, overwrite: bool = True, *, option: str = "--overwrite") -> Path:
    """Refuse an existing output unless ``overwrite``, and a folder in place of a file; return the path.

    ``option`` names how the caller turns overwriting on (``--overwrite`` on the command line,
    ``overwrite=True`` in Python) in the message."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file; give a file name, or put the outputs in a "
                          "folder with --out-dir")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass {option} to replace it or choose another output path")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_inputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse any output that resolves to an input (the same path, a link to it, a hard link).

    Raises :class:`InputError` naming both, whatever ``--overwrite`` says."""
    ins = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        out = Path(out)
        for src in ins:
            if _same_file(out, src):
                raise InputError(f"{out}: this output would replace the input {src}; write the outputs "
                                 "somewhere else (outputs never overwrite inputs)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    On any exception the temporary file is removed; an ``OSError`` (disk full, read-only
    folder, a path below a regular file) becomes a one-line :class:`OutputError`.
    """
    path = check_writable(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(path)}{_host()}-{os.getpid()}-",
                                   suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc}); choose another output "
                          "folder") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file 0600; give the output the usual permissions (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        if path.is_dir():
            raise OutputError(f"{path}: a folder appeared at the output path; remove it or choose another output")
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise OutputError(f"{path}: writing failed ({exc.strerror or exc}); free disk space or choose "
                          "another output folder") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
