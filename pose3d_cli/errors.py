"""Typed errors. Each message says what was given, what was expected and how to fix it.

The CLI prints ``pose3d: error: <message>`` on one line and exits non-zero; the traceback is
shown only with ``--debug``.
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


class OutputExistsError(Pose3DError):
    """An output file exists and ``--overwrite`` was not given."""


class BackendUnavailableError(Pose3DError):
    """An optional backend (detector, device) is not installed or not usable here."""
