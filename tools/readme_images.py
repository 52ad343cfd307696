"""Make the README's pictures: the HTML viewer and the side-by-side render of the example clip.

    python tools/readme_images.py [--video examples/walk.mp4] [--frame 48] [--out-dir docs/img]
    python tools/readme_images.py --video ../shared/media/vtest.avi --limit 100 --frame 60 \
        --name people        # the multi-person pictures: people_viewer.png, people_render.png

Runs ``pose3d infer`` on the clip (render and ``--export html``) in a temporary folder, takes a
screenshot of the viewer with headless Chromium (Debian's ``chromium``) and grabs the same frame
of the render; both are written as palette PNGs (< 200 kB each):
``docs/img/viewer.png`` and ``docs/img/render.png``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def save_small_png(rgb, path: Path, width: int) -> None:
    """Resize to ``width`` pixels and store with a 256-colour palette."""
    from PIL import Image

    img = Image.fromarray(rgb)
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=REPO / "examples" / "walk.mp4")
    ap.add_argument("--frame", type=int, default=48, help="frame of the clip shown in both pictures")
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--start", type=float, default=None, help="seconds into the clip to begin")
    ap.add_argument("--limit", type=int, default=None, help="frames to process")
    ap.add_argument("--name", default="", help="prefix of the picture names (NAME_viewer.png, NAME_render.png)")
    args = ap.parse_args()
    prefix = f"{args.name}_" if args.name else ""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium (apt-get install chromium)")

    import numpy as np

    from pose3d_cli.io.video import iter_frames
    from pose3d_cli.pipeline import infer_video

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result = infer_video(args.video, out_dir=tmp, export=("npz", "html"), start=args.start, limit=args.limit,
                             quiet=True)
        shot = tmp / "viewer.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={tmp / 'profile'}", "--hide-scrollbars", "--window-size=960,600",
                        f"--screenshot={shot}", result.paths["html"].as_uri() + f"#frame={args.frame}&paused"],
                       check=True, capture_output=True, timeout=120)
        from PIL import Image

        save_small_png(np.asarray(Image.open(shot).convert("RGB")), args.out_dir / f"{prefix}viewer.png", 960)
        frame = next(iter(iter_frames(result.paths["mp4"], args.frame, args.frame + 1)))  # RGB
        save_small_png(np.asarray(frame), args.out_dir / f"{prefix}render.png", 960)
    for name in (f"{prefix}viewer.png", f"{prefix}render.png"):
        p = args.out_dir / name
        print(f"wrote {p} ({p.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
