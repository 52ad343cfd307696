"""torchvision Keypoint R-CNN: the pure-torch operators and the real model code on CPU.

The real COCO weights cannot be fetched on the machines the tests run on, so the end-to-end
test runs the real model code with randomly initialised weights (its keypoints mean nothing;
the test checks shapes, ranges and the path through tracking into a KeypointTrack). The
download path is exercised against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3d_cli.errors import BackendUnavailableError, DownloadError
from pose3d_cli.keypoints.torchvision_ops import nms, roi_align

pytestmark = pytest.mark.timeout(300)


def _reference_roi_align(feat, roi, scale, ph, pw, sr, aligned):
    """Direct loops over bins and samples, following torchvision's C++ kernel (tiny sizes only)."""
    c, h, w = feat.shape[1:]
    b = int(roi[0])
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * scale - off for v in roi[1:])
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bw, bh = rw / pw, rh / ph
    gh = sr if sr > 0 else int(np.ceil(rh / ph))
    gw = sr if sr > 0 else int(np.ceil(rw / pw))
    out = np.zeros((c, ph, pw))
    f = feat[b].numpy().astype(np.float64)
    for py in range(ph):
        for px in range(pw):
            acc = np.zeros(c)
            for iy in range(gh):
                for ix in range(gw):
                    y = y1 + py * bh + (iy + 0.5) * bh / gh
                    x = x1 + px * bw + (ix + 0.5) * bw / gw
                    if y < -1 or y > h or x < -1 or x > w:
                        continue
                    y, x = max(y, 0.0), max(x, 0.0)
                    yl, xl = int(y), int(x)
                    if yl >= h - 1:
                        yl = yh = h - 1
                        y = float(yl)
                    else:
                        yh = yl + 1
                    if xl >= w - 1:
                        xl = xh = w - 1
                        x = float(xl)
                    else:
                        xh = xl + 1
                    ly, lx = y - yl, x - xl
                    acc += ((1 - ly) * (1 - lx) * f[:, yl, xl] + (1 - ly) * lx * f[:, yl, xh]
                            + ly * (1 - lx) * f[:, yh, xl] + ly * lx * f[:, yh, xh])
            out[:, py, px] = acc / max(gh * gw, 1)
    return out


@pytest.mark.parametrize("sr,aligned", [(2, True), (2, False), (0, True), (0, False)])
def test_roi_align_matches_the_kernel_definition(sr, aligned):
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, 9, 13, generator=g)
    rois = torch.tensor([[0, 1.2, 2.5, 15.3, 14.1], [1, -3.0, -2.0, 30.0, 21.0], [0, 5, 5, 5.4, 5.2],
                         [1, 24.0, 16.0, 26.5, 18.0]])
    got = roi_align(feat, rois, 0.5, 4, 3, sr, aligned)
    assert got.shape == (4, 3, 4, 3)
    for k in range(len(rois)):
        np.testing.assert_allclose(got[k].numpy(), _reference_roi_align(feat, rois[k], 0.5, 4, 3, sr, aligned),
                                   atol=1e-5)


def test_nms_matches_greedy_definition():
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 40], 1)
    scores = torch.rand(200, generator=g)
    keep = nms(boxes, scores, 0.5).tolist()
    # definition: walk by score; keep a box unless IoU > 0.5 with a kept one
    def iou(a, b):
        lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
        inter = np.prod(np.clip(rb - lt, 0, None))
        return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    want = []
    for i in np.argsort(-scores.numpy(), kind="stable"):
        if all(iou(boxes[i].numpy(), boxes[j].numpy()) <= 0.5 for j in want):
            want.append(int(i))
    assert keep == want
    assert nms(boxes[:0], scores[:0], 0.5).shape == (0,)


@pytest.fixture(scope="module")
def tv():
    from pose3d_cli.keypoints.torchvision_backend import check_available

    try:
        return check_available()
    except BackendUnavailableError as exc:
        pytest.skip(f"torchvision not installed here: {exc}")


@pytest.mark.slow
def test_keypoint_rcnn_runs_end_to_end_on_cpu(tv, vtest_walker_mp4):
    """Real model code, random weights (the real ones cannot be fetched here), real frames."""
    from pose3d_cli.keypoints import detect_video, get_detector

    torch.manual_seed(0)
    det = get_detector("torchvision", "cpu", weights="random", min_box_score=0.0, min_size=96, max_size=128,
                       max_people=3)
    assert det.batch_size == 1 and "random-init" in det.version
    try:
        # random weights score every box alike: let any box start a person, and accept 2 frames
        track = detect_video(vtest_walker_mp4, detector=det, progress=False, end=2, min_presence=0, min_frames=0,
                             tracking={"high_score": 0.0})
    finally:
        det.close()
    assert track.num_frames == 2 and track.keypoints_px.shape == (2, 17, 2)
    assert track.detector == "torchvision" and np.isfinite(track.keypoints_px).all()
    assert ((track.scores >= 0) & (track.scores <= 1)).all()
    assert not track.filled_frames.all()
    present = ~track.filled_frames
    boxes = track.boxes[present]
    assert (boxes[:, 0] >= -1).all() and (boxes[:, 2] <= track.width + 1).all()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: _Quiet(*a, directory=str(root), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_weights_download_errors(tv, http_root, tmp_path):
    from pose3d_cli.keypoints.torchvision_backend import (
        TorchvisionDetector,
        detector_cache_dir,
        fetch_weights,
    )

    root, base = http_root
    with pytest.raises(DownloadError, match="cannot fetch the Keypoint R-CNN weights"):
        fetch_weights(f"{base}/missing-0123abcd.pth", progress=False)
    payload = b"not really weights"
    (root / "wrong-deadbeef.pth").write_bytes(payload)
    with pytest.raises(DownloadError, match="checksum"):
        fetch_weights(f"{base}/wrong-deadbeef.pth", progress=False)
    assert not (detector_cache_dir() / "wrong-deadbeef.pth").exists()
    # a file whose checksum matches its name lands in the pose3d cache, then fails to load as weights
    digest = hashlib.sha256(payload).hexdigest()[:8]
    name = f"kprcnn-{digest}.pth"
    (root / name).write_bytes(payload)
    path = fetch_weights(f"{base}/{name}", progress=False)
    assert path == detector_cache_dir() / name and Path(path).read_bytes() == payload
    assert str(detector_cache_dir()).startswith(str(tmp_path.parent.parent))  # the test's own POSE3D_HOME
    with pytest.raises(BackendUnavailableError, match="not Keypoint R-CNN R50-FPN weights"):
        TorchvisionDetector(weights="coco", weights_url=f"{base}/{name}", progress=False)
