"""Reading a user's text file with bounds: a regular file, a maximum size, a maximum line length.

A reader that trusts its input can be made to read forever (``/dev/zero``, a FIFO) or to hold
gigabytes (a huge file, a single endless line). Every reader of a user-named text file (BVH,
ASF/AMC, keypoint JSON) goes through :func:`read_text_bounded` instead, and gets one
:class:`~pose3d_cli.errors.InputError` line naming the file when a bound is crossed:

- only regular files are read (not folders, devices, pipes or sockets);
- the size is checked before reading, and at most ``max_bytes + 1`` bytes are read (a file that
  grows while it is read is still bounded);
- no line may be longer than ``max_line`` bytes (``\\n``, ``\\r\\n`` and ``\\r`` end a line).

The limits per format are the module constants below.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pose3d_cli.errors import InputError

MIB = 1 << 20
#: Largest motion-capture file read (BVH, ASF, AMC): about an hour of 120 Hz capture of a
#: 60-joint skeleton.
MAX_MOCAP_BYTES = 1024 * MIB
#: Largest keypoint JSON file read (a COCO results list, or one OpenPose frame): hours of video
#: with several people per frame. JSON decoding holds about ten times the file size in memory.
MAX_JSON_BYTES = 512 * MIB
#: Longest line accepted in a text format (a BVH motion line of 1,000 channels is about 12 KB).
MAX_LINE_BYTES = 1 * MIB


def _human(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n} bytes"


def regular_file_size(path: str | Path, what: str) -> int:
    """Size in bytes of ``path``, which must be an existing regular file; else InputError."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: cannot read {what} (no such file); check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc}); check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (a device, pipe or socket); give a {what} "
                         "saved on disk")
    return int(st.st_size)


def read_bytes_bounded(path: str | Path, *, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file no larger than ``max_bytes``; else one-line InputError."""
    path = Path(path)
    size = regular_file_size(path, what)
    too_big = (f"{path}: {what} is larger than the {_human(max_bytes)} pose3d reads; split it "
               "into shorter files")
    if size > max_bytes:
        raise InputError(too_big)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc}); check the path") from None
    if len(data) > max_bytes:  # it grew after the size check
        raise InputError(too_big)
    return data


def check_line_lengths(data: bytes, *, path: str | Path, what: str, max_line: int) -> None:
    """InputError naming the first line of ``data`` longer than ``max_line`` bytes."""
    pos, line_no, end_all = 0, 1, len(data)
    while pos < end_all:
        nl = data.find(b"\n", pos)
        end = end_all if nl < 0 else nl
        if end - pos > max_line:
            # a file with bare '\r' line ends has no '\n' at all: look inside
            parts = data[pos:end].split(b"\r")
            long = next((i for i, p in enumerate(parts) if len(p) > max_line), None)
            if long is not None:
                raise InputError(f"{path}: line {line_no + long} is longer than {_human(max_line)}; "
                                 f"not a {what} (or a damaged one)")
            line_no += len(parts) - 1
        pos, line_no = end + 1, line_no + 1


def read_text_bounded(path: str | Path, *, what: str, max_bytes: int,
                      max_line: int = MAX_LINE_BYTES) -> str:
    """Text of a regular file within the bounds above, decoded as UTF-8 (bad bytes replaced).

    Args:
        path: the file.
        what: what the file should be, for messages (``"BVH file"``).
        max_bytes: largest size accepted.
        max_line: longest line accepted, in bytes.
    Raises:
        InputError: not a regular file, too large, a line too long, or unreadable.
    """
    data = read_bytes_bounded(path, what=what, max_bytes=max_bytes)
    check_line_lengths(data, path=path, what=what, max_line=max_line)
    return data.decode("utf-8", errors="replace")
