"""Scene families (scene engine v2): deterministic plain-JSON specs, weighted draws, every family builds and
renders with every pass, motion in every family, the v2 presets."""
from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from ml_core import data, render
from ml_core.scenes import SceneError, make_spec
from ml_core.scenes.families import DEFAULT_WEIGHTS, FAMILIES, draw_family

NAMES = sorted(FAMILIES.names())
#: per family, the digest of its specs for seeds 0-9 (3 frames, one mesh name). A v2 folder's config fingerprint
#: covers the weights, not the generators' code: a change to a family's draws must be deliberate (update the digest
#: and build into a new folder), or a growing dataset would mix two generators.
FAMILY_SPEC_DIGESTS = {
    "classic": "a60491ce2061c143", "dof": "425da0c9f85fcca3", "glass": "c01d26e1ba06cebf",
    "grazing": "8af975db98060c25", "hair": "fa9dc8b836ed0e00", "interior": "a2d9b48800fd5e9b",
    "motion": "6ee664699de257d7", "neon": "598b75100ed4c945", "outdoor": "a0f27eba00d51598",
    "skin": "4301184f7dead51f", "studio": "4d6f45f2aad7c8fb", "thin": "cf8673b9bc40b687",
    "volume": "a046a0b97f3abec3"}
PASSES = {"Combined": 4, "Denoising Albedo": 3, "Denoising Normal": 3, "Denoising Depth": 1, "Depth": 1, "Vector": 4}


def _first_seed(name: str, weights=DEFAULT_WEIGHTS, start: int = 0) -> int:
    return next(s for s in range(start, start + 10_000) if draw_family(s, weights) == name)


def test_the_families_the_brief_asks_for_are_registered_with_weights_summing_to_one():
    assert set(NAMES) == {"classic", "interior", "studio", "outdoor", "glass", "dof", "skin", "hair", "thin",
                          "volume", "neon", "grazing", "motion"}
    assert math.isclose(sum(DEFAULT_WEIGHTS.values()), 1.0)
    assert all(w > 0 for w in DEFAULT_WEIGHTS.values())


@pytest.mark.parametrize("name", NAMES)
def test_family_specs_are_deterministic_plain_json_and_record_their_family(name):
    family = FAMILIES.get(name)
    variants = set()
    for seed in range(12):
        spec = make_spec(seed, ["a.obj"], frames=3, families=name)
        text = json.dumps(spec, sort_keys=True)
        assert json.loads(text) == spec  # plain JSON: no tuples, numpy numbers or NaN survive a round trip
        assert "NaN" not in text and "Infinity" not in text
        assert json.dumps(make_spec(seed, ["a.obj"], frames=3, families=name), sort_keys=True) == text
        assert spec["family"] == name and spec["seed"] == seed
        assert spec["frames"] == 3 and spec["frame_still"] == 2
        assert spec["objects"] and spec["camera"]["lens"] > 0
        if name != "classic":
            assert spec["version"] == 2 and spec["variant"] in family.variants
            variants.add(spec["variant"])
    assert make_spec(1, ["a.obj"], families=name) != make_spec(2, ["a.obj"], families=name)
    if name != "classic":
        assert len(variants) >= 2, f"{name}: 12 seeds drew only {variants}"


def test_family_specs_are_pinned():
    import hashlib

    digests = {}
    for name in NAMES:
        h = hashlib.sha256()
        for seed in range(10):
            h.update(json.dumps(make_spec(seed, ["a.obj"], frames=3, families=name), sort_keys=True).encode())
        digests[name] = h.hexdigest()[:16]
    assert digests == FAMILY_SPEC_DIGESTS


