"""``pose3d batch --engine ray`` on a real Ray cluster, and a Ray worker killed mid-clip.

Ray advertises the machine's network address even when told 127.0.0.1, so these tests run
Ray in a namespace of its own that has only loopback: a network namespace (``unshare --net``,
then ``ip link set lo up``), with its own process-id namespace and /proc, so ``ray stop`` sees
(and stops) only the processes started here, and everything in it is killed when the
namespace's first process exits (at the end of the module, or if pytest itself dies). Needs
root, ``unshare``, ``nsenter``, ``ip`` and the ``ray`` extra (``pip install "pose3d-cli[ray]"``);
otherwise the Ray tests skip. Commands enter the namespace with ``nsenter``.

Clips are real cuts of the example walker (and one truncated file) decoded by real ffmpeg;
the lifter is the small random ``tiny_ckpt`` (these tests check the batch mechanics, not pose
quality) and the detector is MediaPipe (the fastest backend here).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pose3d_cli.batch import is_done
from pose3d_cli.cli import main
from pose3d_cli.io.pose_file import load_poses
from pose3d_cli.io.video import probe_video, run_ffmpeg
from pose3d_cli.pipeline import output_paths

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "walk.mp4"
RAY_CLI = Path(sys.executable).with_name("ray")
PORT = 6379  # the namespace has its own ports: nothing else can hold this one


def _cut(src: Path, dst: Path, first: int, count: int) -> Path:
    vf = f"select='between(n,{first},{first + count - 1})',setpts=N/30/TB"
    run_ffmpeg(["-i", str(src), "-an", "-vf", vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(dst)])
    return dst


def _summary(out: Path) -> dict:
    doc = json.loads((out / "batch_summary.json").read_text())
    assert doc["engine"] == "ray"
    return {r["clip"]: r for r in doc["results"]}


def test_engine_ray_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    """Without the extra, --engine ray is a one-line error naming the install command (exit 3).
    Ray's absence is simulated by blocking its import (sys.modules entry None), the way Python
    reports a missing module."""
    (tmp_path / "clip.mp4").write_bytes(b"never decoded")
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["batch", str(tmp_path), "--engine", "ray", "-q"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pose3d: error: --engine ray needs Ray")
    assert 'pip install "pose3d-cli[ray]"' in err


# --------------------------------------------------------------------------------------------
# A loopback-only namespace


class Namespace:
    """A network + process-id + mount namespace held open by one shell (its first process)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "bash", "-c",
             "ip link set lo up && echo ready && read -r _"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.holder.stdout.readline().strip()
        if line != "ready":
            err = self.holder.stderr.read() if self.holder.poll() is not None else ""
            self.close()
            pytest.skip(f"cannot make a loopback-only namespace here: {err.strip() or line!r}")
        children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text().split()
        self.pid = int(children[0])  # the shell inside, process 1 of the namespace

    def command(self, *args: str | os.PathLike) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "--net", "--pid", "--mount", "--", *map(str, args)]

    def run(self, *args: str | os.PathLike, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), check=False, cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def close(self) -> None:
        """End the namespace's first process: the kernel then kills every process left in it."""
        if self.holder.poll() is None:
            self.holder.stdin.close()
            try:
                self.holder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    if importlib.util.find_spec("ray") is None or not RAY_CLI.is_file():
        pytest.skip('Ray is not installed (pip install "pose3d-cli[ray]")')
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found")
    # Ray's sockets and logs go under $RAY_TMPDIR/ray: a short path of our own (Unix socket
    # paths are limited to 107 bytes), removed at the end.
    ray_tmp = Path(tempfile.mkdtemp(prefix="p3ray-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(ray_tmp),
           "POSE3D_HOME": str(tmp_path_factory.mktemp("ray_pose3d_home"))}
    ns = Namespace(env)
    yield ns
    ns.close()
    shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(netns):
    """A one-node Ray cluster (2 CPUs) on 127.0.0.1 inside the namespace: its address."""
    started = netns.run(RAY_CLI, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", PORT,
                        "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats")
    assert started.returncode == 0, started.stderr[-3000:]
    yield f"127.0.0.1:{PORT}"
    stopped = netns.run(RAY_CLI, "stop", timeout=120)
    assert stopped.returncode == 0, stopped.stderr[-2000:]


@pytest.fixture(scope="module")
def ray_clips(tmp_path_factory):
    """good_a.mp4, sub/good_b.mp4 (12-frame cuts of the example walker) and corrupt.mp4 (truncated)."""
    folder = tmp_path_factory.mktemp("ray_clips")
    _cut(EXAMPLE, folder / "good_a.mp4", 20, 12)
    (folder / "sub").mkdir()
    _cut(EXAMPLE, folder / "sub" / "good_b.mp4", 60, 12)
    (folder / "corrupt.mp4").write_bytes(EXAMPLE.read_bytes()[:30000])
    return folder


def _batch(netns, *args) -> subprocess.CompletedProcess:
    return netns.run(sys.executable, "-m", "pose3d_cli", "batch", *args, timeout=240)


@pytest.mark.slow
def test_batch_on_a_ray_cluster_reports_failures_and_resumes(netns, ray_cluster, ray_clips, tmp_path, tiny_ckpt):
    out = tmp_path / "out"
    argv = [ray_clips, "--recursive", "--engine", "ray", "--ray-address", ray_cluster, "--jobs", "2",
            "--out-dir", out, "--checkpoint", tiny_ckpt, "--detector", "mediapipe", "--no-render",
            "--export", "npz,json"]
    first = _batch(netns, *argv)
    assert first.returncode == 1, first.stderr[-3000:]  # the corrupt clip failed
    rows = _summary(out)
    assert {k: (v["status"], v["frames"], v["attempts"]) for k, v in rows.items()} == {
        "corrupt.mp4": ("failed", 0, 1), "good_a.mp4": ("done", 12, 1), "sub/good_b.mp4": ("done", 12, 1)}
    assert "corrupt" in rows["corrupt.mp4"]["error"]
    for line in ("good_a.mp4", "sub/good_b.mp4", "2 done, 0 skipped, 1 failed"):
        assert line in first.stdout
    for clip, cdir in ((ray_clips / "good_a.mp4", out), (ray_clips / "sub" / "good_b.mp4", out / "sub")):
        paths = output_paths(clip, out_dir=cdir, export="npz,json", render=False)
        assert is_done(cdir / f"{clip.stem}.pose3d.done.json", paths)
        assert load_poses(paths["npz"]).num_frames == 12
    assert [p.name for p in out.iterdir() if "corrupt" in p.name] == []
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.pose3d.*")}

    # Again: the done clips are skipped and untouched, the corrupt one fails again.
    second = _batch(netns, *argv, "--json")
    assert second.returncode == 1, second.stderr[-3000:]
    doc = json.loads(second.stdout)
    assert (doc["done"], doc["skipped"], doc["failed"]) == (0, 2, 1)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pose3d.*")} == mtimes


@pytest.mark.slow
def test_ray_batch_setup_errors_are_one_line(netns, ray_cluster, ray_clips, tmp_path, tiny_ckpt):
    common = ["--engine", "ray", "--ray-address", ray_cluster, "--out-dir", tmp_path, "--checkpoint", tiny_ckpt,
              "--no-render", "-q"]
    # No GPU in the cluster: refused before any worker starts.
    run = _batch(netns, ray_clips, *common, "--device", "cuda", "--detector", "mediapipe")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (
        "pose3d: error: --device cuda: the Ray cluster at 127.0.0.1:6379 has no GPU; use --device cpu or add GPU nodes")
    # Models that do not load in the workers (here an unknown detector): the workers' own error.
    run = _batch(netns, ray_clips, *common, "--detector", "nosuch")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("pose3d: error: unknown detector 'nosuch'; choose one of")
    assert not (tmp_path / "batch_summary.json").exists()


def test_wrong_ray_address_is_one_line(ray_clips, tmp_path, tiny_ckpt, capsys):
    """Nobody answers on the address: one line at once (Ray itself would retry for minutes).
    Nothing of Ray starts, so this runs outside the namespace."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip('Ray is not installed (pip install "pose3d-cli[ray]")')
    assert main(["batch", str(ray_clips), "--engine", "ray", "--ray-address", "127.0.0.1:1", "--out-dir",
                 str(tmp_path), "--checkpoint", str(tiny_ckpt), "--no-render", "-q"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pose3d: error: --ray-address 127.0.0.1:1: nothing answers there")
    assert not (tmp_path / "batch_summary.json").exists()


@pytest.mark.slow
def test_worker_killed_mid_clip_is_retried(netns, tmp_path, tiny_ckpt):
    """A local Ray instance (no --ray-address) with one worker; the worker process is killed
    with SIGKILL while it writes the render. Nothing passes for finished after the kill; the
    clip is then processed again by a new worker and finishes (attempts 2)."""
    folder = tmp_path / "in"
    folder.mkdir()
    clip = _cut(EXAMPLE, folder / "walk.mp4", 0, 60)
    out = tmp_path / "out"
    paths = output_paths(clip, out_dir=out, export="npz")
    marker = out / "walk.pose3d.done.json"
    proc = subprocess.Popen(
        netns.command(sys.executable, "-m", "pose3d_cli", "batch", folder, "--engine", "ray", "--jobs", "1",
                      "--out-dir", out, "--checkpoint", tiny_ckpt, "--detector", "mediapipe",
                      "--size", "320", "-q"),
        cwd=REPO, env=netns.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = None
        deadline = time.monotonic() + 180
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir():
                for p in out.iterdir():  # .walk.pose3d.mp4.tmp-<host>-<pid>-<random>.mp4
                    if p.name.startswith(".walk.pose3d.mp4.tmp-") and p.suffix == ".mp4":
                        victim = int(p.name.split("-")[-2])
            time.sleep(0.05)
        assert victim is not None, f"the render never started: {proc.communicate()[1][-3000:]}"
        # The writer is the Ray worker (its process title names the actor and method).
        nice = netns.run("bash", "-c", f"cut -d' ' -f19 /proc/{victim}/stat")
        killed = netns.run("bash", "-c", f"tr '\\0' ' ' < /proc/{victim}/cmdline; kill -KILL {victim}")
        assert killed.returncode == 0, killed.stderr
        assert killed.stdout.startswith("ray::ClipWorker.process")
        # the worker runs at the batch's own priority, not Ray's default niceness of 15
        assert int(nice.stdout) == os.nice(0), nice.stdout
        # In between: the clip does not pass for done, the render is not at its final name.
        assert not is_done(marker, paths) and not paths["mp4"].exists()
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    row = _summary(out)["walk.mp4"]
    assert (row["status"], row["frames"], row["attempts"]) == ("done", 60, 2)
    assert "the Ray worker died (try 1 of 3)" in stderr
    assert is_done(marker, paths)
    assert probe_video(paths["mp4"]).num_frames == 60 == load_poses(paths["npz"]).num_frames
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the dead worker's temporary removed


@pytest.mark.slow
def test_interrupted_ray_batch_ends_its_workers(netns, ray_cluster, tmp_path, tiny_ckpt):
    """SIGTERM to the driver while a worker renders: exit 130 ("interrupted", Ray's own SIGTERM
    handler does not take over), the batch's workers are ended, the cluster keeps running, and
    nothing passes for finished."""
    folder = tmp_path / "in"
    folder.mkdir()
    clip = _cut(EXAMPLE, folder / "walk.mp4", 0, 60)
    out = tmp_path / "out"
    paths = output_paths(clip, out_dir=out, export="npz")
    proc = subprocess.Popen(
        netns.command(sys.executable, "-m", "pose3d_cli", "batch", folder, "--engine", "ray", "--ray-address",
                      ray_cluster, "--out-dir", out, "--checkpoint", tiny_ckpt, "--detector", "mediapipe",
                      "--size", "320", "-q"),
        cwd=REPO, env=netns.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and any(p.name.startswith(".walk.pose3d.mp4.tmp-") for p in out.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the batch ended before it could be interrupted: {proc.communicate()[1][-3000:]}"
        # nsenter forked the driver into the namespace: signal that child (this test's own process).
        driver = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(driver, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "pose3d: interrupted"
    assert not is_done(out / "walk.pose3d.done.json", paths) and not paths["mp4"].exists()
    deadline = time.monotonic() + 30
    while netns.run("pgrep", "-f", "^ray::ClipWorker").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert netns.run("pgrep", "-f", "^ray::ClipWorker").returncode == 1  # none left in the namespace
    status = netns.run(RAY_CLI, "status", "--address", ray_cluster)
    assert status.returncode == 0 and "2.0 CPU" in status.stdout, status.stdout + status.stderr
