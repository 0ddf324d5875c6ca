"""Issue 28, guide-pass inbetweening in the runtime: the frame between two rendered key frames made with that
frame's own guide render (Denoising Albedo/Normal/Depth and Vector at a few samples) by a model that reads
source 2, on real Cycles renders (``guided_shot``: keys 1001, 1003, 1005; guides of 1002, 1003, 1004) and real
exported models (the tiny test models of ``models_dir``; the shipped ``addon/models`` once).

What is guarded: the keys are warped by the steps to each key (``t * key_steps`` back, ``(1 - t) * key_steps``
ahead; checked against numpy); the API feeds each file's passes to the right inputs (key before to ``*0``, key
after to ``*1``, the guide to the unnumbered inputs); with guides a model that reads them always runs and
without guides never; what cannot run is refused in one line naming the file or the model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import copy_models

from addon.runtime import (ImageError, ModelError, inbetween, inbetween_file, load_model, read_exr, read_image,
                           write_exr)
from addon.runtime.engine import warp_steps
from addon.runtime.exr import ExrImage
from addon.runtime.motion import chained_flow, flow_to, sample, warp_inputs
from addon.runtime.registry import Registry, models_dir as default_models_dir

GUIDED = "inbetween_guided"
#: guided model input -> (source: 0 key before, 1 key after, 2 the made frame's guide; Blender pass)
GUIDED_INPUTS = {"frame0": (0, "Combined"), "albedo0": (0, "Denoising Albedo"), "normal0": (0, "Denoising Normal"),
                 "depth0": (0, "Denoising Depth"), "frame1": (1, "Combined"), "albedo1": (1, "Denoising Albedo"),
                 "normal1": (1, "Denoising Normal"), "depth1": (1, "Denoising Depth"),
                 "albedo": (2, "Denoising Albedo"), "normal": (2, "Denoising Normal"),
                 "depth": (2, "Denoising Depth"), "vectors": (2, "Vector")}
CHOICE = f"inbetween: {GUIDED} (guide passes given; uses albedo/normal/depth/vectors)"


def key(shot: Path, frame: int) -> Path:
    return shot / "render" / f"beauty.{frame}.exr"


def guide(shot: Path, frame: int) -> Path:
    return shot / "guides" / f"g.{frame}.exr"


def guided_inputs(*paths: Path) -> dict:
    files = [read_image(p) for p in paths]
    return {name: files[source].get(pass_name) for name, (source, pass_name) in GUIDED_INPUTS.items()}


def numpy_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``out(p) = image(p + flow(p))``, bilinear, zero beyond the image: the reference, in plain numpy."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx + flow[..., 0].astype(np.float64), yy + flow[..., 1].astype(np.float64)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    out = np.zeros(image.shape, np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xs, ys = x0 + dx, y0 + dy
            inside = ((xs >= 0) & (xs < w) & (ys >= 0) & (ys < h))[..., None]
            out += wy * wx * np.where(inside, image[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)], 0.0)
    return out


def inside_taps(flow: np.ndarray) -> np.ndarray:
    """Where all four bilinear taps of ``p + flow(p)`` lie inside the image."""
    h, w = flow.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx + flow[..., 0], yy + flow[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def test_warp_moves_each_key_by_its_frame_steps_as_numpy_does(models_dir):
    contract = Registry(models_dir).get(GUIDED).contract
    h, w = 24, 32
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    smooth = lambda a, b: 0.5 + 0.4 * np.sin(xx / a + yy / b)  # noqa: E731  (OpenCV's remap weights are 1/32 steps)
    frame0, frame1 = (np.stack([smooth(a, 7), smooth(5, a), smooth(a, -4)], -1).astype(np.float32) for a in (5, 9))
    vector = np.random.default_rng(0).uniform(-1.5, 1.5, (h, w, 4)).astype(np.float32)  # one step, Blender's
    prev_flow = np.stack([vector[..., 0], -vector[..., 1]], -1)  # x right, y down, to the frame before
    next_flow = np.stack([-vector[..., 2], vector[..., 3]], -1)
    steps = warp_steps(contract, {"t": 0.25}, 3)
    assert steps == {"prev": 0.75, "next": 2.25}  # key before 0.75 steps back, key after 2.25 ahead
    images = {"frame0": frame0, "albedo0": frame0[..., ::-1], "frame1": frame1, "vectors": vector}
    warp_inputs(contract, images, GUIDED, steps)
    for name, source, flow, n in (("frame0", frame0, prev_flow, 0.75), ("albedo0", frame0[..., ::-1], prev_flow, 0.75),
                                  ("frame1", frame1, next_flow, 2.25)):
        expected = numpy_warp(source, flow * n)
        inside = inside_taps(flow * n)  # OpenCV's weights are 1/32 steps: tight where the image is smooth
        np.testing.assert_allclose(images[name][inside], expected[inside], rtol=0, atol=4e-3, err_msg=name)
        np.testing.assert_allclose(images[name], expected, rtol=0, atol=2e-2, err_msg=name)  # the zero border too
        assert np.abs(numpy_warp(source, flow) - expected).max() > 0.05  # one step would fail the comparison
    assert np.array_equal(images["vectors"], vector)  # the guide's own passes stay where they are

    # one step each way without key_steps (the temporal denoiser), or at the trained spacing
    assert warp_steps(contract, {}, None) is None
    assert warp_steps(contract, {}, 2) == {"prev": 1.0, "next": 1.0}  # t defaults to 0.5
    assert warp_steps(contract, {"t": 0.75}, 4) == {"prev": 3.0, "next": 1.0}
    plain = {"frame0": frame0, "vectors": vector}
    warp_inputs(contract, plain, GUIDED)
    inside = inside_taps(prev_flow)
    np.testing.assert_allclose(plain["frame0"][inside], numpy_warp(frame0, prev_flow)[inside], rtol=0, atol=4e-3)
    temporal = next(e.contract for e in Registry(default_models_dir()).entries.values()
                    if any(i.warp for i in e.contract.image_inputs) and e.contract.task == "denoise")
    assert warp_steps(temporal, {}, 4) is None  # no t: its neighbours are one step away


def test_the_engine_warps_the_keys_by_t_times_key_steps(guided_shot, models_dir):
    model = load_model(GUIDED, models_dir)
    inputs = guided_inputs(key(guided_shot, 1001), key(guided_shot, 1005), guide(guided_shot, 1002))
    inputs = {k: v[..., :3] if k.startswith("frame") else v for k, v in inputs.items()}  # no alpha to carry
    result = model.run({**inputs, "t": 0.25, "exposure": 1.0}, key_steps=4).image

    # the same network fed directly, its keys moved by OpenCV along the guide's vectors scaled by hand
    vector = inputs["vectors"]
    feed = {"t": np.array([[0.25]], np.float32), "exposure": np.array([[1.0]], np.float32)}
    for name, value in inputs.items():
        spec = model.contract.input(name)
        if spec.warp:
            which = spec.warp[1]
            value = sample(value, flow_to(vector, which) * np.float32(1.0 if which == "prev" else 3.0))
        feed[name] = np.ascontiguousarray(value.transpose(2, 0, 1)[None], dtype=np.float32)
    expected = model.session.ort.run(None, feed)[0][0].transpose(1, 2, 0)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)
    even = model.run({**inputs, "t": 0.25, "exposure": 1.0}, key_steps=2).image  # 0.5 and 1.5 steps
    assert np.abs(even - result).max() > 1e-3


def test_guides_give_the_guided_model_fed_from_each_file(guided_shot, models_dir, tmp_path):
    k0, k1, g = key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002)
    result = inbetween_file(k0, k1, tmp_path / "mid.exr", guides=g, models_dir=models_dir, threads=1)
    assert result.model == GUIDED and result.choice == CHOICE
    expected = load_model(GUIDED, models_dir, threads=1).run({**guided_inputs(k0, k1, g), "t": 0.5},
                                                             key_steps=2).image
    assert np.array_equal(result.image, expected)
    assert np.array_equal(read_exr(tmp_path / "mid.exr").get("Combined"), expected)
    swapped = load_model(GUIDED, models_dir, threads=1).run({**guided_inputs(k1, k0, g), "t": 0.5}, key_steps=2)
    assert np.abs(swapped.image - expected).max() > 1e-4  # the order of the keys matters

    # the same frame from arrays: keys and guide as read_image results or as dicts of their passes
    files = [read_image(p) for p in (k0, k1, g)]
    assert np.array_equal(inbetween(files[0], files[1], guides=files[2], models_dir=models_dir, threads=1), expected)
    as_dict = lambda f: {"color": f.get("Combined"), "albedo": f.get("Denoising Albedo"),  # noqa: E731
                         "normal": f.get("Denoising Normal"), "depth": f.get("Denoising Depth")}
    guides = {"albedo": files[2].get("Denoising Albedo"), "normal": files[2].get("Denoising Normal"),
              "depth": files[2].get("Denoising Depth"), "vectors": files[2].get("Vector")}
    assert np.array_equal(inbetween(as_dict(files[0]), as_dict(files[1]), 0.5, guides=guides, models_dir=models_dir,
                                    threads=1), expected)

    # without guides the same keys never get the guided model (the vector passes' model runs, as before)
    plain = inbetween_file(k0, k1, tmp_path / "plain.exr", models_dir=models_dir, threads=1)
    assert plain.model == "inbetween_vectors" and "guide" not in plain.choice
    assert np.abs(plain.image - expected).max() > 1e-4
    vectors_model = load_model("inbetween_vectors", models_dir, threads=1).run(
        {"frame0": files[0].get("Combined"), "frame1": files[1].get("Combined"), "vectors0": files[0].get("Vector"),
         "vectors1": files[1].get("Vector"), "depth0": files[0].get("Denoising Depth"),
         "depth1": files[1].get("Denoising Depth"), "t": 0.5}, key_steps=2).image
    assert np.array_equal(plain.image, vectors_model)
    assert np.array_equal(inbetween(files[0], files[1], models_dir=models_dir, threads=1), vectors_model)


def test_keys_every_fourth_frame_are_read_at_their_distance(guided_shot, models_dir, tmp_path):
    k0, k1, g = key(guided_shot, 1001), key(guided_shot, 1005), guide(guided_shot, 1002)
    result = inbetween_file(k0, k1, tmp_path / "a.exr", t=0.25, key_steps=4, guides=g, models_dir=models_dir)
    expected = load_model(GUIDED, models_dir).run({**guided_inputs(k0, k1, g), "t": 0.25}, key_steps=4).image
    assert np.array_equal(result.image, expected)
    assert result.scalars["t"] == 0.25


def test_chained_flow_follows_each_frames_own_vectors():
    """Keys several frames away (issue 28): the flow to a key is the made frame's one-step flow plus the next
    frame's, read where the point has got to, and so on; a uniform motion composes to its sum, an accelerating
    one to what scaling the first step misses."""
    h, w = 20, 30
    step = np.zeros((h, w, 4), np.float32)
    step[..., 0], step[..., 1] = 1.5, -0.5  # to the frame before: 1.5 px right, 0.5 px down (y up in Blender)
    flow = chained_flow([step, step, step], "prev")
    assert np.allclose(flow[..., 0], 4.5) and np.allclose(flow[..., 1], 1.5)
    assert np.allclose(chained_flow([step], "prev"), flow_to(step, "prev"))
    # the next frame moves its points by x / 10 px to the right: at x = 10 the second step is 1 px, at x = 10 +
    # the first step's 2 px, 1.2 px
    first = np.zeros((h, w, 4), np.float32)
    first[..., 2] = -2.0  # ZW = pos(cur) - pos(next): 2 px right towards the next frame
    second = np.zeros((h, w, 4), np.float32)
    second[..., 2] = -np.arange(w, dtype=np.float32)[None, :] / 10
    flow = chained_flow([first, second], "next")
    assert np.isclose(flow[5, 10, 0], 2.0 + 1.2) and np.allclose(flow[..., 1], 0.0)
    assert not np.isclose(flow[5, 10, 0], 2 * 2.0)  # two steps of the made frame's own vectors


def test_key_chains_move_a_key_along_the_frames_between(guided_shot, models_dir):
    """The engine with ``key_chains``: the key after is moved along the made frame's vectors, then the next
    frames' (guide renders of 1002, 1003 and 1004 for keys 1001 and 1005); without them by 3 steps of the made
    frame's own; a chain of the wrong size is refused naming it."""
    model = load_model(GUIDED, models_dir)
    inputs = guided_inputs(key(guided_shot, 1001), key(guided_shot, 1005), guide(guided_shot, 1002))
    inputs = {k: v[..., :3] if k.startswith("frame") else v for k, v in inputs.items()}
    later = [read_image(guide(guided_shot, f)).get("Vector") for f in (1003, 1004)]
    result = model.run({**inputs, "t": 0.25, "exposure": 1.0}, key_steps=4, key_chains={"next": later}).image
    feed = {"t": np.array([[0.25]], np.float32), "exposure": np.array([[1.0]], np.float32)}
    for name, value in inputs.items():
        spec = model.contract.input(name)
        if spec.warp:
            which = spec.warp[1]
            flow = chained_flow([inputs["vectors"], *later], "next") if which == "next" else \
                flow_to(inputs["vectors"], "prev")
            value = sample(value, flow)
        feed[name] = np.ascontiguousarray(value.transpose(2, 0, 1)[None], dtype=np.float32)
    np.testing.assert_allclose(result, model.session.ort.run(None, feed)[0][0].transpose(1, 2, 0), rtol=0, atol=1e-6)
    scaled = model.run({**inputs, "t": 0.25, "exposure": 1.0}, key_steps=4).image
    assert np.abs(scaled - result).max() > 1e-4
    with pytest.raises(ModelError, match="the Vector pass 3 steps towards the next frame is 8x8x4"):
        model.run({**inputs, "t": 0.25}, key_steps=4, key_chains={"next": [later[0], np.zeros((8, 8, 4), np.float32)]})
    with pytest.raises(ModelError, match="sides are 'prev' and 'next'"):
        model.run({**inputs, "t": 0.25}, key_steps=4, key_chains={"after": later})
    with pytest.raises(ModelError, match=r"the next frame is 3 steps away, but the chain towards it has 1 Vector "
                                         r"passes \(one per frame between: 2\)"):
        model.run({**inputs, "t": 0.25}, key_steps=4, key_chains={"next": later[:1]})


