"""``pose3d batch`` on a folder of real clips: good ones, a corrupt one, one with nobody in it;
resuming; and a run killed mid-way by a signal.

Lifting uses a small randomly initialised checkpoint (a stand-in for trained weights: these
tests check the batch mechanics, not pose quality).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pose3d_cli.batch import find_clips, is_done
from pose3d_cli.cli import main
from pose3d_cli.io.pose_file import load_poses
from pose3d_cli.io.video import probe_video, run_ffmpeg
from pose3d_cli.pipeline import output_paths

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "walk.mp4"


def _cut(src: Path, dst: Path, first: int, count: int, crop: str | None = None) -> Path:
    vf = f"select='between(n,{first},{first + count - 1})',setpts=N/30/TB" + (f",crop={crop}" if crop else "")
    run_ffmpeg(["-i", str(src), "-an", "-vf", vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(dst)])
    return dst



@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_dir):
    """good_a.mp4, sub/good_b.mp4 (cuts of the example walker), corrupt.mp4 (truncated) and
    nobody.mp4 (trees and buildings from the Sports2D demo)."""
    folder = tmp_path_factory.mktemp("clips")
    _cut(EXAMPLE, folder / "good_a.mp4", 20, 12)
    (folder / "sub").mkdir()
    _cut(EXAMPLE, folder / "sub" / "good_b.mp4", 60, 12)
    (folder / "corrupt.mp4").write_bytes(EXAMPLE.read_bytes()[:30000])
    _cut(shared_dir / "media" / "sports2d_demo.mp4", folder / "nobody.mp4", 0, 10, crop="640:300:1100:0")
    (folder / "notes.txt").write_text("not a video")
    return folder


def _summary(out: Path) -> dict:
    doc = json.loads((out / "batch_summary.json").read_text())
    return {r["clip"]: r for r in doc["results"]}


@pytest.mark.slow
def test_find_clips_skips_outputs_and_non_videos(clips, tmp_path):
    names = [p.relative_to(clips).as_posix() for p in find_clips(clips, recursive=True)]
    assert names == ["corrupt.mp4", "good_a.mp4", "nobody.mp4", "sub/good_b.mp4"]
    assert [p.name for p in find_clips(clips, pattern="good*")] == ["good_a.mp4"]


@pytest.mark.slow
def test_batch_reports_failures_and_resumes(clips, tmp_path, tiny_ckpt, capsys):
    out = tmp_path / "out"
    argv = ["batch", str(clips), "--recursive", "--out-dir", str(out), "--checkpoint", str(tiny_ckpt),
            "--export", "npz,json", "--size", "240"]
    assert main(argv) == 1  # two clips failed
    printed = capsys.readouterr().out
    rows = _summary(out)
    assert {k: v["status"] for k, v in rows.items()} == {
        "corrupt.mp4": "failed", "good_a.mp4": "done", "nobody.mp4": "failed", "sub/good_b.mp4": "done"}
    assert "corrupt" in rows["corrupt.mp4"]["error"] and "no person" in rows["nobody.mp4"]["error"]
    assert rows["good_a.mp4"]["frames"] == 12
    for line in ("good_a.mp4", "sub/good_b.mp4", "failed", "2 done, 0 skipped, 2 failed"):
        assert line in printed
    # The good clips' outputs are complete; the bad ones left nothing.
    for clip, cdir in ((clips / "good_a.mp4", out), (clips / "sub" / "good_b.mp4", out / "sub")):
        paths = output_paths(clip, out_dir=cdir, export="npz,json")
        assert is_done(cdir / f"{clip.stem}.pose3d.done.json", paths)
        assert probe_video(paths["mp4"]).num_frames == 12 == load_poses(paths["npz"]).num_frames
    assert sorted(p.name for p in out.iterdir() if "corrupt" in p.name or "nobody" in p.name) == []
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.pose3d.*")}

    # Run again: the done clips are skipped (untouched), the bad ones fail again.
    assert main(argv + ["-q"]) == 1
    rows = _summary(out)
    assert rows["good_a.mp4"]["status"] == rows["sub/good_b.mp4"]["status"] == "skipped"
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pose3d.*")} == mtimes
    # Asking for another export makes the clip not done any more.
    assert main(argv[:-4] + ["--export", "npz,bvh", "--size", "240", "--pattern", "good_a.mp4", "-q"]) == 0
    assert _summary(out)["good_a.mp4"]["status"] == "done" and (out / "good_a.pose3d.bvh").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_interrupted_batch_leaves_nothing_that_passes_for_finished(tmp_path, tiny_ckpt, sig):
    """Kill the batch while it renders: with SIGKILL (no chance to clean up) nothing passes for
    done; with SIGTERM the temporary files are removed too. The next run finishes the clip."""
    folder = tmp_path / "in"
    folder.mkdir()
    clip = _cut(EXAMPLE, folder / "walk.mp4", 0, 60)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pose3d_cli", "batch", str(folder), "--out-dir", str(out),
           "--checkpoint", str(tiny_ckpt), "--export", "npz,bvh", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and any(p.name.startswith(".walk.pose3d.mp4.tmp-") and p.suffix == ".mp4"
                                    for p in out.iterdir()):
                break  # the render is being written
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be interrupted"
        os.kill(proc.pid, sig)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    paths = output_paths(clip, out_dir=out, export="npz,bvh")
    assert not is_done(out / "walk.pose3d.done.json", paths)
    assert not paths["mp4"].exists()  # only a hidden temporary file, never the final name
    visible = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert all(p in paths.values() for p in visible)  # finished exports only (renamed into place)
    if sig == signal.SIGTERM:
        assert rc == 130  # "pose3d: interrupted"
        assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []

    assert main(["batch", str(folder), "--out-dir", str(out), "--checkpoint", str(tiny_ckpt),
                 "--export", "npz,bvh", "-q"]) == 0
    assert _summary(out)["walk.mp4"]["status"] == "done"
    assert probe_video(paths["mp4"]).num_frames == 60
    assert is_done(out / "walk.pose3d.done.json", paths)


@pytest.mark.slow
def test_parallel_jobs(clips, tmp_path, tiny_ckpt):
    out = tmp_path / "out"
    assert main(["batch", str(clips), "--recursive", "--pattern", "good*", "--jobs", "2",
                 "--out-dir", str(out), "--checkpoint", str(tiny_ckpt), "--no-render", "-q"]) == 0
    rows = _summary(out)
    assert {k: (v["status"], v["frames"]) for k, v in rows.items()} == {
        "good_a.mp4": ("done", 12), "sub/good_b.mp4": ("done", 12)}
    assert load_poses(out / "sub" / "good_b.pose3d.npz").num_frames == 12


def test_batch_bad_folder(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "missing"), "-q"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "-q"]) == 2
    assert "no videos found" in capsys.readouterr().err


@pytest.mark.slow
def test_clips_sharing_a_stem_get_their_own_outputs(tmp_path, tiny_ckpt):
    """clip.mp4 and clip.mkv in one folder: two sets of outputs, two markers, both reported."""
    folder = tmp_path / "in"
    folder.mkdir()
    _cut(EXAMPLE, folder / "clip.mp4", 0, 20)
    run_ffmpeg(["-i", str(folder / "clip.mp4"), "-c", "copy", str(folder / "clip.mkv")])
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out-dir", str(out), "--checkpoint", str(tiny_ckpt), "--no-render",
                 "--detector", "mediapipe", "-q"]) == 0
    rows = _summary(out)
    assert {k: v["status"] for k, v in rows.items()} == {"clip.mkv": "done", "clip.mp4": "done"}
    assert (out / "clip.mp4.pose3d.npz").is_file() and (out / "clip.mkv.pose3d.npz").is_file()
    assert (out / "clip.mp4.pose3d.done.json").is_file() and (out / "clip.mkv.pose3d.done.json").is_file()
    assert not (out / "clip.pose3d.npz").exists()


@pytest.mark.slow
def test_workers_die_with_a_killed_batch(tmp_path, tiny_ckpt):
    """SIGKILL to `pose3d batch --jobs 2`: its worker processes end too (none goes on writing)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _cut(EXAMPLE, folder / f"w{i}.mp4", 0, 60)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pose3d_cli", "batch", str(folder), "--out-dir", str(out), "--jobs", "2",
           "--checkpoint", str(tiny_ckpt), "--detector", "mediapipe", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
            workers = _children(proc.pid)
            time.sleep(0.2)
        assert len(workers) >= 2, "the batch did not start its workers"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "workers outlived the batch"


def _children(pid: int) -> list[int]:
    """PIDs of the spawn workers of ``pid`` (direct children running Python, not the resource tracker)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and "spawn_main" in cmdline:
            kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
