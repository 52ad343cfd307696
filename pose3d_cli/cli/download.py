"""``pose3d download NAME... | --all``: fetch published checkpoints into the cache, verified.

A file already cached is checked (size, sha256, architecture) instead of fetched again. With
``POSE3D_MODEL_URL=BASE`` the file named F comes from ``BASE/F``.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "download", help="download published checkpoints into the cache",
        description="Download published lifter checkpoints, verify them (size, sha256, safe "
                    "load, architecture) and keep them in the cache ($POSE3D_HOME, else "
                    "$XDG_CACHE_HOME/pose3d, else ~/.cache/pose3d). Set POSE3D_MODEL_URL=BASE "
                    "to fetch BASE/<file name> from a mirror instead.")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names (see `pose3d models`)")
    p.add_argument("--all", action="store_true", help="every published model in the registry")
    p.add_argument("--force", action="store_true",
                   help="download again even when a verified copy is cached")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for the server at each step (default: "
                        "$POSE3D_DOWNLOAD_TIMEOUT or 30)")
    return p


def run(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import InputError, Pose3DError
    from pose3d_cli.zoo.card import human_size
    from pose3d_cli.zoo.download import check_timeout, download
    from pose3d_cli.zoo.registry import load_registry

    registry = load_registry()
    if args.all and args.names:
        raise InputError("give model names or --all, not both")
    if args.timeout is not None:
        check_timeout(args.timeout, "--timeout")
    if args.all:
        entries = [e for e in registry if e.downloadable]
    elif args.names:
        entries = [registry.get(n) for n in args.names]
    else:
        raise InputError("name at least one model to download (see `pose3d models`), or pass --all")
    for entry in entries:
        if not entry.downloadable:
            raise InputError(f"{entry.name} is a {entry.kind} model and has nothing to download; "
                             f"use it by name with --checkpoint {entry.name}")

    failures: list[Pose3DError] = []
    for entry in entries:
        try:
            result = download(entry, quiet=args.quiet, force=args.force, timeout_s=args.timeout)
        except Pose3DError as exc:
            if len(entries) == 1:
                raise
            print(f"pose3d: error: {exc}", file=sys.stderr)
            failures.append(exc)
            continue
        how = "downloaded" if result.fetched else "already cached"
        print(f"{entry.name}: {how}, verified: {result.path} "
              f"({human_size(result.path.stat().st_size)}, sha256 {result.sha256})")
    if failures:
        print(f"pose3d: {len(failures)} of {len(entries)} downloads failed", file=sys.stderr)
        return failures[0].exit_code
    return 0
