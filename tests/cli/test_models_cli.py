"""``pose3d models`` and ``pose3d download`` through the real CLI frame (``pose3d_cli.cli.main``).

The frame is restricted to the two subcommands under test (``SUBCOMMANDS`` patched), so these
tests do not depend on the other subcommands' modules. Downloads come from a real HTTP server on
127.0.0.1 through ``POSE3D_MODEL_URL``, serving a small real checkpoint under the published
HumanEva file name (whose registry entry leaves the channel width unchecked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from zoo_testkit import ModelServer, closed_port, sha256, videopose3d_checkpoint_bytes

from pose3d_cli import cli
from pose3d_cli.paths import checkpoints_dir, user_models_file
from pose3d_cli.zoo.cache import trusted_record
from pose3d_cli.zoo.verify import forget_verified

HE = "videopose3d-27f.humaneva15-detectron"
HE_FILE = "pretrained_humaneva15_detectron.bin"
NAMES = ("videopose3d-243f.h36m-detectron-coco", "videopose3d-243f.h36m-cpn", HE)


@pytest.fixture(autouse=True)
def _only_our_subcommands(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("models", "download"))
    forget_verified()


@pytest.fixture(scope="module")
def he_bytes() -> bytes:
    return videopose3d_checkpoint_bytes((3, 3, 3), 32, 15, 15, seed=5)


@pytest.fixture
def mirror(he_bytes, monkeypatch):
    srv = ModelServer()
    srv.state.files[HE_FILE] = he_bytes
    monkeypatch.setenv("POSE3D_MODEL_URL", srv.base("ok"))
    yield srv
    srv.close()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_table_lists_every_entry(capsys):
    code, out, err = _run(capsys, "models")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "RF", "INPUT", "SIZE", "CACHED", "LICENCE"]
    for name in NAMES:
        row = next(line for line in lines if f" {name} " in line)
        assert "CC BY-NC 4.0" in row and " no " in row
    assert " 243 " in next(line for line in lines if NAMES[0] in line)
    assert "coco17 (Detectron)" in next(line for line in lines if NAMES[0] in line)
    assert " 27 " in next(line for line in lines if HE in line)
    assert lines[-1].startswith("* default: ")


def test_models_table_shows_both_builtins_and_the_causal_default(capsys):
    code, out, _ = _run(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    sym = next(line for line in lines if " pose3d-27f.mocap-coco " in line)
    causal = next(line for line in lines if " pose3d-27f-causal.mocap-coco " in line)
    for row in (sym, causal):
        assert " 27 " in row and "coco17 (mocap+noise)" in row and "built-in" in row
        assert row.endswith("MIT") and "GT 2D" not in row
    assert sym.startswith("* ") and causal.startswith("+ ")
    assert "+ --causal: pose3d-27f-causal.mocap-coco" in lines[-1]
    code, out, _ = _run(capsys, "models", "--json")
    data = json.loads(out)
    assert data["default_causal"] == "pose3d-27f-causal.mocap-coco"
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["pose3d-27f-causal.mocap-coco"]["default_causal"] is True
    assert by_name["pose3d-27f-causal.mocap-coco"]["arch"]["causal"] is True
    assert by_name["pose3d-27f.mocap-coco"]["input_source"] == "mocap-noisy"
    code, out, _ = _run(capsys, "models", "info", "pose3d-27f-causal.mocap-coco")
    assert code == 0 and "projected motion capture with detector-like noise" in out
    entry = by_name["pose3d-27f-causal.mocap-coco"]
    first = entry["reported_error"][0]  # the card states the registry's figures
    assert "the default of `--causal`" in out
    assert f"{first['mpjpe_mm']:g} mm MPJPE, {first['p_mpjpe_mm']:g} mm P-MPJPE" in out


def test_models_json_is_the_registry_for_scripts(capsys):
    code, out, _ = _run(capsys, "models", "--json")
    assert code == 0
    data = json.loads(out)
    by_name = {m["name"]: m for m in data["models"]}
    assert set(NAMES) <= set(by_name)
    assert by_name[NAMES[0]]["receptive_field"] == 243 and by_name[NAMES[0]]["cached"] is False
    assert by_name[NAMES[0]]["urls"] == [
        "https://dl.fbaipublicfiles.com/video-pose-3d/pretrained_h36m_detectron_coco.bin"]
    assert data["recommended"] == NAMES[0] and data["default"] != NAMES[0]


def test_models_info_says_trust_on_first_use(capsys):
    code, out, _ = _run(capsys, "models", "info", "videopose3d-243f.h36m-cpn", "--debug")
    assert code == 0
    assert out.startswith("# videopose3d-243f.h36m-cpn")
    assert "**trust on first use**" in out and "46.8 mm MPJPE, 36.5 mm P-MPJPE" in out
    assert "not present" in out


def test_unknown_model_is_one_line_with_a_suggestion(capsys):
    code, out, err = _run(capsys, "models", "info", "videopose3d-243f.h36m-cp")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("pose3d: error: unknown model")
    assert "did you mean videopose3d-243f.h36m-cpn" in err


def test_download_shows_licence_and_progress_then_is_cached(capsys, mirror, he_bytes):
    code, out, err = _run(capsys, "download", HE)
    assert code == 0, err
    final = checkpoints_dir() / HE_FILE
    assert out.strip() == (f"{HE}: downloaded, verified: {final} ({len(he_bytes) / 1000:.1f} kB, "
                           f"sha256 {sha256(he_bytes)})")
    assert "is licensed CC BY-NC 4.0" in err and "non-commercial" in err
    assert HE_FILE in err and "100%" in err                # the progress bar
    assert final.read_bytes() == he_bytes
    assert trusted_record(HE_FILE)["sha256"] == sha256(he_bytes)
    # Listed as cached; the card shows the recorded checksum as trust on first use.
    _, table, _ = _run(capsys, "models")
    assert " yes " in next(line for line in table.splitlines() if HE in line)
    _, card, _ = _run(capsys, "models", "info", HE)
    assert f"`{sha256(he_bytes)}` — **trust on first use**" in card
    # Again: nothing fetched, no licence notice.
    code, out, err = _run(capsys, "download", "--quiet", HE)
    assert code == 0 and "already cached" in out and err == ""
    assert len(mirror.state.gets(HE_FILE)) == 1


def test_download_offline_is_one_line_and_exit_3(capsys, monkeypatch):
    base = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("POSE3D_MODEL_URL", base)
    monkeypatch.setenv("POSE3D_DOWNLOAD_TIMEOUT", "2")
    code, out, err = _run(capsys, "download", "--quiet", HE)
    assert code == 3 and out == ""  # 3: a download failed
    errors = [line for line in err.splitlines() if line.startswith("pose3d: error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert f"cannot download {HE_FILE}" in errors[0] and f"{base}/{HE_FILE}" in errors[0]
    assert "--checkpoint PATH" in errors[0]
    assert not (checkpoints_dir() / HE_FILE).exists()


def test_download_all_reports_each_failure_and_keeps_going(capsys, mirror, he_bytes):
    code, out, err = _run(capsys, "download", "--all", "--quiet")
    assert code == 3
    assert out.startswith(f"{HE}: downloaded, verified:")       # the one the mirror has
    errors = [line for line in err.splitlines() if line.startswith("pose3d: error:")]
    assert len(errors) == 2 and all("HTTP 404" in line for line in errors)
    assert "pose3d: 2 of 3 downloads failed" in err
    assert sorted(p.name for p in checkpoints_dir().glob("*.bin")) == [HE_FILE]


def test_download_needs_names_or_all(capsys):
    code, _, err = _run(capsys, "download")
    assert code == 2 and "--all" in err
    code, _, err = _run(capsys, "download", "pose3d-27f.mocap-coco")
    assert code == 2 and "nothing to download" in err


def test_models_add_registers_a_user_file(capsys, tmp_path):
    path = tmp_path / "my_lifter.bin"
    path.write_bytes(videopose3d_checkpoint_bytes((3, 3), 16, 17, 17, seed=6))
    code, out, err = _run(capsys, "models", "add", "mine-9f.walking", str(path), "--licence", "MIT")
    assert code == 0, err
    assert "receptive field 9, coco17 -> h36m17" in out
    saved = json.loads(user_models_file().read_text())["models"]["mine-9f.walking"]
    assert saved["sha256"] == sha256(path.read_bytes()) and saved["path"] == str(path.resolve())
    _, table, _ = _run(capsys, "models")
    row = next(line for line in table.splitlines() if "mine-9f.walking" in line)
    assert row.split()[1:3] == ["9", "coco17"] and "user file" in row and "MIT" in row
    from pose3d_cli.zoo import resolve_checkpoint
    assert resolve_checkpoint("mine-9f.walking") == (path.resolve(), "mine-9f.walking")
    # The file changes afterwards: refused until added again.
    path.write_bytes(videopose3d_checkpoint_bytes((3, 3), 16, 17, 17, seed=7))
    forget_verified()
    code, _, err = _run(capsys, "models", "info", "mine-9f.walking")
    assert code == 0
    from pose3d_cli.errors import CheckpointError
    with pytest.raises(CheckpointError, match="changed since `pose3d models add`"):
        resolve_checkpoint("mine-9f.walking")


def test_models_add_with_a_published_name_copies_into_the_cache(capsys, tmp_path, he_bytes):
    src = tmp_path / "from_usb.bin"
    src.write_bytes(he_bytes)
    code, out, err = _run(capsys, "models", "add", HE, str(src))
    assert code == 0, err
    final = checkpoints_dir() / HE_FILE
    assert final.read_bytes() == he_bytes and f"copied it to {final}" in out
    assert trusted_record(HE_FILE)["url"] == f"file://{src.resolve()}"


def test_models_add_refuses_bad_input(capsys, tmp_path):
    code, _, err = _run(capsys, "models", "add", "x-9f.y", str(tmp_path / "missing.bin"))
    assert code == 2 and "not found" in err
    bad = tmp_path / "bad.bin"
    bad.write_bytes(videopose3d_checkpoint_bytes((3, 3), 16, 17, 17))
    code, _, err = _run(capsys, "models", "add", "Bad Name", str(bad))
    assert code == 2 and "not valid" in err
    code, _, err = _run(capsys, "models", "add", HE, str(bad))   # wrong joints for HumanEva
    assert code == 2 and "pose3d: error:" in err and not (checkpoints_dir() / HE_FILE).exists()


@pytest.mark.parametrize("legacy, old_numpy", [(True, True), (True, False), (False, True), (False, False)],
                         ids=["published-legacy-numpy1.16", "legacy-numpy2", "zip-numpy1.16", "zip-numpy2"])
def test_models_add_takes_files_written_like_run_py(capsys, tmp_path, legacy, old_numpy):
    """A checkpoint holding the pickled numpy RandomState (as every run.py file does) is added,
    under its published name and under a name of the user's."""
    data = videopose3d_checkpoint_bytes((3, 3, 3), 32, 15, 15, seed=8, legacy_format=legacy,
                                        old_numpy=old_numpy)
    src = tmp_path / HE_FILE
    src.write_bytes(data)
    code, out, err = _run(capsys, "models", "add", HE, str(src))
    assert code == 0, err
    assert (checkpoints_dir() / HE_FILE).read_bytes() == data
    code, out, err = _run(capsys, "models", "add", "mine-27f.he", str(src), "--layout-in", "humaneva15",
                          "--layout-out", "humaneva15")
    assert code == 0, err
    assert "receptive field 27, humaneva15 -> humaneva15" in out


