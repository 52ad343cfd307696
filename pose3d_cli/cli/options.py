"""Options that mean the same in every subcommand, defined once.

- ``--device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
- ``--start``/``--end``: seconds from the clip's beginning; ``--limit``: at most N frames.
- ``--fps``: the clip's frame rate, overriding what the container or keypoint file says.
- ``--causal``: use a causal lifter (past frames only). With no ``--checkpoint`` that is the
  causal built-in; a VideoPose3D file given with ``--checkpoint`` is read as causal.
- ``--person``: who is kept: ``all``, ``main`` or ids ``3,7``.
- ``--json``: one JSON object on stdout describing the run, nothing else on stdout.

Values are parsed here and validated by the library (a NaN or infinite number is a one-line
error there), so Python callers get the same checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def number(text: str) -> float:
    """A float (validated later by the library, which names the option in its message)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_device(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N",
                   help="where the models run: auto (CUDA when present), cpu, cuda or cuda:N (default auto)")


def add_causal(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--causal", action="store_true",
                   help="use a causal lifter (past frames only, for streaming): the causal built-in unless "
                        "--checkpoint names one; a VideoPose3D file given with --checkpoint is read as causal")


def add_range(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--start", type=number, default=None, metavar="SECONDS", help="begin at this time")
    p.add_argument("--end", type=number, default=None, metavar="SECONDS", help="stop at this time")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="process at most N frames (from --start)")


def add_fps(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--fps", type=number, default=None,
                   help="the clip's frame rate, overriding what the container or keypoint file says "
                        "(image folders: default 30)")


def add_person(p: argparse.ArgumentParser | argparse._ArgumentGroup, default: str = "all") -> None:
    p.add_argument("--person", default=default, metavar="main|all|ID[,ID]",
                   help=f"who is kept: everyone (all), the main person (main: the longest-present, largest "
                        f"one) or person ids as listed by `pose3d detect` (default {default})")


def add_height(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--height", type=number, default=None, metavar="M",
                   help="the (main) person's standing height in metres when known, e.g. 1.70: poses and "
                        "the trajectory are scaled to it (default: the lifter's own estimate)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON object describing the run on stdout (and nothing else there)")


def print_json(doc: dict[str, Any]) -> None:
    """The ``--json`` record, on one line of stdout."""
    sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()
