"""Procedural scenes and Cycles renders: determinism, passes, and what the passes mean."""
from __future__ import annotations

import json
import numpy as np
import pytest

from addon.runtime.exr import read_exr
from ml_core import flow, render, scenes, splits


#: every render preset's fingerprint (the ``config`` of its scenes' manifests: existing folders stay valid)
PRESET_FINGERPRINTS = {"default": "5fcb070e3ecf2406", "tiny": "54607d13efc68cd4", "anim4": "a88bb8ee910cdb76",
                       "anim5": "80123e969e0944e2", "denoise": "94f92470a7cecef9", "palette": "3ca3e8c50de533c2",
                       "v2": "1e3bca6ff64cb5a7", "v2_tiny": "2cd0eaccbf317d30", "v2_n2n": "d49a6ce870d093a5",
                       "temporal": "d20b0287e56d72a5", "temporal_tiny": "f2d433e37411132f",
                       "guided": "7790b244d22ddf94", "v2_upres": "2d59ad9caf68958c", "v2_upres_tiny": "c3244eaa3b0d094e",
                       "denoise_n2n_256": "5157d404befb75e1"}


def test_same_seed_same_spec_and_different_seeds_differ():
    names = ["a.obj", "b.ply"]
    assert json.dumps(scenes.make_spec(7, names)) == json.dumps(scenes.make_spec(7, names))
    assert scenes.make_spec(7, names) != scenes.make_spec(8, names)


def test_specs_vary_what_the_networks_need():
    """Over a few dozen seeds every material kind, shape source, light type, DOF and motion appear."""
    specs = [scenes.make_spec(s, ["m.obj"]) for s in range(60)]
    objects = [o for s in specs for o in s["objects"]]
    assert {o["material"]["kind"] for o in objects} == set(scenes.MATERIAL_KINDS)
    assert {o["shape"]["source"] for o in objects} == {"primitive", "trimesh", "file"}
    assert {t["type"] for o in objects if (t := o["material"]["texture"])} == set(scenes.TEXTURES)
    assert {li["type"] for s in specs for li in s["lights"]} == {"area", "point", "sun", "spot"}
    assert any(li["size"] < 0.05 and li["type"] == "point" for s in specs for li in s["lights"])  # firefly lights
    assert any(s["camera"]["dof"] for s in specs) and any(not s["camera"]["dof"] for s in specs)
    assert any(s["camera"]["motion"] for s in specs) and any(o["motion"] for o in objects)


def test_splits_are_disjoint_and_seeds_fall_in_their_split():
    ranges = list(splits.SPLITS.values())
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            assert not set(range(a.start, a.stop)) & set(range(b.start, b.stop))
    for name in splits.SPLITS:
        assert {splits.split_of(s) for s in splits.split_seeds(name, 5)} == {name}
    with pytest.raises(splits.SplitError, match="unknown split"):
        splits.split_seeds("training", 1)


def test_same_seed_renders_the_same_image(tmp_path, mesh_dir):
    lib = scenes.MeshLibrary(mesh_dir)
    spec = scenes.make_spec(3, lib.names)
    config = render.preset("tiny", noisy_spp=(2,), lowres_scales=(), frames=1, target_spp=4)
    a = render.render_scene(spec, tmp_path / "a", config, lib)
    b = render.render_scene(spec, tmp_path / "b", config, lib)
    assert a["seed"] == b["seed"] == 3
    for name in ("noisy_spp0002.exr", "target.exr"):
        pa, pb = read_exr(tmp_path / "a" / name).passes, read_exr(tmp_path / "b" / name).passes
        assert pa.keys() == pb.keys()
        for key in pa:
            np.testing.assert_array_equal(pa[key], pb[key], err_msg=f"{name} {key}")
    # A different sampling seed (noisy vs target at another spp) really gives different noise.
    assert not np.array_equal(read_exr(tmp_path / "a" / "noisy_spp0002.exr").get("Combined"),
                              read_exr(tmp_path / "a" / "target.exr").get("Combined"))


