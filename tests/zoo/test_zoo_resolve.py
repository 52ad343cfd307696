"""``resolve_checkpoint`` and ``default_checkpoint_name`` on the shipped registry.

Published entries are fetched through ``POSE3D_MODEL_URL`` from the local test server, which
serves small real checkpoints under the published file names (the published files themselves
cannot be fetched here). The HumanEva entry is used because its channel width is not checked,
so a small file of its architecture (3,3,3; 15 joints) is a valid stand-in.
"""

from __future__ import annotations

import pytest
from zoo_testkit import (
    code_carrying_checkpoint_bytes,
    sha256,
    videopose3d_checkpoint_bytes,
)

from pose3d_cli.errors import CheckpointError, DownloadError, InputError
from pose3d_cli.paths import checkpoints_dir
from pose3d_cli.zoo import (
    default_checkpoint_name,
    load_lifter,
    registry_layouts,
    resolve_checkpoint,
)
from pose3d_cli.zoo.cache import trusted_record
from pose3d_cli.zoo.registry import load_registry

HE = "videopose3d-27f.humaneva15-detectron"
HE_FILE = "pretrained_humaneva15_detectron.bin"


@pytest.fixture(scope="module")
def he_bytes() -> bytes:
    return videopose3d_checkpoint_bytes((3, 3, 3), 32, 15, 15, seed=4)


@pytest.fixture
def mirror(server, he_bytes, monkeypatch):
    server.state.files[HE_FILE] = he_bytes
    monkeypatch.setenv("POSE3D_MODEL_URL", server.base("ok"))
    return server


def test_path_is_returned_and_loads(tmp_path, ckpt_9f):
    path = tmp_path / "mine.bin"
    path.write_bytes(ckpt_9f)
    got, name = resolve_checkpoint(str(path))
    assert got == path.resolve() and name == str(path)
    ck, name = load_lifter(str(path))
    assert ck.arch.receptive_field == 9 and name == str(path)


def test_pickle_carrying_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran.txt"
    path = tmp_path / "evil.bin"
    path.write_bytes(code_carrying_checkpoint_bytes(marker))
    with pytest.raises(CheckpointError) as err:
        load_lifter(path)  # resolving a path takes it as is; the safe load refuses it
    assert "refused to load" in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(InputError) as err:
        resolve_checkpoint(str(tmp_path / "nope.bin"))
    assert "not found" in str(err.value) and "nope.bin" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_checkpoint("videopose3d-243f.h36m-detectron")
    assert "did you mean videopose3d-243f.h36m-detectron-coco" in str(err.value)


def test_default_is_builtin_until_the_published_model_is_cached(ckpt_9f):
    reg = load_registry()
    assert default_checkpoint_name() == reg.builtin_name
    if reg.builtin.status == "available":
        path, name = resolve_checkpoint(None, download=False)
        assert name == reg.builtin_name and path == reg.builtin.path
    else:
        with pytest.raises(CheckpointError) as err:
            resolve_checkpoint(None, download=False)
        assert "not in this installation" in str(err.value) and "--checkpoint PATH" in str(err.value)
    # Once the recommended file is in the cache it becomes the default; a broken file there is
    # refused on load (and not trusted).
    cached = checkpoints_dir() / reg.default.file_name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(ckpt_9f[: len(ckpt_9f) // 2])          # an interrupted copy
    assert default_checkpoint_name() == reg.default_name
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(None, download=False)
    assert str(cached) in str(err.value) and "truncated" in str(err.value)
    assert trusted_record(reg.default.file_name) is None


def test_not_cached_without_download_says_how_to_get_it():
    with pytest.raises(DownloadError) as err:
        resolve_checkpoint(HE, download=False)
    assert f"pose3d download {HE}" in str(err.value) and "--checkpoint PATH" in str(err.value)


def test_download_on_first_use_then_checked_on_every_load(mirror, he_bytes):
    path, name = resolve_checkpoint(HE, quiet=True)
    assert name == HE and path == checkpoints_dir() / HE_FILE
    assert path.read_bytes() == he_bytes
    assert trusted_record(HE_FILE)["sha256"] == sha256(he_bytes)
    # By published file name too, without touching the network again.
    assert resolve_checkpoint(HE_FILE, download=False) == (path, HE)
    assert len(mirror.state.gets(HE_FILE)) == 1
    # Someone alters the cached file: the next load refuses it and deletes it.
    data = bytearray(he_bytes)
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DownloadError) as err:
        resolve_checkpoint(HE, download=False)
    msg = str(err.value)
    assert "failed its sha256 check" in msg and "recorded at its first download" in msg
    assert "deleted" in msg and f"pose3d download {HE}" in msg
    assert not path.exists()
    # With downloads allowed it is fetched again and matches the record.
    path2, _ = resolve_checkpoint(HE, quiet=True)
    assert path2.read_bytes() == he_bytes and len(mirror.state.gets(HE_FILE)) == 2


def test_registry_layouts_for_loading_videopose3d_files(tmp_path):
    assert registry_layouts("videopose3d-243f.h36m-cpn") == ("h36m17", "h36m17")
    assert registry_layouts(HE_FILE) == ("humaneva15", "humaneva15")
    assert registry_layouts(str(tmp_path / "x.bin")) is None


CAUSAL = "pose3d-27f-causal.mocap-coco"


def test_causal_default_is_the_causal_builtin(ckpt_9f):
    reg = load_registry()
    assert default_checkpoint_name(causal=True) == CAUSAL
    path, name = resolve_checkpoint(None, download=False, causal=True)
    assert (path, name) == (reg.get(CAUSAL).path, CAUSAL)
    ck, name = load_lifter(None, causal=True)
    assert name == CAUSAL and ck.arch.causal and ck.arch.receptive_field == 27
    ck, name = load_lifter(None)
    assert name == reg.builtin_name and not ck.arch.causal
    # The recommended (symmetric) model in the cache changes the plain default, not the causal one.
    cached = checkpoints_dir() / reg.default.file_name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(ckpt_9f)
    assert default_checkpoint_name() == reg.default_name
    assert default_checkpoint_name(causal=True) == CAUSAL


def test_no_causal_model_is_one_line(tmp_path, monkeypatch):
    from pose3d_cli.zoo import registry as registry_mod

    shipped = registry_mod.weights_dir()
    (tmp_path / "BUILTIN.json").write_text((shipped / "BUILTIN.json").read_text())
    monkeypatch.setattr(registry_mod, "weights_dir", lambda: tmp_path)
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(None, causal=True)
    assert "no causal model" in str(err.value) and "--checkpoint" in str(err.value)
    assert "\n" not in str(err.value)
