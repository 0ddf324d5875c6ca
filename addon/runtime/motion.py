"""Blender's Vector pass as motion between frames, and the warp that moves a neighbouring frame onto this one.

The Vector pass is in pixels with y pointing up: ``XY = pos(prev) - pos(cur)``, ``ZW = pos(cur) - pos(next)``.
In image coordinates (x right, y down, rows top-down, as our arrays are) the flow from each pixel of this frame
to where the same surface point is in the previous frame is ``(X, -Y)``, in the next frame ``(-Z, W)``.

A model input whose contract has ``warp=("vector", "prev")`` is the previous frame's pass, which the runtime
moves onto the current frame's pixels here (:func:`warp_inputs`), over the whole image before tiling: no tile
needs a margin for the motion, and OpenCV's remap is some 20x faster than onnxruntime's GridSample on the CPU
(0.6 s for a 9-channel 1080p warp there). The temporal denoiser's training data is warped by the same
functions (``ml_core.datasets.denoise_temporal``), so the network learns on what it gets.
"""
from __future__ import annotations

import numpy as np

from .contract import ModelContract, ModelError


def flow_to(vector: np.ndarray, which: str) -> np.ndarray:
    """H x W x 2 flow (dx, dy; pixels, x right, y down) from each pixel of the frame whose Vector pass this is
    to where it is in the ``prev`` or ``next`` frame."""
    if which == "prev":
        return np.stack([vector[..., 0], -vector[..., 1]], axis=-1).astype(np.float32)
    if which == "next":
        return np.stack([-vector[..., 2], vector[..., 3]], axis=-1).astype(np.float32)
    raise ValueError(f"which must be 'prev' or 'next', not {which!r}")


def sample(image: np.ndarray, flow: np.ndarray, outside: str = "zero") -> np.ndarray:
    """``out(p) = image(p + flow(p))``, bilinear; beyond the image ``outside`` = ``zero`` (nothing there) or
    ``edge`` (the edge pixels repeated)."""
    return sample_each([image], flow, outside)[0]


