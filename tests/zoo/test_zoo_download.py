"""Verified downloads against a real HTTP server on 127.0.0.1 that misbehaves on purpose.

Every test checks the file state afterwards (final file, ``.partial``, trust records) and the
message the user would see.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch
from zoo_testkit import closed_port, code_carrying_checkpoint_bytes, make_entry, sha256

from pose3d_cli.errors import CheckpointError, DownloadError, InputError
from pose3d_cli.paths import checkpoints_dir, trust_file
from pose3d_cli.zoo.cache import trusted_record
from pose3d_cli.zoo.download import download

FAST = {"quiet": True, "timeout_s": 5.0, "retries": 2, "backoff_s": 0.02}


def _files(name: str) -> tuple[Path, Path]:
    folder = checkpoints_dir()
    return folder / name, folder / (name + ".partial")


def test_success_verifies_renames_and_streams_progress(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.ok", "a.bin", server.url("ok", "a.bin"), data=ckpt_9f)
    out = io.StringIO()
    result = download(entry, quiet=False, timeout_s=5.0, stream=out)
    final, partial = _files("a.bin")
    assert result.path == final and result.fetched
    assert final.read_bytes() == ckpt_9f and result.sha256 == sha256(ckpt_9f)
    assert not partial.exists()
    text = out.getvalue()
    assert "a.bin" in text and "100%" in text          # the tqdm bar ran to the end
    assert "CC BY-NC 4.0" in text                       # licence shown on first download
    # A published sha256 needs no trust-on-first-use record.
    assert trusted_record("a.bin") is None
    # A second call finds the verified file: no new request, no licence notice.
    out2 = io.StringIO()
    again = download(entry, quiet=False, timeout_s=5.0, stream=out2)
    assert not again.fetched and again.path == final
    assert len(server.state.gets("a.bin")) == 1
    assert "licensed" not in out2.getvalue()


@pytest.mark.parametrize("legacy, old_numpy", [(True, True), (True, False), (False, True), (False, False)],
                         ids=["published-legacy-numpy1.16", "legacy-numpy2", "zip-numpy1.16", "zip-numpy2"])
def test_files_written_like_run_py_download_verify_and_load(server, legacy, old_numpy):
    """The published files hold the pickled numpy RandomState: downloading one must keep it."""
    from zoo_testkit import videopose3d_checkpoint_bytes

    from pose3d_cli.lifting.checkpoint import load_checkpoint

    data = videopose3d_checkpoint_bytes((3, 3), 32, 17, 17, seed=4, legacy_format=legacy,
                                        old_numpy=old_numpy)
    # torch stores the pickle uncompressed in both formats: the helper's name is in the bytes
    assert (b"__RandomState_ctor" if old_numpy else b"__randomstate_ctor") in data
    server.state.files["pretrained.bin"] = data
    for publish_sha in (True, False):                    # published digest, then trust on first use
        entry = make_entry(f"t-9f.rs{int(publish_sha)}", "pretrained.bin",
                           server.url("ok", "pretrained.bin"), data=data, publish_sha=publish_sha)
        result = download(entry, **FAST, force=True)
        assert result.fetched and result.path.read_bytes() == data
        ck = load_checkpoint(result.path)
        assert ck.source_format == "videopose3d" and ck.meta["epoch"] == 80
    assert trusted_record("pretrained.bin")["sha256"] == sha256(data)


def test_wrong_checksum_deletes_the_file_and_says_so(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.wrong", "a.bin", server.url("wrong", "a.bin"), data=ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, **FAST)
    msg = str(err.value)
    assert "sha256" in msg and sha256(ckpt_9f) in msg and "deleted" in msg
    assert server.url("wrong", "a.bin") in msg and "\n" not in msg
    final, partial = _files("a.bin")
    assert not final.exists() and not partial.exists()


def test_truncated_body_is_retried_then_reported_and_partial_kept(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.trunc", "a.bin", server.url("truncate", "a.bin"), data=ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, quiet=True, timeout_s=5.0, retries=1, backoff_s=0.02)
    half = len(ckpt_9f) // 2
    msg = str(err.value)
    assert f"connection closed after {half} of {len(ckpt_9f)} bytes" in msg
    assert "gave up after 2 attempts" in msg and "--checkpoint PATH" in msg
    final, partial = _files("a.bin")
    assert not final.exists()
    assert partial.read_bytes() == ckpt_9f[:half]       # kept for the next attempt to resume
    assert len(server.state.gets("a.bin")) == 2


def test_server_dies_mid_file_then_resumes_with_range(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.die", "a.bin", server.url("die", "a.bin"), data=ckpt_9f)
    result = download(entry, **FAST)
    got = int(len(ckpt_9f) * server.state.die_fraction)
    reqs = server.state.gets("a.bin")
    assert [r.range for r in reqs] == [None, f"bytes={got}-"]
    assert result.path.read_bytes() == ckpt_9f
    assert not _files("a.bin")[1].exists()


def test_partial_from_an_earlier_run_is_resumed(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.resume", "a.bin", server.url("ok", "a.bin"), data=ckpt_9f)
    final, partial = _files("a.bin")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(ckpt_9f[:1000])
    download(entry, **FAST)
    assert [r.range for r in server.state.gets("a.bin")] == ["bytes=1000-"]
    assert final.read_bytes() == ckpt_9f and not partial.exists()


def test_complete_partial_is_verified_without_a_request(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.whole", "a.bin", server.url("ok", "a.bin"), data=ckpt_9f)
    final, partial = _files("a.bin")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(ckpt_9f)                        # killed between last byte and rename
    result = download(entry, **FAST)
    assert result.fetched and final.read_bytes() == ckpt_9f and not partial.exists()
    assert server.state.gets("a.bin") == []


def test_server_ignoring_range_restarts_from_zero(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.norange", "a.bin", server.url("norange", "a.bin"), data=ckpt_9f)
    final, partial = _files("a.bin")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\0" * 1000)                   # not even a prefix of the file
    download(entry, **FAST)
    assert final.read_bytes() == ckpt_9f


def test_transient_http_503_is_retried(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.flaky", "a.bin", server.url("flaky", "a.bin"), data=ckpt_9f)
    download(entry, **FAST)
    assert len(server.state.gets("a.bin")) == 2
    assert _files("a.bin")[0].read_bytes() == ckpt_9f


def test_404_fails_at_once_with_one_line(server, ckpt_9f):
    entry = make_entry("t-9f.missing", "nothere.bin", server.url("ok", "nothere.bin"), data=ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, **FAST)
    msg = str(err.value)
    assert "HTTP 404" in msg and server.url("ok", "nothere.bin") in msg
    assert "nothere.bin" in msg and "--checkpoint PATH" in msg and "\n" not in msg
    assert len(server.state.gets("nothere.bin")) == 1    # a 4xx is not retried
    final, partial = _files("nothere.bin")
    assert not final.exists() and not partial.exists()


def test_slow_server_times_out(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    server.state.slow_s = 1.5
    entry = make_entry("t-9f.slow", "a.bin", server.url("slow", "a.bin"), data=ckpt_9f)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(entry, quiet=True, timeout_s=0.3, retries=1, backoff_s=0.02)
    elapsed = time.monotonic() - t0
    assert "timed out" in str(err.value) and "gave up after 2 attempts" in str(err.value)
    assert elapsed < 1.5                                # gave up on the timeout, not the server
    final, partial = _files("a.bin")
    assert not final.exists() and not partial.exists()


def test_offline_is_one_line_naming_file_url_and_way_out(ckpt_9f):
    url = f"http://127.0.0.1:{closed_port()}/a.bin"
    entry = make_entry("t-9f.offline", "a.bin", url, data=ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, quiet=True, timeout_s=2.0, retries=3, backoff_s=5.0)
    msg = str(err.value)
    assert msg.startswith("cannot download a.bin for t-9f.offline from " + url)
    assert "connection refused" in msg and "--checkpoint PATH" in msg and "POSE3D_MODEL_URL" in msg
    assert "gave up" not in msg                         # offline: no retries, no back-off wait
    assert "\n" not in msg and "Traceback" not in msg
    assert err.value.__cause__ is None and err.value.__context__ is None   # no chained traceback


def test_mirror_replaces_the_origin(server, ckpt_9f, monkeypatch):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.mirror", "a.bin", f"http://127.0.0.1:{closed_port()}/a.bin", data=ckpt_9f)
    monkeypatch.setenv("POSE3D_MODEL_URL", server.base("ok") + "/")
    result = download(entry, **FAST)
    assert result.url == server.url("ok", "a.bin")
    assert result.path.read_bytes() == ckpt_9f


def test_trust_on_first_use_records_then_enforces(server, ckpt_9f, ckpt_9f_other):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.tofu", "a.bin", server.url("ok", "a.bin"), data=ckpt_9f,
                       publish_sha=False, publish_size=False)
    download(entry, **FAST)
    record = trusted_record("a.bin")
    assert record["sha256"] == sha256(ckpt_9f) and record["size"] == len(ckpt_9f)
    assert record["url"] == server.url("ok", "a.bin")
    assert json.loads(trust_file().read_text())["files"]["a.bin"]["entry"] == "t-9f.tofu"
    # The cached file is lost. A server now offers another valid checkpoint of the same
    # architecture under that name: its size differs from the record, refused before the body.
    final, partial = _files("a.bin")
    final.unlink()
    server.state.files["a.bin"] = ckpt_9f_other
    assert len(ckpt_9f_other) != len(ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, **FAST)
    assert (f"offers {len(ckpt_9f_other)} bytes, expected {len(ckpt_9f)} "
            f"(recorded at its first download)") in str(err.value)
    assert not final.exists() and not partial.exists()
    # Same size, other bytes: refused on the recorded sha256 and deleted.
    server.state.files["a.bin"] = ckpt_9f
    tampered = make_entry("t-9f.tofu", "a.bin", server.url("wrong", "a.bin"), data=ckpt_9f,
                          publish_sha=False, publish_size=False)
    with pytest.raises(DownloadError) as err:
        download(tampered, **FAST)
    assert "recorded at its first download" in str(err.value) and "deleted" in str(err.value)
    assert sha256(ckpt_9f) in str(err.value)
    assert not final.exists() and not partial.exists()
    assert trusted_record("a.bin")["sha256"] == sha256(ckpt_9f)   # the record is not replaced


def test_wrong_architecture_is_refused_and_deleted(server, ckpt_27f):
    server.state.files["a.bin"] = ckpt_27f
    entry = make_entry("t-9f.arch", "a.bin", server.url("ok", "a.bin"), data=None)
    with pytest.raises(CheckpointError) as err:
        download(entry, **FAST)
    msg = str(err.value)
    assert "does not match model t-9f.arch" in msg and "filter widths 3,3,3," in msg
    assert "deleted" in msg
    final, partial = _files("a.bin")
    assert not final.exists() and not partial.exists()
    assert trusted_record("a.bin") is None               # nothing trusted from a refused file


def test_downloaded_pickle_carrying_code_is_refused_without_running_it(server, tmp_path):
    marker = tmp_path / "code_ran.txt"
    payload = code_carrying_checkpoint_bytes(marker)
    server.state.files["evil.bin"] = payload
    entry = make_entry("t-9f.evil", "evil.bin", server.url("ok", "evil.bin"), data=None)
    with pytest.raises(CheckpointError) as err:
        download(entry, **FAST)
    assert "refused" in str(err.value) and "deleted" in str(err.value)
    assert not marker.exists()
    final, partial = _files("evil.bin")
    assert not final.exists() and not partial.exists()
    # The payload is live: an unsafe load of the same bytes does run it.
    unsafe = tmp_path / "evil_copy.bin"
    unsafe.write_bytes(payload)
    torch.load(unsafe, weights_only=False)
    assert marker.exists()


def test_unwritable_cache_is_one_line(tmp_path, monkeypatch, ckpt_9f):
    """The tests run as root, for whom permission bits do not stop a write. The cache is put
    *under a regular file* instead: no user can create a folder there (ENOTDIR)."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a regular file\n")
    monkeypatch.setenv("POSE3D_HOME", str(blocker / "cache"))
    entry = make_entry("t-9f.ro", "a.bin", f"http://127.0.0.1:{closed_port()}/a.bin", data=ckpt_9f)
    with pytest.raises(DownloadError) as err:
        download(entry, **FAST)
    msg = str(err.value)
    assert f"the model cache {blocker / 'cache' / 'checkpoints'} is not writable" in msg
    assert "Not a directory" in msg and "POSE3D_HOME" in msg and "--checkpoint PATH" in msg
    assert blocker.read_text() == "a regular file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


_CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from pose3d_cli.zoo.registry import entry_from_dict
    from pose3d_cli.zoo.download import download
    entry = entry_from_dict(sys.argv[1], json.loads(sys.argv[2]), "test")
    barrier, me = Path(sys.argv[3]), sys.argv[4]
    (barrier / me).write_text("ready")
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = download(entry, quiet=False, timeout_s=10.0, retries=1, backoff_s=0.05)
    print(json.dumps({"path": str(r.path), "fetched": r.fetched, "sha256": r.sha256}))
""")


@pytest.mark.slow
def test_two_processes_download_the_same_entry_once(server, ckpt_9f, tmp_path):
    """Two real processes start the same download at the same moment (a barrier on files):
    the server sees one request, one process fetches and the other waits on the lock and
    then finds the verified file."""
    server.state.files["a.bin"] = ckpt_9f
    server.state.throttle_chunk = 2048                   # ~2 s for the whole file
    server.state.throttle_sleep_s = 2.0 * 2048 / len(ckpt_9f)
    entry = make_entry("t-9f.race", "a.bin", server.url("throttle", "a.bin"), data=ckpt_9f)
    spec = {k: v for k, v in entry.to_dict().items() if k not in ("name", "receptive_field", "path")}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, entry.name, json.dumps(spec),
                               str(barrier), f"p{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    final, partial = _files("a.bin")
    assert {r["path"] for r in results} == {str(final)}
    assert sorted(r["fetched"] for r in results) == [False, True]
    assert {r["sha256"] for r in results} == {sha256(ckpt_9f)}
    assert len(server.state.gets("a.bin")) == 1
    waiter = outs[[r["fetched"] for r in results].index(False)][1]
    assert "another pose3d process is downloading it; waiting" in waiter
    assert final.read_bytes() == ckpt_9f and not partial.exists()


def _in_thread(fn, limit_s: float = 60.0):
    """Run ``fn`` in a thread; return ``(finished, result or exception)`` after at most ``limit_s``
    (a download that never ends must fail the test, not hang it)."""
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["result"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit_s)
    return not worker.is_alive(), box.get("result")


def test_trickling_server_is_given_up_as_stalled_and_the_partial_kept(server, ckpt_9f):
    """One byte every 0.2 s: every wait is short, so only a stall rule ends it (else ~2.5 hours)."""
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.trickle", "a.bin", server.url("trickle", "a.bin"), data=ckpt_9f)
    finished, result = _in_thread(lambda: download(entry, quiet=True, timeout_s=1.0, retries=1,
                                                   backoff_s=0.02))
    assert finished, "the download of a trickling server never ended"
    assert isinstance(result, DownloadError), result
    msg = str(result)
    assert "stalled:" in msg and "under 2048 bytes/s" in msg and "gave up after 2 attempts" in msg
    assert "\n" not in msg and server.url("trickle", "a.bin") in msg
    final, partial = _files("a.bin")
    assert not final.exists() and 0 < partial.stat().st_size < len(ckpt_9f)
    assert partial.read_bytes() == ckpt_9f[:partial.stat().st_size]    # resumable prefix
    assert [r.range is None for r in server.state.gets("a.bin")] == [True, False]  # resumed once


def test_stall_window_and_rate_are_parameters(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    server.state.trickle_bytes, server.state.trickle_sleep_s = 4096, 0.05   # ~80 KB/s
    entry = make_entry("t-9f.trickle2", "a.bin", server.url("trickle", "a.bin"), data=ckpt_9f)
    # slow but steady passes a 2 KiB/s floor ...
    assert download(entry, quiet=True, timeout_s=5.0, stall_window_s=0.3, retries=0).fetched
    # ... and fails a 1 MB/s one
    with pytest.raises(DownloadError, match="under 1000000 bytes/s"):
        download(entry, quiet=True, timeout_s=5.0, stall_window_s=0.3, min_rate_bps=1e6,
                 retries=0, force=True)


def test_body_without_length_is_read_to_its_end(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.nolen", "a.bin", server.url("nolength", "a.bin"), data=ckpt_9f)
    assert download(entry, **FAST).path.read_bytes() == ckpt_9f


def test_endless_body_is_cut_at_the_known_size(server, ckpt_9f):
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.endless", "a.bin", server.url("endless", "a.bin"), data=ckpt_9f)
    finished, result = _in_thread(lambda: download(entry, **FAST))
    assert finished and isinstance(result, DownloadError), result
    assert f"the server sent more than the {len(ckpt_9f)} bytes the file can have (published)" in str(result)
    final, partial = _files("a.bin")
    assert not final.exists() and not partial.exists()


def test_endless_body_of_unknown_size_is_cut_at_the_maximum(server, ckpt_9f, monkeypatch):
    import pose3d_cli.zoo.download as dl

    monkeypatch.setattr(dl, "MAX_DOWNLOAD_BYTES", 300_000)
    server.state.files["a.bin"] = ckpt_9f
    entry = make_entry("t-9f.endless2", "a.bin", server.url("endless", "a.bin"), data=None)
    finished, result = _in_thread(lambda: download(entry, **FAST))
    assert finished and isinstance(result, DownloadError), result
    assert "more than the 300000 bytes the file can have (no size known)" in str(result)
    final, partial = _files("a.bin")
    assert not final.exists() and not partial.exists()


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 0.0])
def test_timeout_must_be_a_finite_positive_number(ckpt_9f, timeout):
    entry = make_entry("t-9f.to", "a.bin", f"http://127.0.0.1:{closed_port()}/a.bin", data=ckpt_9f)
    with pytest.raises(InputError, match=r"^timeout .* is not a number of seconds in \(0, 86400\]"):
        download(entry, quiet=True, timeout_s=timeout)


@pytest.mark.parametrize("base", ["not a url", "ftp://mirror.example/models", "http://", "/srv/models"])
def test_mirror_must_be_an_http_url(ckpt_9f, monkeypatch, base):
    monkeypatch.setenv("POSE3D_MODEL_URL", base)
    entry = make_entry("t-9f.mirror", "a.bin", f"http://127.0.0.1:{closed_port()}/a.bin", data=ckpt_9f)
    with pytest.raises(InputError) as err:
        download(entry, **FAST)
    assert str(err.value) == (f"POSE3D_MODEL_URL={base!r} is not an http(s) URL; set it to the base URL "
                              "of a mirror (e.g. https://example.org/models) or unset it")