def test_named_models_must_read_the_sources_given(guided_shot, models_dir, tmp_path):
    k0, k1, g = key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002)
    with pytest.raises(ModelError, match="^model 'inbetween_vectors' reads key frames alone, not key frames and "
                                         "guides$"):
        inbetween_file(k0, k1, tmp_path / "x.exr", guides=g, model="inbetween_vectors", models_dir=models_dir)
    with pytest.raises(ModelError, match=f"^model '{GUIDED}' reads key frames and guides, not key frames alone$"):
        inbetween_file(k0, k1, tmp_path / "x.exr", model=GUIDED, models_dir=models_dir)
    files = [read_image(p) for p in (k0, k1, g)]
    with pytest.raises(ModelError, match=f"^model '{GUIDED}' reads key frames and guides, not key frames alone$"):
        inbetween(files[0].get("Combined"), files[1].get("Combined"), model=GUIDED, models_dir=models_dir)
    named = inbetween_file(k0, k1, tmp_path / "n.exr", guides=g, model=GUIDED, models_dir=models_dir)
    assert named.choice == f"inbetween: {GUIDED} (guide passes given; chosen by name)"
    assert not (tmp_path / "x.exr").exists()


def test_a_models_folder_without_a_guided_model_is_refused_in_one_line(guided_shot, models_dir, tmp_path):
    unguided = copy_models(models_dir, ["inbetween_vectors", "inbetween_flow"], tmp_path / "models")
    k0, k1, g = key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002)
    line = (f"no inbetween model in {unguided / 'registry.json'} reads key frames and guides (its inbetween models: "
            "inbetween_vectors (key frames alone), inbetween_flow (key frames alone))")
    with pytest.raises(ModelError) as refused:
        inbetween_file(k0, k1, tmp_path / "x.exr", guides=g, models_dir=unguided)
    assert str(refused.value) == line
    files = [read_image(p) for p in (k0, k1, g)]
    with pytest.raises(ModelError) as refused:
        inbetween(files[0], files[1], guides=files[2], models_dir=unguided)
    assert str(refused.value) == line
    assert inbetween_file(k0, k1, tmp_path / "y.exr", models_dir=unguided).model == "inbetween_vectors"


