"""Typed errors. Each message says what was given, what was expected and how to fix it.

The CLI prints ``pose3d: error: <message>`` on one line and exits with the error's
``exit_code``; the traceback is shown only with ``--debug``. Exit codes let scripts tell the
cases apart:

==== ==========================================================================
code meaning
==== ==========================================================================
0    success
1    ``pose3d batch``: at least one clip failed (the others were processed)
2    usage or bad input: a flag, a video, a keypoint/pose/checkpoint file
3    a model, backend or device is missing here, or a download failed
4    an output cannot be written (exists without ``--overwrite``, disk full,
     read-only folder, ...)
130  interrupted (Ctrl-C, SIGTERM)
==== ==========================================================================
"""

from __future__ import annotations


class Pose3DError(Exception):
    """Base class of every error that pose3d reports to a user as one line."""

    exit_code = 2


class InputError(Pose3DError):
    """A user-supplied file or value is missing, unreadable or malformed."""


class VideoError(InputError):
    """A video cannot be probed, decoded or encoded."""


class NoPersonError(InputError):
    """No person was found in any frame of a clip."""


class CheckpointError(Pose3DError):
    """A checkpoint file is truncated, not a checkpoint, unsafe, or of an unexpected architecture."""


class DownloadError(Pose3DError):
    """A model file could not be fetched or verified."""

    exit_code = 3


class OutputError(Pose3DError):
    """An output cannot be written (disk full, read-only folder, a folder in the way, …)."""

    exit_code = 4


class OutputExistsError(OutputError):
    """An output file exists and ``--overwrite`` was not given."""


class BackendUnavailableError(Pose3DError):
    """An optional backend (detector, device) is not installed or not usable here."""

    exit_code = 3
