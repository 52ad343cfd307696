"""Verified downloads of published checkpoints into the cache.

One download:

1. takes ``checkpoints/<file>.lock`` (a :class:`filelock.FileLock`), so a second process waits
   and then finds the verified file instead of fetching it again;
2. streams into ``checkpoints/<file>.partial`` with a tqdm progress bar, resuming an existing
   ``.partial`` with an HTTP ``Range`` request;
3. retries transient failures (timeouts, resets, truncated bodies, HTTP 5xx/429) with
   exponential back-off; gives up at once on 4xx and when the host cannot be reached at all
   (unknown name, connection refused, no route: offline);
4. verifies size and sha256 (the published digest, or the one recorded at the file's first
   verified download), then loads it safely and checks its architecture; a mismatch deletes the
   ``.partial`` and says so;
5. renames ``.partial`` onto ``<file>`` (``os.replace``: atomic), for a file without a
   published digest records its sha256 (trust on first use), and shows the file's licence.

``POSE3D_MODEL_URL=BASE`` replaces the origin: the file named F is fetched from ``BASE/F``
(BASE must be an http or https URL).
``POSE3D_DOWNLOAD_TIMEOUT`` (seconds, default 30) bounds each network wait, and is also the
stall window: an attempt that receives fewer than ``MIN_RATE_BPS`` (2 KiB/s) times the window in
any window is given up as stalled (a server trickling a byte a second never ends otherwise; each
wait alone is short). A body is never read past the size the file must have (published, or
recorded at its first download), or past ``MAX_DOWNLOAD_BYTES`` (2 GiB) when no size is known,
with or without a ``Content-Length``.

Every failure is a one-line :class:`DownloadError` naming the file, the URL and the way out
(``--checkpoint PATH`` or a mirror); no traceback from the HTTP library reaches the user.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import math
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from filelock import FileLock, Timeout

from pose3d_cli import __version__
from pose3d_cli.errors import CheckpointError, DownloadError, InputError
from pose3d_cli.paths import checkpoints_dir
from pose3d_cli.zoo.cache import ensure_writable_dir, record_trust, trusted_record
from pose3d_cli.zoo.registry import ModelEntry
from pose3d_cli.zoo.verify import Expected, expected_for, remember_verified, verify_file

MIRROR_ENV = "POSE3D_MODEL_URL"
TIMEOUT_ENV = "POSE3D_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0
LOCK_WAIT_S = 3600.0
_CHUNK = 1 << 16
#: Slowest transfer accepted, bytes per second averaged over each stall window.
MIN_RATE_BPS = 2048.0
#: Largest body read when the file's size is not known (no published or recorded size).
MAX_DOWNLOAD_BYTES = 2 << 30
#: Longest wait accepted for --timeout / POSE3D_DOWNLOAD_TIMEOUT (one day).
MAX_TIMEOUT_S = 86_400.0
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
_WAY_OUT = "download the file elsewhere and pass --checkpoint PATH, or set POSE3D_MODEL_URL to a mirror"


class _Transient(Exception):
    """A failure worth retrying (the ``.partial`` file is kept for resuming)."""


class _Permanent(Exception):
    """A failure that retrying will not fix (HTTP 4xx, unknown host)."""


@dataclass(frozen=True)
class DownloadResult:
    """A verified file in the cache: where it is, its sha256, and whether it was fetched now."""

    path: Path
    sha256: str
    fetched: bool
    url: str | None


def candidate_urls(entry: ModelEntry) -> list[str]:
    """URLs to try in order: the mirror alone when ``POSE3D_MODEL_URL`` is set, else the entry's."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    if base:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{MIRROR_ENV}={base[:80]!r} is not an http(s) URL; set it to the base URL "
                                f"of a mirror (e.g. https://example.org/models) or unset it")
        return [base.rstrip("/") + "/" + entry.file_name]
    return list(entry.urls)


