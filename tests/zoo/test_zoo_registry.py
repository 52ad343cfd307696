"""The registry as data: the shipped entries, validation of entries, the cache location,
the built-in description merge and the model cards in ``models/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.paths import cache_dir, user_models_file
from pose3d_cli.zoo.card import render_card
from pose3d_cli.zoo.registry import _builtin_overrides, entry_from_dict, load_registry

REPO = Path(__file__).resolve().parents[2]
BASE = "https://dl.fbaipublicfiles.com/video-pose-3d/"


def test_shipped_registry_holds_the_three_published_checkpoints_and_the_builtin():
    reg = load_registry(include_user=False)
    published = {e.name: e for e in reg if e.kind == "published"}
    assert set(published) == {"videopose3d-243f.h36m-detectron-coco", "videopose3d-243f.h36m-cpn",
                              "videopose3d-27f.humaneva15-detectron"}
    coco = published["videopose3d-243f.h36m-detectron-coco"]
    assert coco.urls == (BASE + "pretrained_h36m_detectron_coco.bin",)
    assert (coco.receptive_field, coco.arch.channels, coco.arch.causal) == (243, 1024, False)
    assert (coco.layout_in, coco.layout_out, coco.input_source) == ("coco17", "h36m17", "detectron")
    cpn = published["videopose3d-243f.h36m-cpn"]
    assert cpn.file_name == "pretrained_h36m_cpn.bin" and cpn.layout_in == "h36m17"
    assert (cpn.reported_error[0].mpjpe_mm, cpn.reported_error[0].p_mpjpe_mm) == (46.8, 36.5)
    he = published["videopose3d-27f.humaneva15-detectron"]
    assert he.receptive_field == 27 and he.layout_in == he.layout_out == "humaneva15"
    assert he.reported_error[0].error_mm == 33.0
    for e in published.values():
        assert e.licence == "CC BY-NC 4.0" and "VideoPose3D" in e.origin
        assert e.sha256 is None and e.size is None        # not published: trust on first use
        assert e.name.split(".")[0].endswith(f"-{e.receptive_field}f")
    assert reg.default_name == "videopose3d-243f.h36m-detectron-coco"
    builtin = reg.builtin
    assert builtin.kind == "builtin" and builtin.layout_in == "coco17"
    assert builtin.path is not None and builtin.path.parent.name == "weights"
    if not (builtin.path.parent / "BUILTIN.json").is_file():
        assert builtin.status == "not yet trained"


def test_lookup_by_name_by_file_name_and_suggestions():
    reg = load_registry(include_user=False)
    assert reg.get("pretrained_h36m_cpn.bin").name == "videopose3d-243f.h36m-cpn"
    with pytest.raises(InputError) as err:
        reg.get("videopose3d-243f.h36m-cpm")
    assert "did you mean videopose3d-243f.h36m-cpn" in str(err.value)
    assert "pose3d models" in str(err.value)


GOOD = {"kind": "published", "file_name": "x.bin", "urls": ["http://127.0.0.1/x.bin"],
        "arch": {"filter_widths": [3, 3], "channels": 8, "causal": False},
        "layout_in": "coco", "layout_out": "h36m"}


@pytest.mark.parametrize("change, words", [
    ({"sha256": "abc"}, "sha256 must be 64 hex digits"),
    ({"arch": {"filter_widths": [3, 4]}}, "must be odd integers"),
    ({"layout_in": "mpii"}, "not a known joint layout"),
    ({"urls": []}, "needs at least one URL"),
    ({"file_name": "../x.bin"}, "plain file name"),
    ({"size": -3}, "positive integer"),
    ({"kind": "remote"}, "kind must be one of"),
])
def test_bad_entries_are_refused_naming_the_file(change, words):
    with pytest.raises(InputError) as err:
        entry_from_dict("x-9f.test", {**GOOD, **change}, "/somewhere/models.json")
    assert words in str(err.value) and str(err.value).startswith("/somewhere/models.json: model 'x-9f.test'")


def test_good_entry_normalises_layout_aliases():
    e = entry_from_dict("x-9f.test", GOOD, "t")
    assert (e.layout_in, e.layout_out, e.receptive_field, e.joints_in) == ("coco17", "h36m17", 9, 17)
    assert json.loads(json.dumps(e.to_dict()))["receptive_field"] == 9


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("POSE3D_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "home"
    monkeypatch.delenv("POSE3D_HOME")
    assert cache_dir() == tmp_path / "xdg" / "pose3d"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_dir() == tmp_path / "user" / ".cache" / "pose3d"


def test_broken_user_model_list_is_a_one_line_error():
    path = user_models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    with pytest.raises(InputError) as err:
        load_registry()
    assert str(path) in str(err.value) and "not valid JSON" in str(err.value)


def test_builtin_description_from_the_training_code_overrides_the_placeholder():
    reg = json.loads((REPO / "pose3d_cli" / "zoo" / "registry.json").read_text())
    base = reg["models"][reg["builtin"]]
    info = {"name": "pose3d-27f.mocap-coco", "file_name": "lifter.pt", "sha256": "a" * 64,
            "size": 123456, "filter_widths": [3, 3, 3], "channels": 256, "causal": False,
            "measured_error": {"benchmark": "held-out BVH clips", "mpjpe_mm": 61.2}}
    merged = entry_from_dict("pose3d-27f.mocap-coco", _builtin_overrides(base, info), "BUILTIN.json")
    assert merged.status == "available" and merged.kind == "builtin" and merged.urls == ()
    assert (merged.file_name, merged.size, merged.arch.channels) == ("lifter.pt", 123456, 256)
    assert merged.reported_error[0].mpjpe_mm == 61.2
    assert "61.2 mm MPJPE" in render_card(merged, local=False)


def test_every_shipped_entry_has_a_model_card_with_its_facts():
    regen = "out of date: regenerate with `python -m pose3d_cli.zoo.card models/`"
    for e in load_registry(include_user=False):
        path = REPO / "models" / f"{e.name}.md"
        assert path.is_file(), f"{path} missing; {regen}"
        card = path.read_text(encoding="utf-8")
        assert card.startswith(f"# {e.name}\n"), f"{path} {regen}"
        assert f"`{e.file_name}`" in card, f"{path} {regen}"
        assert f"receptive field {e.receptive_field} frames" in card, f"{path} {regen}"
        assert e.licence in card
        for r in e.reported_error:
            for v in (r.mpjpe_mm, r.p_mpjpe_mm, r.error_mm):
                if v is not None:
                    assert f"{v:g} mm" in card
        if e.kind == "published":
            assert "trust on first use" in card and e.urls[0] in card


@pytest.mark.parametrize("info, want", [
    ({"measured_error": 58.5}, (58.5, None)),
    ({"mpjpe_mm": 60.0, "p_mpjpe_mm": 44.0}, (60.0, 44.0)),
    ({"measured_error": [{"benchmark": "BVH S2", "mpjpe_mm": 70.0, "p_mpjpe_mm": 50.0}]}, (70.0, 50.0)),
])
def test_builtin_description_error_shapes(info, want):
    reg = json.loads((REPO / "pose3d_cli" / "zoo" / "registry.json").read_text())
    base = reg["models"][reg["builtin"]]
    merged = entry_from_dict("pose3d-27f.mocap-coco",
                             _builtin_overrides(base, {**info, "layouts": {"in": "coco", "out": "h36m"}}),
                             "BUILTIN.json")
    assert (merged.reported_error[0].mpjpe_mm, merged.reported_error[0].p_mpjpe_mm) == want
    assert (merged.layout_in, merged.layout_out) == ("coco17", "h36m17")


def test_write_builtin_description_round_trips_through_the_merge(tmp_path, ckpt_9f):
    from tools.ship_builtin import write_builtin_description

    weights = tmp_path / "lifter.bin"
    weights.write_bytes(ckpt_9f)
    out = write_builtin_description(
        weights, trained_on="BVH walking clips", measured_error=[
            {"benchmark": "held-out clips", "mpjpe_mm": 64.0, "p_mpjpe_mm": 47.5}])
    info = json.loads(out.read_text())
    assert out.name == "BUILTIN.json" and info["size"] == len(ckpt_9f)
    assert info["arch"] == {"filter_widths": [3, 3], "channels": 32, "causal": False}
    reg = json.loads((REPO / "pose3d_cli" / "zoo" / "registry.json").read_text())
    merged = entry_from_dict(info["name"], _builtin_overrides(reg["models"][reg["builtin"]], info), str(out))
    assert (merged.file_name, merged.receptive_field, merged.layout_in) == ("lifter.bin", 9, "coco17")
    assert merged.sha256 == info["sha256"] and merged.reported_error[0].p_mpjpe_mm == 47.5


CAUSAL = "pose3d-27f-causal.mocap-coco"


def test_registry_lists_both_builtins_with_their_facts():
    import hashlib

    from pose3d_cli.zoo.registry import INPUT_SOURCES

    reg = load_registry(include_user=False)
    builtins = {e.name: e for e in reg if e.kind == "builtin"}
    assert set(builtins) == {"pose3d-27f.mocap-coco", CAUSAL}
    causal = builtins[CAUSAL]
    assert (causal.status, causal.licence, causal.file_name) == ("available", "MIT",
                                                                 "pose3d-27f-causal-mocap-coco.pt")
    assert (causal.receptive_field, causal.arch.channels, causal.arch.causal) == (27, 256, True)
    assert (causal.layout_in, causal.layout_out) == ("coco17", "h36m17")
    # the description's facts are the file's (no literal pins: a retrained model changes them)
    assert causal.size == causal.path.stat().st_size
    assert causal.sha256 == hashlib.sha256(causal.path.read_bytes()).hexdigest()
    assert causal.reported_error and all(0 < r.p_mpjpe_mm < r.mpjpe_mm for r in causal.reported_error)
    assert reg.builtin.arch.causal is False
    assert reg.builtin_for(causal=True) is causal and reg.builtin_for(causal=False) is reg.builtin
    # Trained on projected motion capture with a detector-like noise model, not clean 2D.
    for e in builtins.values():
        assert e.input_source == "mocap-noisy"
    assert INPUT_SOURCES["mocap-noisy"] == "projected motion capture with detector-like noise"


def test_every_weights_description_makes_a_builtin_entry(tmp_path, monkeypatch, ckpt_9f):
    from pose3d_cli.zoo import registry as registry_mod
    from tools.ship_builtin import write_builtin_description

    shipped = registry_mod.weights_dir()
    (tmp_path / "BUILTIN.json").write_text((shipped / "BUILTIN.json").read_text())
    weights = tmp_path / "pose3d-9f-extra-test.pt"
    weights.write_bytes(ckpt_9f)
    out = write_builtin_description(weights, name="pose3d-9f-extra.test", trained_on="clips",
                                    measured_error=[{"benchmark": "clips", "mpjpe_mm": 70.5}],
                                    description_file="pose3d-9f-extra.test.json")
    assert out == tmp_path / "pose3d-9f-extra.test.json"
    assert (tmp_path / "BUILTIN.json").read_text() == (shipped / "BUILTIN.json").read_text()
    monkeypatch.setattr(registry_mod, "weights_dir", lambda: tmp_path)
    reg = load_registry(include_user=False)
    extra = reg.get("pose3d-9f-extra.test")
    assert (extra.kind, extra.status, extra.path, extra.receptive_field) == ("builtin", "available", weights, 9)
    assert extra.input_source == "mocap-noisy" and extra.licence == "MIT"
    assert extra.reported_error[0].mpjpe_mm == 70.5 and str(out) in reg.sources
    assert reg.builtin_name == "pose3d-27f.mocap-coco" and CAUSAL not in reg
    # A description may not take over a published entry, nor describe an entry twice.
    bad = tmp_path / "zz.json"
    bad.write_text(json.dumps({"name": "videopose3d-243f.h36m-cpn", "file_name": "x.pt"}))
    with pytest.raises(InputError) as err:
        load_registry(include_user=False)
    assert str(bad) in str(err.value) and "not a built-in one" in str(err.value)
    bad.write_text(json.dumps({"name": "pose3d-27f.mocap-coco", "file_name": "x.pt"}))
    with pytest.raises(InputError) as err:
        load_registry(include_user=False)
    assert "also described by" in str(err.value) and "\n" not in str(err.value)