def test_what_the_families_draw():
    """The features each family exists for are in its specs (a family that lost them would fail here)."""
    def specs(name, n=16):
        return [make_spec(s, [], frames=1, families=name) for s in range(n)]

    def materials(spec):
        out = [o["material"] for o in spec["objects"]]
        return out + [o["hair"]["material"] for o in spec["objects"] if o.get("hair")]

    for spec in specs("interior"):  # closed: floor, ceiling and walls around the camera
        room = spec["room"]
        x, y, z = spec["camera"]["location"]
        assert abs(x) < room["width"] / 2 and abs(y) < room["depth"] / 2 and 0 < z < room["height"]
        if spec["variant"] != "lamps":
            assert any(li.get("portal") for li in spec["lights"])
        else:
            assert any(li["type"] in ("point", "spot") and li["size"] <= 0.15 for li in spec["lights"])
    assert all(s["objects"][0]["shape"]["source"] == "sweep" for s in specs("studio"))
    assert all(1 <= sum(li["type"] == "area" for li in s["lights"]) <= 3 for s in specs("studio"))
    for spec in specs("outdoor"):
        sun = [li for li in spec["lights"] if li["type"] == "sun"]
        assert len(sun) == 1 and sun[0]["size"] < math.radians(2.1)  # small sun: hard shadows
        assert sun[0]["location"][2] / math.dist(sun[0]["location"], (0, 0, 0)) < math.sin(math.radians(36))
        assert spec["objects"][0]["dims"][0] >= 1000 and spec["camera"]["clip_end"] >= 1000  # to the horizon
    assert any(s["world"]["kind"] == "sky" for s in specs("outdoor"))
    glass = specs("glass", 24)
    assert all(any(m["kind"] == "glass" for m in materials(s)) for s in glass)
    assert any(m["ior"] == 1.33 for s in glass for m in materials(s))  # liquids
    for spec in specs("dof"):
        assert spec["camera"]["dof"]["fstop"] <= 2.8
    for spec in specs("skin"):
        sss = [m for m in materials(spec) if m["subsurface"] == 1.0]
        assert sss and all("subsurface_radius" in m for m in sss)
    skin = [m["subsurface_radius"] for s in specs("skin") for m in materials(s) if m.get("class") == "skin"]
    assert skin and all(r[0] > r[1] > r[2] for r in skin)  # reddish: red scatters furthest
    assert all(any(o.get("hair") for o in s["objects"]) for s in specs("hair"))
    thin = specs("thin", 24)
    assert {s["variant"] for s in thin} == {"wires", "fence", "foliage"}
    assert any(o["shape"]["source"] == "curve" and o["shape"]["radius"] <= 0.02 for s in thin for o in s["objects"])
    assert any(m.get("alpha", {}) and m["alpha"]["type"] == "leaves" for s in thin for m in materials(s))
    for spec in specs("volume"):
        assert any(m.get("volume") for m in materials(spec))
        if spec["variant"] == "smoke":
            assert any(m["volume"]["noise"] for m in materials(spec) if m.get("volume"))
    for spec in specs("neon"):
        emitters = sum(m["emission"] > 0 for m in materials(spec)) + sum(li["size"] <= 0.02 for li in spec["lights"])
        assert emitters >= 3
    for spec in specs("grazing"):
        surface = spec["objects"][0]["material"]
        assert surface["texture"] and surface["bump"] > 0
        cam, target = spec["camera"]["location"], spec["camera"]["target"]
        grazing = (cam[2] - target[2]) if spec["variant"] == "floor" else (cam[0] - target[0])
        assert 0 < grazing / math.dist(cam, target) < math.sin(math.radians(16))
    for spec in specs("motion"):
        moving = [o for o in spec["objects"] if o["motion"]]
        assert len(moving) >= 2 and (spec["camera"]["motion"] or spec["variant"] == "still_camera")


def test_family_weights_select_families_with_their_frequencies():
    n = 6000
    counts = Counter(draw_family(seed, DEFAULT_WEIGHTS) for seed in range(n))
    for name, weight in DEFAULT_WEIGHTS.items():
        sigma = math.sqrt(n * weight * (1 - weight))
        assert abs(counts[name] - n * weight) < 4.5 * sigma, (name, counts[name], n * weight)
    custom = {"neon": 1.0, "interior": 3.0, "glass": 0.0}
    drawn = Counter(draw_family(seed, custom) for seed in range(2000))
    assert set(drawn) == {"neon", "interior"}  # weight 0 never drawn, unlisted families never drawn
    assert abs(drawn["interior"] - 1500) < 4.5 * math.sqrt(2000 * 0.75 * 0.25)
    # the order of the mapping does not matter; a seed's scene in a family does not depend on the weights
    assert [draw_family(s, dict(reversed(list(custom.items())))) for s in range(200)] == \
        [draw_family(s, custom) for s in range(200)]
    seed = _first_seed("interior", custom)
    assert make_spec(seed, [], families=custom) == make_spec(seed, [], families="interior")
    assert make_spec(seed, [], families={"interior": 1.0}) == make_spec(seed, [], families="interior")


def test_bad_family_options_raise():
    with pytest.raises(ValueError, match="unknown scene family 'kitchen'"):
        make_spec(1, families={"kitchen": 1.0})
    with pytest.raises(ValueError, match="unknown scene family"):
        make_spec(1, families="kitchen")
    with pytest.raises(SceneError, match="weight > 0"):
        make_spec(1, families={"interior": 0.0})
    with pytest.raises(SceneError, match=">= 0"):
        make_spec(1, families={"interior": -1.0, "neon": 2.0})
    with pytest.raises(SceneError, match="classic family only"):
        make_spec(1, families="interior", palette="natural")
    with pytest.raises(SceneError, match="frames"):
        make_spec(1, families="studio", frames=0)