@pytest.mark.parametrize("which, drop, problem", [
    ("guide", ("Vector",), "no Vector pass in view layer 'ViewLayer': {m} reads key frames and guides and needs "
                           "Denoising Albedo, Denoising Normal, Denoising Depth and Vector in every guide; render the "
                           "guides with Denoising Data and the Vector pass"),
    ("guide", ("Denoising Depth",), "no Denoising Depth pass in view layer 'ViewLayer': {m} reads key frames and "
                                    "guides and needs Denoising Albedo, Denoising Normal, Denoising Depth and Vector "
                                    "in every guide; render the guides with Denoising Data and the Vector pass"),
    ("key", ("Denoising Albedo", "Denoising Normal", "Denoising Depth"),
     "no Denoising Albedo, Denoising Normal and Denoising Depth passes in view layer 'ViewLayer': {m} reads key "
     "frames and guides and needs Combined, Denoising Albedo, Denoising Normal and Denoising Depth in every key "
     "frame; render the key frames with Denoising Data"),
])
def test_files_without_the_passes_are_refused_naming_the_file(guided_shot, models_dir, tmp_path, which, drop,
                                                              problem):
    paths = [key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002)]
    broken = tmp_path / f"broken.{1002 if which == 'guide' else 1003}.exr"
    write_exr(broken, {p: a for p, a in read_image(paths[2 if which == "guide" else 1]).passes.items()
                       if p not in drop})
    paths[2 if which == "guide" else 1] = broken
    with pytest.raises(ImageError) as refused:
        inbetween_file(paths[0], paths[1], tmp_path / "x.exr", guides=paths[2], models_dir=models_dir)
    assert str(refused.value) == f"{broken}: {problem.format(m=GUIDED)}"
    assert not (tmp_path / "x.exr").exists()


