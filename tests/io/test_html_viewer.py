"""The HTML viewer opened in a real browser: headless Chromium (Debian's ``chromium``) loads the
file from disk, draws the skeletons, and logs nothing to the console. Skipped where no Chromium
is installed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from pose3d_cli.io.html_viewer import CAMERA_AZIMUTH_DEG, render_html, write_html

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")
BACKGROUND = np.array([21, 24, 29])  # the viewer's background colour (RGB)


def _chromium(tmp_path, url: str, *mode: str) -> tuple[str, str]:
    """Run headless Chromium on ``url`` with ``mode`` flags; return (stdout, stderr)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--window-size=900,600", *mode, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return proc.stdout, proc.stderr


def _body(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'(data-[a-z]+)="([^"]*)"', tag.group(1)))


def _console(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@pytest.fixture(scope="module")
def page(two_people, tmp_path_factory):
    return write_html(tmp_path_factory.mktemp("html") / "clip.pose3d.html", two_people)


def test_page_is_self_contained_and_holds_the_poses(two_people, page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|https?://|@import", text)  # nothing fetched
    assert len(text) < 200_000  # 240 frames of two people
    data = json.loads(re.search(r'id="pose3d-data">(.*?)</script>', text, re.DOTALL).group(1))
    assert [p["id"] for p in data["people"]] == [1, 4] and data["num_frames"] == 240
    p4 = data["people"][1]
    raw = np.frombuffer(base64.b64decode(p4["data"]), "<i2").reshape(p4["count"], 17, 3)
    assert (p4["first"], p4["count"]) == (40, 200)
    present = two_people.people_present[1, 40:]
    assert (raw[~present] == -32768).all()
    # No trajectory model: the people stand side by side as in the render's 3D panel.
    from pose3d_cli.geometry.display import arrange_people

    shown = arrange_people(two_people.people_poses_3d_world, two_people.people_keypoints_px, CAMERA_AZIMUTH_DEG)
    np.testing.assert_allclose(raw[present] * data["unit_m"], shown[1, 40:][present], atol=5.1e-4)


def test_people_with_a_trajectory_keep_their_world_positions(two_people):
    from dataclasses import replace

    traj = np.zeros(two_people.people_present.shape + (3,), np.float32)
    placed = replace(two_people, people_trajectory_world=traj)
    data = json.loads(re.search(r'id="pose3d-data">(.*?)</script>', render_html(placed), re.DOTALL).group(1))
    p4 = data["people"][1]
    raw = np.frombuffer(base64.b64decode(p4["data"]), "<i2").reshape(p4["count"], 17, 3)
    present = placed.people_present[1, 40:]
    np.testing.assert_allclose(raw[present] * data["unit_m"], placed.people_poses_3d_world[1, 40:][present],
                               atol=5.1e-4)


def test_title_cannot_break_out_of_the_page(two_people):
    text = render_html(two_people, title='</script><script>alert(1)</script>')
    assert "<script>alert(1)" not in text and text.count("</script>") == 2


def test_camera_azimuth_matches_the_world_frame():
    """The viewer starts where the video's camera was: the horizontal direction from the subject
    to the camera of the in-the-wild world frame."""
    from pose3d_cli.geometry.camera import camera_to_world_wild

    pts = np.asarray(camera_to_world_wild(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], np.float32)))
    axis = pts[0] - pts[1]
    assert np.degrees(np.arctan2(-axis[1], -axis[0])) == pytest.approx(CAMERA_AZIMUTH_DEG, abs=0.5)


@pytest.mark.slow
@needs_chromium
def test_chromium_draws_the_viewer_without_errors(page, tmp_path):
    dom, err = _chromium(tmp_path, page.as_uri() + "#frame=60&paused", "--virtual-time-budget=1500",
                         "--dump-dom")
    attrs = _body(dom)
    assert "data-error" not in attrs and _console(err) == []
    assert int(attrs["data-drawn"]) >= 1 and attrs["data-frame"] == "60"
    assert int(attrs["data-painted"]) > 3000  # grid, skeletons, shadows, labels
    assert "t = 1.40 s · frame 70 · 2 people" in dom  # video frame 10 + 60 at 50 fps

    png = tmp_path / "shot.png"
    _, err = _chromium(tmp_path, page.as_uri() + "#frame=60&paused", f"--screenshot={png}")
    assert _console(err) == []
    import cv2

    rgb = cv2.imread(str(png))[..., ::-1].astype(int)
    canvas = rgb[:-50]  # above the control bar
    drawn = np.abs(canvas - BACKGROUND).sum(-1) > 30
    assert drawn.mean() > 0.01
    blue = (np.abs(canvas - [76, 141, 255]).sum(-1) < 40).sum()  # the subjects' left sides
    red = (np.abs(canvas - [255, 90, 90]).sum(-1) < 40).sum()  # the right sides
    assert blue > 100 and red > 100


@pytest.mark.slow
@needs_chromium
def test_console_check_sees_errors(page, tmp_path):
    """The checks above can fail: a page that throws is caught both ways."""
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text(encoding="utf-8").replace(
        "  var T = D.num_frames", "  setTimeout(function () { notDefined(); }, 0);\n  var T = D.num_frames"),
        encoding="utf-8")
    dom, err = _chromium(tmp_path, broken.as_uri(), "--virtual-time-budget=1000", "--dump-dom")
    assert "notDefined" in _body(dom).get("data-error", "")
    assert any("notDefined" in ln for ln in _console(err))
