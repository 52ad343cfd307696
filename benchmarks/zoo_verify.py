"""What verification costs: accepting a 243-frame checkpoint against loading it plainly.

Every load of a registry model hashes the file and loads it once more to check its
architecture (the caller then loads it again to use it). This script builds a stand-in file
with the published 243-frame architecture (1024 channels, random weights, the published dict
layout), then times, on the same file in the same run:

- ``load_checkpoint``            the baseline: what a caller pays anyway
- ``sha256``                     hashing the file
- ``verify_file`` (first)        size + sha256 + safe load + architecture check
- ``verify_file`` (again)        the same file in the same process (remembered)
- ``download`` from 127.0.0.1    stream + verify + rename, served by a local ``http.server``

Run: ``nice python benchmarks/zoo_verify.py [--repeats 3]``. Prints a table of median seconds
and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path


def _make_file(path: Path) -> None:
    """A 243-frame file written as the published ones were (legacy torch format, numpy 1.x names,
    the pickled RandomState object run.py saves)."""
    import torch

    from pose3d_cli.lifting.checkpoint import save_videopose3d_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel

    torch.manual_seed(0)
    model = TemporalModel(ArchSpec(filter_widths=(3, 3, 3, 3, 3), channels=1024))
    save_videopose3d_checkpoint(path, model, epoch=80, legacy_format=True, old_numpy=True)


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["POSE3D_HOME"] = str(tmp_path / "cache")
        serve = tmp_path / "serve"
        serve.mkdir()
        src = serve / "pretrained_h36m_detectron_coco.bin"
        _make_file(src)

        from pose3d_cli.lifting.checkpoint import load_checkpoint
        from pose3d_cli.paths import checkpoints_dir
        from pose3d_cli.zoo.cache import sha256_file
        from pose3d_cli.zoo.download import download
        from pose3d_cli.zoo.registry import load_registry
        from pose3d_cli.zoo.verify import forget_verified, verify_file

        entry = load_registry().get("videopose3d-243f.h36m-detectron-coco")

        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(serve))
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        os.environ["POSE3D_MODEL_URL"] = f"http://127.0.0.1:{httpd.server_address[1]}"

        def fetch() -> None:
            for p in checkpoints_dir().glob("*"):
                p.unlink()
            from pose3d_cli.paths import trust_file
            trust_file().unlink(missing_ok=True)
            forget_verified()
            with open(os.devnull, "w") as sink:
                download(entry, quiet=True, stream=sink)

        def verify_cold() -> None:
            forget_verified()
            verify_file(src, entry)

        verify_file(src, entry)  # warm the file cache and torch once
        rows = [
            ("load_checkpoint (baseline)", _median_s(lambda: load_checkpoint(src), args.repeats)),
            ("sha256", _median_s(lambda: sha256_file(src), args.repeats)),
            ("verify_file, first in process", _median_s(verify_cold, args.repeats)),
            ("verify_file, again (remembered)", _median_s(lambda: verify_file(src, entry), args.repeats)),
            ("download from 127.0.0.1 + verify", _median_s(fetch, args.repeats)),
        ]
        httpd.shutdown()
        size_mb = src.stat().st_size / 1e6

    base = rows[0][1]
    print(f"243-frame stand-in checkpoint, {size_mb:.1f} MB; median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'step':<36}{'seconds':>10}{'x baseline':>12}")
    for name, sec in rows:
        print(f"{name:<36}{sec:>10.3f}{sec / base:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