def test_array_calls_say_what_is_wrong(guided_shot, models_dir):
    files = [read_image(p) for p in (key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002))]
    colour = [f.get("Combined") for f in files]
    with pytest.raises(ModelError, match="with guides= the key frames need their Denoising Data too: frame0 has no "
                                         "albedo, normal, depth"):
        inbetween(colour[0], colour[1], guides=files[2], models_dir=models_dir)
    with pytest.raises(ModelError, match="vectors= are the key frames' Vector passes, for runs without guides"):
        inbetween(files[0], files[1], vectors=(files[0].get("Vector"), files[1].get("Vector")), guides=files[2],
                  models_dir=models_dir)
    with pytest.raises(ModelError, match=r"guides takes albedo, normal, depth, vectors \(vectors missing\)"):
        inbetween(files[0], files[1], guides={"albedo": colour[2], "normal": colour[2], "depth": colour[2][..., :1]},
                  models_dir=models_dir)
    with pytest.raises(ModelError, match="the key frames' albedo/normal are read only with guides="):
        inbetween({"color": colour[0], "albedo": files[0].get("Denoising Albedo")}, files[1], models_dir=models_dir)
    no_albedo = ExrImage(files[2].path, "ViewLayer", {"Vector": files[2].get("Vector")})
    with pytest.raises(ImageError, match=f"^{files[2].path}: missing pass 'Denoising Albedo'"):
        inbetween(files[0], files[1], guides=no_albedo, models_dir=models_dir)


def test_the_shipped_models_pick_the_guided_model_only_with_guides(guided_shot, tmp_path):
    shipped = default_models_dir()
    assert GUIDED in Registry(shipped).entries
    k0, k1, g = key(guided_shot, 1001), key(guided_shot, 1003), guide(guided_shot, 1002)
    guided = inbetween_file(k0, k1, tmp_path / "g.exr", guides=g, models_dir=shipped)
    assert guided.model == GUIDED and guided.choice.startswith(f"inbetween: {GUIDED} (guide passes given; ")
    plain = inbetween_file(k0, k1, tmp_path / "p.exr", models_dir=shipped)
    assert plain.model == "inbetween_vectors" and "guide" not in plain.choice
    # two models ran: different frames, both finite (their quality on real cases: tests/tasks/test_shipped_models)
    assert np.isfinite(guided.image).all() and np.abs(guided.image - plain.image).max() > 1e-3
