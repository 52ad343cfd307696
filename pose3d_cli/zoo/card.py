"""Model cards: a registry entry rendered as Markdown.

``pose3d models info NAME`` prints the card with the local state (cached or not, the recorded
checksum); the files ``models/<name>.md`` in the repository are the same cards without local
state, written with ``python -m pose3d_cli.zoo.card models/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pose3d_cli.zoo.registry import INPUT_SOURCES, ModelEntry, Registry, load_registry

_KIND_TEXT = {
    "published": "published checkpoint, downloaded on demand",
    "builtin": "shipped inside the pose3d package (works with no network)",
    "user": "added by the user with `pose3d models add`",
}
NOTES_HEADING = "## Notes"
_OUTPUT_TEXT = ("3D joint positions in metres, camera frame (x right, y down, z forward), "
                "root-relative as trained (the root joint comes out near, not at, the origin)")


def human_size(n_bytes: int | None) -> str:
    """``"64.9 MB"``-style size (powers of 1000), ``"?"`` when unknown."""
    if n_bytes is None:
        return "?"
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n_bytes} B"


def checksum_text(entry: ModelEntry, record: dict | None = None) -> str:
    """How the file's integrity is established, said plainly."""
    if entry.sha256 is not None:
        origin = "published with the registry" if entry.kind == "published" else (
            "recorded when the file was added" if entry.kind == "user" else
            "recorded when the file was built")
        return f"`{entry.sha256}` ({origin}; checked on every load)"
    if entry.kind != "published":
        return "none recorded (the file is checked by loading it)"
    base = ("not published — **trust on first use**: the first verified download records the "
            "sha256 and every later load and download must match it")
    if record is not None:
        when = record.get("recorded_utc", "?")
        src = record.get("url") or "a file found in the cache"
        return (f"`{record['sha256']}` — **trust on first use**: not published, recorded at the "
                f"first verified download ({when}, from {src}); every later load must match it")
    return base


def render_card(entry: ModelEntry, registry: Registry | None = None, local: bool = True) -> str:
    """The Markdown card of ``entry``; ``local`` adds the cache state of this machine."""
    from pose3d_cli.zoo.cache import cached_path, trusted_record

    record = trusted_record(entry.file_name) if (local and entry.kind == "published") else None
    arch = entry.arch
    arch_text = (f"temporal convolutional lifter, filter widths {','.join(map(str, arch.filter_widths))} "
                 f"({len(arch.filter_widths) - 1} residual blocks), receptive field "
                 f"{entry.receptive_field} frames, "
                 + (f"{arch.channels} channels" if arch.channels is not None
                    else "channel width not stated (read from the file, not checked)")
                 + f", {'causal' if arch.causal else 'non-causal (symmetric)'}")
    source = INPUT_SOURCES.get(entry.input_source, entry.input_source)
    rows = [
        ("kind", _KIND_TEXT.get(entry.kind, entry.kind)),
        ("status", entry.status),
        ("file", f"`{entry.file_name}`"),
    ]
    if entry.urls:
        rows.append(("URL", ", ".join(f"<{u}>" for u in entry.urls)))
    rows += [
        ("size", human_size(entry.size) + (f" ({entry.size} bytes)" if entry.size else
                                           " (not published)" if entry.kind == "published" else "")),
        ("sha256", checksum_text(entry, record)),
        ("architecture", arch_text),
        ("input", (f"`{entry.layout_in}` ({entry.joints_in} joints), {source}: "
                   f"{entry.input_description}")),
        ("output", f"`{entry.layout_out}` ({entry.joints_out} joints), {_OUTPUT_TEXT}"),
        ("trained on", entry.trained_on or "not stated"),
    ]
    if entry.reported_error:
        label = "measured error" if entry.kind != "published" else "reported error"
        for r in entry.reported_error:
            note = f" — {r.note}" if r.note else ""
            rows.append((label, f"{r.summary()} on {r.benchmark}{note}"))
    else:
        rows.append(("reported error", "none yet"))
    rows += [
        ("licence", entry.licence + (f" (<{entry.licence_url}>)" if entry.licence_url else "")),
        ("origin", entry.origin or "not stated"),
    ]
    if local:
        path = cached_path(entry)
        rows.append(("on this machine", f"present at `{path}`" if path.is_file() else
                     f"not present (would be `{path}`)"))
    if registry is not None:
        if entry.name == registry.default_name:
            rows.append(("default", "the recommended model: the default once it is cached"))
        elif entry.name == registry.builtin_name:
            rows.append(("default", "the default while the recommended model is not cached"))
        elif (entry.arch.causal and not registry.default.arch.causal
              and registry.builtin_for(causal=True) is entry):
            rows.append(("default", "the default of `--causal` (no published model is causal)"))

    lines = [f"# {entry.name}", "", entry.description, "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "## Use", "", "```"]
    if entry.downloadable:
        lines.append(f"pose3d download {entry.name}")
    lines.append(f"pose3d infer VIDEO {'--causal ' if entry.arch.causal else ''}--checkpoint {entry.name}")
    lines += ["```", ""]
    return "\n".join(lines)


def write_cards(folder: Path, registry: Registry | None = None) -> list[Path]:
    """Write ``<folder>/<name>.md`` for every shipped entry (no local state); return the paths."""
    registry = registry or load_registry(include_user=False)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in registry:
        path = folder / f"{entry.name}.md"
        notes = ""
        if path.is_file():  # keep the hand-written part: everything from "## Notes" on
            old = path.read_text(encoding="utf-8")
            at = old.find(NOTES_HEADING)
            notes = old[at:] if at >= 0 else ""
        text = render_card(entry, registry, local=False)
        path.write_text(text + ("\n" + notes if notes else ""), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m pose3d_cli.zoo.card models/
    for p in write_cards(Path(sys.argv[1] if len(sys.argv) > 1 else "models")):
        print(p)