def test_every_product_has_every_pass_with_its_layout(tiny_dataset):
    config = render.preset("tiny")
    folder = sorted((tiny_dataset / "train").iterdir())[0]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(render.products(config))
    channels = {"Combined": 4, "Denoising Albedo": 3, "Denoising Normal": 3, "Denoising Depth": 1, "Depth": 1,
                "Vector": 4}
    for name in render.products(config):
        exr = read_exr(folder / name)
        scale = int(name[len("lowres_x"):-4]) if name.startswith("lowres") else 1
        assert set(exr.passes) >= set(channels), name
        for pass_name, n in channels.items():
            arr = exr.get(pass_name, channels=n)
            assert arr.shape == (config.height // scale, config.width // scale, n), (name, pass_name)
            assert np.isfinite(arr).all(), (name, pass_name)
        if name.startswith("noisy"):
            assert exr.header["cycles.ViewLayer.samples"] == str(int(name[9:13]))
        hit = exr.get("Depth")[..., 0] < 1e9  # background depth is 1e10
        normal_length = np.linalg.norm(exr.get("Denoising Normal")[hit], axis=-1)
        assert hit.any() and np.median(normal_length) == pytest.approx(1.0, abs=0.05), name
        assert exr.get("Denoising Depth")[hit].min() > 0


def test_more_samples_means_less_noise(tiny_dataset):
    folder = sorted((tiny_dataset / "train").iterdir())[0]
    target = read_exr(folder / "target.exr").get("Combined")[..., :3]
    err = {spp: float(np.mean((read_exr(folder / f"noisy_spp{spp:04d}.exr").get("Combined")[..., :3] - target) ** 2))
           for spp in (1, 4)}
    assert err[4] < err[1]


@pytest.fixture(scope="module")
def moving_scene(tmp_path_factory):
    """A scene whose camera pans and whose objects move: frames 1, 2, 3 with their Vector passes."""
    spec = scenes.make_spec(11)
    spec["camera"]["motion"] = {"move": [0.35, -0.2, 0.05], "target_move": [0.35, -0.2, 0.0]}
    for obj in spec["objects"]:
        obj["motion"] = {"move": [0.1, 0.25, 0.0], "turn": [0.0, 0.0, 0.1]}
    config = render.preset("tiny", width=64, height=64, noisy_spp=(1,), lowres_scales=(), target_spp=4)
    folder = tmp_path_factory.mktemp("moving")
    render.render_scene(spec, folder, config)
    return [read_exr(folder / f"frame_{f:04d}.exr") for f in (1, 2, 3)]


def test_vector_pass_warps_frames_onto_the_middle_frame(moving_scene):
    f1, f2, f3 = moving_scene
    c1, c2, c3 = (f.get("Combined")[..., :3] for f in moving_scene)
    moved = np.abs(flow.forward_flow(f1.get("Vector"))).max()
    assert moved > 1.0, "the fixture scene must really move"
    still = np.mean((c1 - c2) ** 2)
    ahead = np.mean((flow.warp_along(c1, flow.forward_flow(f1.get("Vector"))) - c2) ** 2)
    behind = np.mean((flow.warp_along(c3, flow.backward_flow(f3.get("Vector"))) - c2) ** 2)
    assert ahead < 0.5 * still and behind < 0.5 * np.mean((c3 - c2) ** 2)
    # Wrong sign conventions would move pixels the other way and do worse than not warping at all.
    wrong = np.mean((flow.warp_along(c1, -flow.forward_flow(f1.get("Vector"))) - c2) ** 2)
    assert wrong > ahead
    blend = flow.vector_blend(c1, f1.get("Vector"), c3, f3.get("Vector"), t=0.5, steps=2)
    assert np.mean((blend - c2) ** 2) < np.mean(((c1 + c3) / 2 - c2) ** 2)


def test_default_specs_and_render_configs_are_unchanged_by_later_options():
    """The palette option (and every option added since) leaves the default draws alone: these digests are of
    specs and datasets rendered before it, so existing seeds and dataset folders keep their scenes."""
    import hashlib

    digest = hashlib.sha256()
    for seed in range(30):
        for frames, scale in ((3, 1.0), (5, 0.5)):
            spec = scenes.make_spec(seed, ["a.obj", "b.ply"], frames=frames, motion_scale=scale)
            assert "palette" not in spec
            digest.update(json.dumps(spec, sort_keys=True).encode())
    assert digest.hexdigest()[:16] == "c85838fdb5cf20a6"
    assert scenes.make_spec(3, ["a.obj"], palette="random") == scenes.make_spec(3, ["a.obj"])
    fingerprints = {name: render.PRESETS.get(name).fingerprint() for name in ("default", "anim4", "anim5")}
    assert fingerprints == {"default": "5fcb070e3ecf2406", "anim4": "a88bb8ee910cdb76", "anim5": "80123e969e0944e2"}


def test_natural_palette_specs_and_every_preset_are_pinned():
    """The natural palette's draws and every render preset's fingerprint, pinned as the palette datasets and the
    denoise / palette folders were made (the digest is of specs from the single-module ``scenes.py``, before its
    split into a package): moving or registering code must not change a seed's scene or a folder's config."""
    import hashlib

    digest = hashlib.sha256()
    for seed in range(30):
        for frames, names in ((1, []), (3, ["a.obj", "b.ply"])):
            spec = scenes.make_spec(seed, names, frames=frames, palette="natural")
            digest.update(json.dumps(spec, sort_keys=True).encode())
    assert digest.hexdigest()[:16] == "96856a6a225ff9b2"
    assert {name: render.PRESETS.get(name).fingerprint() for name in render.PRESETS} == PRESET_FINGERPRINTS


def _hsv_of(linear):
    import colorsys

    return colorsys.rgb_to_hsv(*[x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055 for x in linear])


def test_natural_palette_is_deterministic_keeps_the_layout_and_ties_colour_to_the_look():
    names = ["a.obj", "b.ply"]
    natural = scenes.make_spec(11, names, frames=1, palette="natural")
    assert json.dumps(natural) == json.dumps(scenes.make_spec(11, names, frames=1, palette="natural"))
    assert natural["palette"] == "natural"
    plain = scenes.make_spec(11, names, frames=1)
    assert natural["camera"] == plain["camera"]  # the seed's layout, only the colours redrawn
    assert [(o["shape"], o["location"]) for o in natural["objects"]] == [(o["shape"], o["location"])
                                                                           for o in plain["objects"]]
    assert natural["objects"] != plain["objects"]
    with pytest.raises(scenes.SceneError, match="unknown palette"):
        scenes.make_spec(11, names, palette="pastel")

    specs = [scenes.make_spec(s, names, frames=1, palette="natural") for s in range(4_000_000, 4_000_080)]
    objects = [o["material"] for s in specs for o in s["objects"]]
    grounds = [s["ground"]["material"] for s in specs if s["ground"]]
    assert {m["class"] for m in objects} == set(scenes.NATURAL_OBJECTS)
    assert {m["class"] for m in grounds} == set(scenes.NATURAL_GROUNDS)
    by_class = {}
    for m in objects + grounds:
        by_class.setdefault(m["class"], []).append(m)
    # what the grey image shows goes with the colour: wave-banded wood is orange-brown, noisy foliage and grass
    # green, brick red with pale mortar, stone near-grey, skin warm and subsurface; painted objects take any hue
    for m in by_class["wood"]:
        h, s, _ = _hsv_of(m["color"])
        assert m["texture"]["type"] == "wave" and 0.04 <= h <= 0.11 and s >= 0.4
    for m in by_class["foliage"] + by_class["grass"]:
        assert m["texture"]["type"] == "noise" and 0.19 <= _hsv_of(m["color"])[0] <= 0.39
    for m in by_class["brick"]:
        h, s, _ = _hsv_of(m["color"])
        assert m["texture"]["type"] == "brick" and (h <= 0.06 or h >= 0.98) and _hsv_of(m["texture"]["color"])[1] <= 0.16
    assert all(_hsv_of(m["color"])[1] <= 0.13 for m in by_class["stone"])
    assert all(m["subsurface"] == 1.0 and 0.01 <= _hsv_of(m["color"])[0] <= 0.1 for m in by_class["skin"])
    assert all(m["metallic"] == 1.0 for m in by_class["metal"])
    hues = [_hsv_of(m["color"])[0] for m in by_class["painted"]]
    assert min(hues) < 0.15 and max(hues) > 0.7
    assert len(by_class["painted"]) < 0.4 * len(objects)  # a minority: hints stay needed
    skies = [s["world"] for s in specs if s["world"]["class"] == "sky"]
    assert skies and all(0.54 <= _hsv_of(w["color"])[0] <= 0.64 and w["kind"] == "gradient" for w in skies)
    assert all(_hsv_of(w["horizon"])[1] < _hsv_of(w["color"])[1] for w in skies)  # paler towards the horizon
