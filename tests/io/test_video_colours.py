"""The encoder's two input paths (4:2:0 converted in-process for even sizes, RGB piped to
ffmpeg for odd sizes) give the same colours back after a real decode."""

import numpy as np
import pytest

from pose3d_cli.io.video import VideoWriter, iter_frames, probe_video

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128), (255, 255, 255), (20, 200, 90)]


@pytest.mark.parametrize("size", [(64, 96), (63, 95)], ids=["even", "odd"])
def test_colours_survive_encode_decode(tmp_path, size):
    h, w = size
    path = tmp_path / "c.mp4"
    with VideoWriter(path, fps=10, crf=0) as writer:
        for c in COLOURS:
            writer.write(np.full((h, w, 3), c, np.uint8))
    info = probe_video(path)
    assert (info.width, info.height) == (w + w % 2, h + h % 2)
    frames = list(iter_frames(path))
    assert len(frames) == len(COLOURS)
    for frame, c in zip(frames, COLOURS):
        centre = frame[h // 2, w // 2].astype(int)
        assert np.abs(centre - np.array(c)).max() <= 3, (c, centre)