def test_models_add_refuses_nan_weights(capsys, tmp_path):
    import torch

    from pose3d_cli.lifting.checkpoint import save_videopose3d_checkpoint
    from pose3d_cli.lifting.model import ArchSpec, TemporalModel

    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=16))
    with torch.no_grad():
        model.shrink.weight[0, 0, 0] = float("nan")
    path = save_videopose3d_checkpoint(tmp_path / "diverged.bin", model, legacy_format=True, old_numpy=True)
    code, out, err = _run(capsys, "models", "add", "diverged-9f.x", str(path))
    assert code == 2 and out == ""
    assert err.strip() == (f"pose3d: error: {path}: weight shrink.weight holds NaN or infinite values; "
                           "the file is damaged or from a diverged training run: use another checkpoint")
    assert not user_models_file().exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-2", "0"])
def test_download_timeout_must_be_finite_and_positive(capsys, value):
    code, out, err = _run(capsys, "download", HE, "--timeout", value)
    assert code == 2 and out == ""
    assert err.strip() == (f"pose3d: error: --timeout {float(value)!r} is not a number of seconds in "
                           "(0, 86400]; give e.g. 60")


def test_download_with_a_mirror_that_is_not_a_url(capsys, monkeypatch):
    monkeypatch.setenv("POSE3D_MODEL_URL", "not a url")
    code, out, err = _run(capsys, "download", HE)
    assert code == 2 and out == ""
    assert err.strip() == ("pose3d: error: POSE3D_MODEL_URL='not a url' is not an http(s) URL; set it to "
                           "the base URL of a mirror (e.g. https://example.org/models) or unset it")