def sample_each(images: list[np.ndarray], flow: np.ndarray, outside: str = "zero") -> list[np.ndarray]:
    """:func:`sample` of each of ``images`` along one ``flow``, each remapped on its own: a frame's passes
    stacked into one remap come out as strided channel views, which the tiles' transpose then reads at a third
    of the speed (a 5-frame window at 1080p spent 0.7 s there)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx += flow[..., 0]
    gy += flow[..., 1]
    border = {"zero": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE}[outside]
    return [cv2.remap(np.ascontiguousarray(image, dtype=np.float32), gx, gy, interpolation=cv2.INTER_LINEAR,
                      borderMode=border, borderValue=0.0).reshape(image.shape) for image in images]


def neighbour_flow(vector: np.ndarray, which: str, steps: float = 1.0) -> np.ndarray:
    """:func:`flow_to` the ``which`` frame ``steps`` frame steps away (a Vector pass holds one step's motion; more
    steps scale it, assuming linear motion)."""
    flow = flow_to(vector, which)
    return flow if steps == 1 else flow * np.float32(steps)


def warp_neighbour(image: np.ndarray, vector: np.ndarray, which: str, steps: float = 1.0) -> np.ndarray:
    """The ``prev`` or ``next`` frame's ``image`` moved onto the pixels of the frame whose ``vector`` this is;
    where the surface point was outside that frame: zeros. ``steps``: how many frame steps away that frame is
    (a Vector pass holds one step's motion; more steps scale it, assuming linear motion)."""
    return sample(image, neighbour_flow(vector, which, steps))


def chained_flow(vectors: list[np.ndarray], which: str) -> np.ndarray:
    """H x W x 2 flow from each pixel of the frame whose Vector pass is ``vectors[0]`` to where the same surface
    point is ``len(vectors)`` frames away on the ``which`` side, following each frame's own one-step vectors:
    ``vectors[k]`` is the Vector pass of the frame k steps that way (frames rendered as guides in between).
    Each step reads the next frame's vectors where the point has got to (bilinear; the edge pixels beyond the
    image), so curved and accelerating motion is followed, where scaling one frame's vectors assumes it
    straight and uniform."""
    flow = flow_to(vectors[0], which)
    for vector in vectors[1:]:
        flow = flow + sample(flow_to(vector, which), flow, outside="edge")
    return flow


def warp_inputs(contract: ModelContract, images: dict[str, np.ndarray], model: str,
                steps: dict[str, float] | None = None, chains: dict[str, list[np.ndarray]] | None = None) -> None:
    """Replace each given input whose contract names a ``warp`` by its warped copy (in place); the inputs moved
    the same way (a neighbour's colour, albedo, normal) along one flow.

    ``steps``: frame steps to the ``prev`` and ``next`` frame ({"prev": 1.5, "next": 0.5}; a side not named, or
    None: 1, the neighbouring frame). Inbetween's key frames lie ``t * key_steps`` steps before and
    ``(1 - t) * key_steps`` after the made frame (see ``engine.warp_steps``). ``chains``: for a side, the
    Vector passes of the frames between the output frame and that side's frame, nearest first: the warp then
    follows the output frame's vectors and theirs in turn (:func:`chained_flow`) instead of scaling by
    ``steps``; e.g. keys every 4th frame, frame 2 of keys 1 and 5: ``{"next": [frame 3's, frame 4's]}``.

    A contract's own chain (``warp = (vector, side, chain input, ...)``: a window's frame two or more steps away)
    names the Vector passes of the frames between as inputs that are themselves warped onto this frame (shorter
    chains first, so they are by then): each one holds, at this frame's pixel, the motion one step further from
    where the point has got to, so their flows add up (:func:`chained_flow`'s steps, read on this frame's grid;
    outside a frame between: zeros, and the model gives that neighbour no weight there). A frame between that is
    absent leaves the inputs moved through it absent too."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for spec in contract.image_inputs:
        if spec.warp and spec.name in images:
            groups.setdefault(spec.warp, []).append(spec.name)
    for warp, names in sorted(groups.items(), key=lambda group: len(group[0])):
        (vector_name, which), links = warp[:2], warp[2:]
        if links:
            if chains or (steps or {}).get(which, 1.0) != 1.0:
                raise ModelError(f"model {model!r}: {names[0]!r} is moved along its own chain of Vector passes; "
                                 "key steps and key chains do not apply to it")
            if any(link not in images for link in links):  # a frame between is absent: so is this one
                for name in names:
                    del images[name]
                continue
        vector = images.get(vector_name)
        if vector is None:
            raise ModelError(f"model {model!r}: input {names[0]!r} is moved along {vector_name!r}, "
                             f"which was not given")
        for name in names:
            if vector.shape[:2] != images[name].shape[:2]:
                raise ModelError(f"model {model!r}: {name!r} is {images[name].shape[1]}x{images[name].shape[0]}, "
                                 f"its frame's {vector_name!r} {vector.shape[1]}x{vector.shape[0]}")
        chain = (chains or {}).get(which)
        distance = (steps or {}).get(which, 1.0)
        if links:
            flow = flow_to(vector, which)
            for link in links:
                flow = flow + flow_to(images[link], which)
        elif chain:
            if abs(distance - (len(chain) + 1)) > 1e-6:  # a chain of other frames would move the key elsewhere
                raise ModelError(f"model {model!r}: the {which} frame is {distance:g} steps away, but the chain "
                                 f"towards it has {len(chain)} Vector passes (one per frame between: "
                                 f"{max(round(distance) - 1, 0)})")
            for k, step in enumerate(chain):
                if step.shape[:2] != vector.shape[:2] or step.ndim != 3 or step.shape[2] < 4:
                    raise ModelError(f"model {model!r}: the Vector pass {k + 2} steps towards the {which} frame is "
                                     f"{'x'.join(map(str, step.shape))}, the frame's {vector_name!r} "
                                     f"{vector.shape[1]}x{vector.shape[0]}x4")
            flow = chained_flow([vector, *chain], which)
        else:
            flow = neighbour_flow(vector, which, distance)
        for name, moved in zip(names, sample_each([images[name] for name in names], flow)):
            images[name] = moved