def check_timeout(value: float, source: str) -> float:
    """``value`` if it is a finite number of seconds in (0, one day]; else InputError naming
    ``source`` (the flag or variable it came from)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise InputError(f"{source} {value!r} is not a number of seconds in (0, {MAX_TIMEOUT_S:.0f}]; "
                            "give e.g. 60")
    return float(value)


def _timeout_from_env() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise InputError(f"{TIMEOUT_ENV}={raw!r} is not a positive number of seconds; "
                            f"unset it or give e.g. {TIMEOUT_ENV}=60")
    return value


def _reason(exc: BaseException) -> str:
    """A short human reason for a network exception (never a traceback)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
        if isinstance(exc, str):
            return exc
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name (offline?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed mid-file"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _fetch_once(url: str, partial: Path, timeout_s: float, expected_size: int | None,
                size_source: str, label: str, quiet: bool, stream: TextIO,
                stall_window_s: float | None = None, min_rate_bps: float = MIN_RATE_BPS) -> None:
    """One HTTP attempt, appending to ``partial``; raises _Transient or _Permanent.

    Every wait is bounded by ``timeout_s``; the attempt as a whole by the stall rule (fewer than
    ``min_rate_bps * stall_window_s`` bytes in any ``stall_window_s`` seconds, default
    ``timeout_s``) and by the size the body may have."""
    window_s = timeout_s if stall_window_s is None else stall_window_s
    min_bytes = max(1, int(min_rate_bps * window_s))
    limit = expected_size if expected_size is not None else MAX_DOWNLOAD_BYTES
    from tqdm import tqdm

    offset = partial.stat().st_size if partial.exists() else 0
    if expected_size is not None and offset > expected_size:
        partial.unlink()
        offset = 0
    if expected_size is not None and offset == expected_size:
        return  # an earlier attempt got every byte; verification decides whether it is right
    headers = {"User-Agent": f"pose3d/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            partial.unlink()  # our partial is not a prefix the server can continue; start over
            raise _Transient("the server refused to resume; starting over") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise _Permanent(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        # No route, no name, nobody listening: the machine is offline or the URL is wrong;
        # retrying would only delay the message.
        if isinstance(exc.reason, (socket.gaierror, ConnectionRefusedError)) or (
                isinstance(exc.reason, OSError) and exc.reason.errno in _UNREACHABLE):
            raise _Permanent(_reason(exc)) from None
        raise _Transient(_reason(exc)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(_reason(exc)) from None

    with response:
        status = response.status
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                partial.unlink(missing_ok=True)
                raise _Transient("the server resumed at the wrong offset; starting over")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        elif status == 200:
            offset, total, mode = 0, length, "wb"
        else:
            raise _Permanent(f"unexpected HTTP status {status}")
        if total is None and length is not None:
            total = offset + length
        if expected_size is not None and total is not None and total != expected_size:
            partial.unlink(missing_ok=True)
            raise _Permanent(f"the server offers {total} bytes, expected {expected_size} "
                             f"({size_source}); nothing was kept")
        if total is not None and total > limit:
            partial.unlink(missing_ok=True)
            raise _Permanent(f"the server offers {total} bytes, more than the {limit} a checkpoint "
                             "may have; nothing was kept")
        received = offset
        with open(partial, mode) as fh, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1000,
                desc=label, disable=quiet, file=stream, leave=True, dynamic_ncols=True) as bar:
            window_start, window_bytes = time.monotonic(), 0
            try:
                while True:
                    # read1: whatever has arrived (at least one byte), so a trickle is seen
                    # between reads instead of inside one read that waits for a whole chunk
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    received += len(chunk)
                    window_bytes += len(chunk)
                    bar.update(len(chunk))
                    if total is not None and received > total:
                        break
                    if received > limit:
                        fh.close()
                        partial.unlink(missing_ok=True)
                        raise _Permanent(f"the server sent more than the {limit} bytes the file can "
                                         f"have ({size_source if expected_size is not None else 'no size known'}"
                                         "); nothing was kept")
                    now = time.monotonic()
                    if now - window_start >= window_s:
                        if window_bytes < min_bytes:
                            raise _Transient(f"stalled: {window_bytes} bytes in {now - window_start:.1f} s "
                                             f"(under {min_rate_bps:.0f} bytes/s) after {received} of "
                                             f"{total or '?'} bytes")
                        window_start, window_bytes = now, 0
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"{_reason(exc)} after {received} of {total or '?'} bytes") from None
        if total is not None and received < total:
            raise _Transient(f"connection closed after {received} of {total} bytes")
        if total is not None and received > total:
            partial.unlink(missing_ok=True)
            raise _Transient(f"the server sent more than the {total} bytes it announced")


def _fetch(url: str, partial: Path, *, timeout_s: float, retries: int, backoff_s: float,
           expected_size: int | None, size_source: str, label: str, quiet: bool,
           stream: TextIO, stall_window_s: float | None = None,
           min_rate_bps: float = MIN_RATE_BPS) -> None:
    attempt = 0
    while True:
        try:
            _fetch_once(url, partial, timeout_s, expected_size, size_source, label, quiet, stream,
                        stall_window_s, min_rate_bps)
            return
        except _Transient as exc:
            attempt += 1
            if attempt > retries:
                raise _Transient(f"{exc} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})") from None
            delay = backoff_s * (2 ** (attempt - 1))
            if not quiet:
                print(f"pose3d: {label}: {exc}; retrying in {delay:.1f} s "
                      f"({attempt}/{retries})", file=stream)
            time.sleep(delay)


def _licence_notice(entry: ModelEntry, stream: TextIO) -> None:
    """Shown once, when a file is first downloaded (also with --quiet: it is not progress)."""
    url = f" ({entry.licence_url})" if entry.licence_url else ""
    extra = " — non-commercial use only" if "BY-NC" in entry.licence else ""
    print(f"pose3d: {entry.name} ({entry.file_name}) is licensed {entry.licence}{url}{extra}; "
          f"origin: {entry.origin or 'unknown'}", file=stream)


@contextlib.contextmanager
def _locked(path: Path, label: str, quiet: bool, stream: TextIO):
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not quiet:
            print(f"pose3d: {label}: another pose3d process is downloading it; waiting",
                  file=stream)
        try:
            lock.acquire(timeout=LOCK_WAIT_S)
        except Timeout:
            raise DownloadError(f"{path}: still locked by another process after {LOCK_WAIT_S:.0f} s; "
                                f"if no pose3d process is running, delete {path}.lock") from None
    try:
        yield
    finally:
        lock.release()


def download(entry: ModelEntry, *, quiet: bool = False, force: bool = False,
             timeout_s: float | None = None, retries: int = DEFAULT_RETRIES,
             backoff_s: float = DEFAULT_BACKOFF_S, stream: TextIO | None = None,
             stall_window_s: float | None = None,
             min_rate_bps: float = MIN_RATE_BPS) -> DownloadResult:
    """Fetch ``entry``'s file into the cache (unless a verified copy is there) and return it.

    Args:
        entry: a published registry entry.
        quiet: no progress bar or notes (errors still raise).
        force: fetch again even if a verified file is cached.
        timeout_s: seconds to wait for the server at each step (default ``$POSE3D_DOWNLOAD_TIMEOUT``
            or 30); a finite number in (0, one day].
        stall_window_s, min_rate_bps: an attempt that gets fewer than ``min_rate_bps *
            stall_window_s`` bytes in any ``stall_window_s`` seconds (default: ``timeout_s``) is
            given up as stalled, and retried like a timeout.
        retries: extra attempts after a transient failure; back-off ``backoff_s · 2^k`` seconds.
        stream: where progress and notes go (default ``sys.stderr``).

    Raises:
        DownloadError: network failure, size or sha256 mismatch (the file is deleted), or an
            unwritable cache; one line naming the file, the URL and the way out.
        CheckpointError: the file does not load safely or has the wrong architecture (deleted).
        InputError: a timeout that is not a finite positive number of seconds, or a
            ``POSE3D_MODEL_URL`` that is not an http(s) URL.
    """
    stream = stream or sys.stderr
    if not entry.downloadable:
        raise DownloadError(f"{entry.name} is a {entry.kind} model, not a download; "
                            f"use it by name or pass --checkpoint PATH")
    timeout_s = _timeout_from_env() if timeout_s is None else check_timeout(timeout_s, "timeout")
    if stall_window_s is not None:
        check_timeout(stall_window_s, "stall window")
    urls = candidate_urls(entry)
    cached = checkpoints_dir() / entry.file_name
    if cached.is_file() and not force:
        # A verified copy needs no lock and no write access (a shared read-only cache works).
        try:
            digest = verify_file(cached, entry, what="cached file")
        except (DownloadError, CheckpointError):
            pass  # dealt with under the lock below
        else:
            _record_if_new(entry, cached, digest, None)
            return DownloadResult(cached, digest, fetched=False, url=None)
    folder = ensure_writable_dir(checkpoints_dir())
    final = folder / entry.file_name
    partial = folder / (entry.file_name + ".partial")

    with _locked(final, entry.file_name, quiet, stream):
        if final.exists() and not force:
            try:
                digest = verify_file(final, entry, what="cached file")
                _record_if_new(entry, final, digest, None)
                return DownloadResult(final, digest, fetched=False, url=None)
            except (DownloadError, CheckpointError) as exc:
                final.unlink(missing_ok=True)
                print(f"pose3d: {exc}; the file was deleted and will be downloaded again",
                      file=stream)
        expected = expected_for(entry)
        errors: list[str] = []
        for url in urls:
            try:
                _fetch(url, partial, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                       expected_size=expected.size,
                       size_source="recorded at its first download" if expected.trusted else "published",
                       label=entry.file_name, quiet=quiet,
                       stream=stream, stall_window_s=stall_window_s, min_rate_bps=min_rate_bps)
            except (_Transient, _Permanent) as exc:
                errors.append(f"{url}: {exc}")
                continue
            digest = _accept(entry, partial, final, expected, url)
            _record_if_new(entry, final, digest, url)
            _licence_notice(entry, stream)
            return DownloadResult(final, digest, fetched=True, url=url)
        kept = (f"; the partial download ({partial.stat().st_size} bytes) is kept and the next "
                f"attempt resumes it") if partial.exists() and partial.stat().st_size else ""
        raise DownloadError(f"cannot download {entry.file_name} for {entry.name} from "
                            f"{'; '.join(errors)}{kept}; {_WAY_OUT}")


def _accept(entry: ModelEntry, partial: Path, final: Path, expected: Expected, url: str) -> str:
    """Verify the finished ``.partial`` and rename it into place; delete it on any mismatch."""
    try:
        digest = verify_file(partial, entry, expected, what="downloaded file")
    except DownloadError as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{exc} (from {url}); the download was deleted. The mirror or the "
                            f"network served a different file; try again, or {_WAY_OUT}") from None
    except CheckpointError as exc:
        partial.unlink(missing_ok=True)
        raise CheckpointError(f"{exc} (downloaded from {url}); the download was deleted") from None
    os.replace(partial, final)
    remember_verified(final, entry, digest)
    return digest


def _record_if_new(entry: ModelEntry, path: Path, digest: str, url: str | None) -> None:
    if entry.sha256 is None and trusted_record(entry.file_name) is None:
        record_trust(entry, digest, path.stat().st_size, url or "")
