"""The ``pose3d`` command line: one subcommand per module, each a thin layer over the library.

Every subcommand module defines ``add_parser(subparsers)`` (which registers its parser and sets
``func``) and ``run(args) -> int``. Errors derived from :class:`pose3d_cli.errors.Pose3DError`
are printed as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from pose3d_cli import __version__
from pose3d_cli.errors import Pose3DError

SUBCOMMANDS = ("infer", "batch", "detect", "lift", "export", "train", "evaluate", "dataset", "models", "download")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pose3d",
        description="Video of a person in, 3D skeleton out (VideoPose3D temporal lifter).")
    parser.add_argument("--version", action="version", version=f"pose3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"pose3d_cli.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand whose optional module is absent
            if exc.name != f"pose3d_cli.cli.{name}":
                raise
            continue
        p = module.add_parser(sub)
        p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars, only errors")
        p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except Pose3DError as exc:
        if args.debug:
            raise
        print(f"pose3d: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("pose3d: interrupted", file=sys.stderr)
        return 130
