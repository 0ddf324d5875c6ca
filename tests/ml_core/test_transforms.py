"""Augmentations move normals and motion vectors with the pixels."""
from __future__ import annotations

import numpy as np
import pytest

from ml_core import flow, transforms


def _sphere_normals(size: int = 33) -> np.ndarray:
    """Camera-space normals of a sphere filling the frame (x right, y up): symmetric under all 8 ops."""
    c = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    x, y = (cols - c) / c, -(rows - c) / c  # y up
    z = -np.sqrt(np.clip(1 - x**2 - y**2, 0, None))
    return np.stack([x, y, z], -1) * ((x**2 + y**2) <= 1)[..., None]


@pytest.mark.parametrize("op", range(8))
def test_normals_transform_with_the_image(op):
    normals = _sphere_normals()
    out = transforms.dihedral({"n": normals}, op, {"n": transforms.NORMAL})["n"]
    np.testing.assert_allclose(out, normals, atol=1e-6)
    if op:  # treating normals as plain colour would break the symmetry
        plain = transforms.dihedral({"n": normals}, op)["n"]
        assert not np.allclose(plain, normals, atol=1e-3)


@pytest.mark.parametrize("op", range(8))
def test_motion_vectors_transform_with_the_image(op):
    rng = np.random.default_rng(op)
    frame0 = rng.random((24, 24, 3)).astype(np.float32)
    dx, dy = 3, -2  # image coordinates: 3 px right, 2 px up
    frame1 = np.roll(frame0, (dy, dx), axis=(0, 1))
    vector0 = np.zeros((24, 24, 4), np.float32)
    vector0[..., 2], vector0[..., 3] = -dx, dy  # Blender: ZW = pos(cur) - pos(next), y up
    s = transforms.dihedral({"f0": frame0, "f1": frame1, "v": vector0}, op, {"v": transforms.VECTOR})
    fx, fy = flow.forward_flow(s["v"])[0, 0]
    assert (fx, fy) == tuple(flow.forward_flow(s["v"])[-1, -1])
    np.testing.assert_array_equal(np.roll(s["f0"], (int(fy), int(fx)), axis=(0, 1)), s["f1"])


@pytest.mark.parametrize("op", range(8))
def test_optical_flow_transforms_like_the_vector_pass_it_stands_for(op):
    vector = np.random.default_rng(op).normal(size=(6, 6, 4)).astype(np.float32)
    moved = transforms.dihedral({"v": vector, "f": flow.backward_flow(vector)}, op,
                                {"v": transforms.VECTOR, "f": transforms.FLOW})
    np.testing.assert_array_equal(moved["f"], flow.backward_flow(moved["v"]))


def test_crops_stay_aligned_across_resolutions():
    rng = np.random.default_rng(0)
    hr = rng.random((64, 64, 3)).astype(np.float32)
    lr = hr.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    for i in range(10):
        s = transforms.random_crop({"hr": hr, "lr": lr}, 32, np.random.default_rng(i))
        assert s["hr"].shape == (32, 32, 3) and s["lr"].shape == (8, 8, 3)
        np.testing.assert_allclose(s["hr"].reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)), s["lr"], atol=1e-6)
    with pytest.raises(ValueError, match="multiple of 4"):
        transforms.random_crop({"hr": hr, "lr": lr}, 30, np.random.default_rng(0))