def test_classic_family_is_the_generator_without_families():
    for seed in (0, 5, 17):
        plain = make_spec(seed, ["a.obj"], frames=5, motion_scale=0.5)
        drawn = make_spec(seed, ["a.obj"], frames=5, motion_scale=0.5, families="classic")
        assert "family" not in plain and drawn.pop("family") == "classic" and drawn == plain
        natural = make_spec(seed, ["a.obj"], palette="natural", families="classic")
        assert natural.pop("family") == "classic" and natural == make_spec(seed, ["a.obj"], palette="natural")


def test_motion_scale_scales_every_family_motion():
    for name in NAMES:
        seed = next(s for s in range(60) if any(o["motion"] for o in make_spec(s, [], families=name)["objects"])
                    or make_spec(s, [], families=name)["camera"]["motion"])
        one, half = make_spec(seed, [], families=name), make_spec(seed, [], families=name, motion_scale=0.5)
        assert half["motion_scale"] == 0.5 and "motion_scale" not in one
        for a, b in zip([o["motion"] for o in one["objects"]] + [one["camera"]["motion"]],
                        [o["motion"] for o in half["objects"]] + [half["camera"]["motion"]]):
            for key in (a or {}):
                np.testing.assert_allclose(b[key], np.array(a[key]) * 0.5, atol=1e-5)


def test_v2_presets():
    v2, tiny = render.PRESETS.get("v2"), render.PRESETS.get("v2_tiny")
    assert (v2.width, v2.height, v2.noisy_spp, v2.lowres_scales, v2.frames) == (256, 256, (1, 2, 4, 8, 16), (), 1)
    assert v2.family_weights == DEFAULT_WEIGHTS == tiny.family_weights
    assert 256 <= v2.target_spp <= 512 and v2.target_adaptive_threshold > 0
    assert tiny.width == 48 and max(tiny.noisy_spp) <= 4
    assert render.products(v2) == [f"noisy_spp{s:04d}.exr" for s in (1, 2, 4, 8, 16)] + ["target.exr"]
    n2n = render.PRESETS.get("v2_n2n")  # Noise2Noise pairs: the same scenes, a few-sample target of its own seed
    assert (n2n.width, n2n.height, n2n.family_weights) == (v2.width, v2.height, v2.family_weights)
    assert (n2n.target_spp, n2n.target_adaptive_threshold) == (32, 0.0) and max(n2n.noisy_spp) < n2n.target_spp
    assert render.products(n2n) == [f"noisy_spp{s:04d}.exr" for s in (1, 4, 16)] + ["target.exr"]
    assert render.PRESETS.get("default").family_weights is None
    assert data.parse_families("interior=2, glass") == (("glass", 1.0), ("interior", 2.0))
    with pytest.raises(ValueError, match="unknown scene family"):
        data.parse_families("kitchen=1")


@pytest.fixture(scope="module")
def family_dataset(tmp_path_factory):
    """One train scene of every family through ``data.build`` with the v2_tiny preset at 32 px, 2 spp."""
    out = tmp_path_factory.mktemp("families")
    config = render.preset("v2_tiny", width=32, height=32, noisy_spp=(2,), target_spp=2)
    for name in NAMES:
        data.build(out, "train", 1, start=_first_seed(name), config=config, progress=False, sheet=False)
    return out, config


@pytest.mark.parametrize("name", NAMES)
def test_every_family_builds_and_renders_every_pass(family_dataset, name):
    from addon.runtime.exr import read_exr

    out, config = family_dataset
    folder = data.scene_dir(out, _first_seed(name))
    manifest = json.loads((folder / render.MANIFEST).read_text())
    spec = json.loads((folder / render.SPEC).read_text())
    assert manifest["family"] == spec["family"] == name
    assert manifest.get("variant") == spec.get("variant")
    assert manifest["clean_guides"]["file"] == "target.exr" and manifest["clean_guides"]["spp"] == config.target_spp
    assert sorted(manifest["files"]) == sorted(render.products(config))
    for product in render.products(config):
        exr = read_exr(folder / product)
        for pass_name, n in PASSES.items():
            arr = exr.get(pass_name, channels=n)
            assert arr.shape == (32, 32, n) and np.isfinite(arr).all(), (product, pass_name)
        hit = exr.get("Depth")[..., 0] < 1e9
        assert hit.mean() > 0.2, f"{name}: the camera sees little geometry ({hit.mean():.2f})"
        assert exr.get("Combined")[..., :3].max() > 0, f"{name}: black render"


