"""``pose3d models``: list the checkpoint registry, show a model card, add a file you have.

    pose3d models [--json]            table: name, receptive field, input, size, cached, licence
    pose3d models info NAME [--json]  the model card (says when the checksum is trust-on-first-use)
    pose3d models add NAME PATH       register a checkpoint file (a published name: copy it into
                                      the cache after verifying it; a new name: a user entry)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_SOURCE_SHORT = {"detectron": "Detectron", "cpn": "CPN", "ground-truth": "GT 2D",
                 "mocap-noisy": "mocap+noise", "unknown": "?"}


def _common_flags() -> argparse.ArgumentParser:
    # The CLI frame adds --debug/--quiet to `models`; the actions below accept them too, after
    # the action name. SUPPRESS keeps a flag given before the action from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logging")
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars, only errors")
    return common


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models", help="list, describe and add lifter checkpoints",
        description="List the checkpoint registry (default), show a model card, or register a "
                    "checkpoint file you already have. The cache is $POSE3D_HOME, else "
                    "$XDG_CACHE_HOME/pose3d, else ~/.cache/pose3d.")
    p.add_argument("--json", action="store_true", help="print the registry as JSON")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    common = _common_flags()
    info = actions.add_parser("info", parents=[common], help="show the model card of NAME")
    info.add_argument("name", metavar="NAME", help="model name (see `pose3d models`)")
    info.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                      help="print the entry as JSON")
    add = actions.add_parser(
        "add", parents=[common], help="register a checkpoint file you already have",
        description="With the name of a published model: verify PATH (size, checksum, "
                    "architecture) and copy it into the cache, as a download would. With a new "
                    "name: record PATH and its sha256 as a user entry (the file stays where it is "
                    "and must not change).")
    add.add_argument("name", metavar="NAME", help="a published model name, or a new name (arch.tag)")
    add.add_argument("path", metavar="PATH", type=Path, help="the checkpoint file")
    add.add_argument("--layout-in", default=None,
                     help="joint layout of the 2D input (default: what the file says, else coco17)")
    add.add_argument("--layout-out", default=None,
                     help="joint layout of the 3D output (default: what the file says, else h36m17)")
    add.add_argument("--licence", default="unknown", help="licence of the weights, for the card")
    add.add_argument("--description", default="", help="one sentence for the card")
    return p


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "models_action", None)
    if action == "info":
        return _info(args)
    if action == "add":
        return _add(args)
    return _list(args)


def _entry_state(entry) -> tuple[str, int | None]:
    """``(cached column text, size in bytes or None)`` for one entry."""
    from pose3d_cli.zoo.cache import cached_path

    path = cached_path(entry)
    present = path.is_file()
    size = entry.size if entry.size is not None else (path.stat().st_size if present else None)
    if entry.kind == "builtin":
        return ("built-in" if present else "not yet trained" if entry.status != "available"
                else "missing"), size
    if entry.kind == "user":
        return ("user file" if present else "missing"), size
    return ("yes" if present else "no"), size


def _list(args: argparse.Namespace) -> int:
    from pose3d_cli.errors import CheckpointError
    from pose3d_cli.paths import cache_dir
    from pose3d_cli.zoo import default_checkpoint_name
    from pose3d_cli.zoo.cache import cached_path
    from pose3d_cli.zoo.card import human_size
    from pose3d_cli.zoo.registry import load_registry

    registry = load_registry()
    default = default_checkpoint_name(registry)
    try:
        default_causal = default_checkpoint_name(registry, causal=True)
    except CheckpointError:
        default_causal = None
    if args.json:
        models = []
        for entry in registry:
            state, size = _entry_state(entry)
            path = cached_path(entry)
            models.append({**entry.to_dict(), "cached": path.is_file(), "state": state,
                           "local_path": str(path), "local_size": size,
                           "default": entry.name == default,
                           "default_causal": entry.name == default_causal,
                           "recommended": entry.name == registry.default_name})
        print(json.dumps({"cache": str(cache_dir()), "default": default,
                          "default_causal": default_causal,
                          "recommended": registry.default_name, "models": models}, indent=2))
        return 0
    header = ("NAME", "RF", "INPUT", "SIZE", "CACHED", "LICENCE")
    rows = []
    for entry in registry:
        state, size = _entry_state(entry)
        mark = "*" if entry.name == default else "+" if entry.name == default_causal else " "
        rows.append((f"{mark} {entry.name}", str(entry.receptive_field),
                     f"{entry.layout_in} ({_SOURCE_SHORT.get(entry.input_source, entry.input_source)})",
                     human_size(size), state, entry.licence))
    widths = [max(len(r[i]) for r in rows + [("  " + header[0],) + header[1:]]) for i in range(6)]
    fmt = "  ".join(f"{{:{'>' if i in (1, 3) else '<'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format("  " + header[0], *header[1:]).rstrip())
    for r in rows:
        print(fmt.format(*r).rstrip())
    causal_text = f"   + --causal: {default_causal}" if default_causal else ""
    print(f"\n* default: {default}{causal_text}   recommended: {registry.default_name}   "
          f"cache: {cache_dir()}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from pose3d_cli.zoo.cache import cached_path, trusted_record
    from pose3d_cli.zoo.card import render_card
    from pose3d_cli.zoo.registry import load_registry

    registry = load_registry()
    entry = registry.get(args.name)
    if getattr(args, "json", False):
        record = trusted_record(entry.file_name) if entry.kind == "published" else None
        path = cached_path(entry)
        print(json.dumps({**entry.to_dict(), "cached": path.is_file(), "local_path": str(path),
                          "trust_on_first_use": entry.sha256 is None and entry.kind == "published",
                          "trusted_record": record}, indent=2))
        return 0
    print(render_card(entry, registry, local=True))
    return 0


def _add(args: argparse.Namespace) -> int:
    from pose3d_cli.zoo.add import add_model

    added = add_model(args.name, args.path, layout_in=args.layout_in, layout_out=args.layout_out,
                      licence=args.licence, description=args.description)
    print(added.message)
    return 0