def test_sheet_and_stats_per_family(family_dataset):
    import cv2

    out, _ = family_dataset
    assert [json.loads((f / render.MANIFEST).read_text())["family"]
            for f in data.first_scene_per_family(out, "train")] == NAMES
    stats = data.stats(out)["splits"]["train"]
    assert sorted(stats["families"]) == NAMES and all(f["scenes"] == 1 for f in stats["families"].values())
    png = data.contact_sheet(out, "train", count=100, cell=32, per_family=True)
    assert png.name == "contact_sheet_train_families.png"
    assert cv2.imread(str(png)).shape[0] == 22 + 32 * len(NAMES)


def _check_built(scene, spec) -> None:
    """The Blender scene has what ``spec`` asks for: shapes, sizes, hair, tubes, materials, lights, world."""
    import bpy

    for i, o in enumerate(spec["objects"]):
        ob = scene.objects[f"object{i}"]
        source = o["shape"]["source"]
        if source == "curve":
            assert ob.type == "CURVE" and math.isclose(ob.data.bevel_depth, o["shape"]["radius"], rel_tol=1e-5)
        else:
            assert ob.type == "MESH" and len(ob.data.polygons) > 0
        if "dims" in o and source in ("primitive", "plane"):
            want = [d * o["scale"] for d in o["dims"]][:2 if source == "plane" else 3]
            np.testing.assert_allclose(list(ob.dimensions)[:len(want)], want, rtol=1e-4)
        if o.get("hair"):
            hair = [c for c in ob.children if c.type == "CURVES"]
            assert len(hair) == 1 and len(hair[0].data.curves) == o["hair"]["count"]
            assert len(hair[0].data.points) == o["hair"]["count"] * o["hair"]["segments"]
        m = o["material"]
        nodes = ob.active_material.node_tree.nodes
        bsdf = nodes["Principled BSDF"]
        output = next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
        if m.get("alpha"):
            assert bsdf.inputs["Alpha"].is_linked
        if "subsurface_radius" in m:
            np.testing.assert_allclose(list(bsdf.inputs["Subsurface Radius"].default_value), m["subsurface_radius"],
                                       rtol=1e-5)
        if m.get("volume"):
            assert output.inputs["Volume"].is_linked
            assert output.inputs["Surface"].is_linked == (m["kind"] != "volume")
    for i, li in enumerate(spec["lights"]):
        data = scene.objects[f"light{i}"].data
        assert data.type == li["type"].upper() and data.cycles.is_portal == bool(li.get("portal"))
    world = scene.world.node_tree.nodes
    skies = [n for n in world if n.bl_idname == "ShaderNodeTexSky"]
    assert len(skies) == (spec["world"]["kind"] == "sky")
    if skies:
        assert skies[0].sky_type == spec["world"]["sky"]["type"]
    for key, value in spec.get("cycles", {}).items():
        assert getattr(scene.cycles, key) == value
    assert bpy.context.scene == scene


def test_every_family_builds_what_its_spec_says_and_animates():
    """Built with 3 frames, each family's scene holds what its spec asks for (a seed per variant), and its moving
    objects and camera are elsewhere at frames 1 and 3 (a seed whose camera moves)."""
    from ml_core.scenes import build_scene

    for name in NAMES:
        seen, moved = set(), 0
        for seed in range(60):
            spec = make_spec(seed, [], frames=3, families=name)
            if spec.get("variant") in seen and (moved or not spec["camera"]["motion"]):
                continue  # a seed per variant, and one with camera motion
            seen.add(spec.get("variant"))
            scene = build_scene(spec)
            _check_built(scene, spec)
            if not spec["camera"]["motion"]:
                continue
            moving = [f"object{i}" for i, o in enumerate(spec["objects"]) if o["motion"]][:1]
            for obj_name in moving + ["camera", "camera_target"]:
                ob = scene.objects[obj_name]
                scene.frame_set(1)
                first = np.array(ob.matrix_world)
                scene.frame_set(3)
                assert not np.allclose(first, np.array(ob.matrix_world), atol=1e-6), (name, obj_name)
            moved += 1
        assert moved, f"{name}: no seed of 60 moves the camera"
        assert seen == (set(FAMILIES.get(name).variants) or {None}), (name, seen)
