"""How the runtime sizes tiles (addon.runtime.tiling.plan_grid): the least work within a memory budget set by the
tile size, the same result as one whole-image tile, and memory that does not grow with the frame."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_MODELS
from test_runtime import inputs_for, worst_difference

from addon.runtime import load_model
from addon.runtime.tiling import BLEND, TILE_GROWTH, plan_axis, plan_grid, round_up


def _work(rows, cols) -> int:
    return sum(s.win1 - s.win0 for s in rows) * sum(s.win1 - s.win0 for s in cols)


def _largest(rows, cols) -> int:
    return max(s.win1 - s.win0 for s in rows) * max(s.win1 - s.win0 for s in cols)


CASES = [  # (height, width, tile, overlap, multiple): the shipped models' margins at 1080p and 8K, small tiles
    (1080, 1920, 512, 60 + 109, 8),  # inbetween_vectors with the test scene's 109 px motion at 1080p
    (1080, 1920, 512, 83, 8),  # inbetween_image
    (1088, 1920, 512, 253, 16),  # colorize_unet
    (1080, 1920, 512, 10, 1),  # upres
    (4320, 7680, 512, 253, 16),
    (4320, 7680, 512, 10, 1),
    (4320, 7680, 16, 10, 1),
    (96, 136, 24, 5, 8),
    (8, 8, 512, 3, 8),
]


@pytest.mark.parametrize("height,width,tile,overlap,multiple", CASES)
def test_plan_covers_the_canvas_within_the_budget_with_no_more_work_than_square_tiles(height, width, tile, overlap,
                                                                                      multiple):
    rows, cols = plan_grid(height, width, tile, overlap, multiple)
    margin = round_up(overlap + BLEND, multiple)
    for spans, length in ((rows, height), (cols, width)):
        assert spans[0].core0 == 0 and spans[-1].core1 == length
        assert all(a.core1 == b.core0 for a, b in zip(spans, spans[1:]))
        for s in spans:  # every core has its full margin (or the canvas edge), on the pad multiple's grid
            assert s.win0 == max(0, s.core0 - margin) and s.win1 == min(length, s.core1 + margin)
            assert s.core0 % multiple == 0 and s.win0 % multiple == 0
    core = round_up(max(tile, 2 * BLEND), multiple)
    assert _largest(rows, cols) <= TILE_GROWTH * (core + 2 * margin) ** 2
    square = plan_axis(height, tile, overlap, multiple), plan_axis(width, tile, overlap, multiple)
    assert _work(rows, cols) <= _work(*square)


def test_wide_margins_get_fewer_larger_tiles():
    """The case that motivated it: the vector inbetweener's 1080p margin (60 px receptive field + 109 px motion)
    made 512 px tiles run 2.5x the frame's pixels; now at most 1.25x, in tiles of bounded size."""
    rows, cols = plan_grid(1080, 1920, 512, 169, 8)
    square = plan_axis(1080, 512, 169, 8), plan_axis(1920, 512, 169, 8)
    assert _work(*square) > 2.4 * 1080 * 1920
    assert _work(rows, cols) < 1.25 * 1080 * 1920 and len(rows) * len(cols) > 1
    # The colorizer's 253 px receptive field: a whole 1080p frame fits its budget, so it runs untiled.
    assert [len(a) for a in plan_grid(1088, 1920, 512, 253, 16)] == [1, 1]


def test_tile_memory_does_not_grow_with_the_frame():
    budget = TILE_GROWTH * (512 + 2 * round_up(10 + BLEND, 1)) ** 2
    for height, width in ((1080, 1920), (4320, 7680), (8640, 15360)):
        rows, cols = plan_grid(height, width, 512, 10, 1)
        assert _largest(rows, cols) <= budget
    smaller = plan_grid(4320, 7680, 128, 10, 1)
    assert _largest(*smaller) < _largest(*plan_grid(4320, 7680, 512, 10, 1)) / 4  # smaller tile_size, less memory


@pytest.mark.parametrize("name", list(TEST_MODELS))
def test_default_plan_equals_untiled(models_dir, name):
    """The planned tiles (balanced cores, rows and columns sized apart) against one whole-image tile, on a frame
    big enough for several tiles at the smallest tile size."""
    model = load_model(name, models_dir)
    c = model.contract
    margin = round_up(c.tile_overlap + BLEND, c.pad_multiple)
    side = int(2.2 * (round_up(2 * BLEND, c.pad_multiple) + 2 * margin)) + 3  # more than one budget per axis
    inputs = inputs_for(c, side, side + 21, seed=1)
    if any(spec.displacement_gain for spec in c.image_inputs):
        # A warping model gets smooth frames and motion (+-3 px: a 6 px motion margin), as renders have: on
        # per-pixel HDR noise its sampling coordinates' rounding alone reaches 5e-3 at this size, the old
        # square tiles' too, while the test's 1e-3 holds for images.
        yy, xx = np.mgrid[0:side, 0:side + 21].astype(np.float32)
        for spec in c.image_inputs:
            waves = [np.sin(xx / 11 + 2 * k) * np.cos(yy / 13 + k) for k in range(len(spec.channels))]
            if spec.displacement_gain:
                inputs[spec.name] = (3 * np.stack(waves, -1)).astype(np.float32)
            elif spec.hdr:
                inputs[spec.name] = np.exp(3 * np.stack(waves, -1)).astype(np.float32)
    whole = model.run(inputs, tile_size=None)
    tiled = model.run(inputs, tile_size=2 * BLEND)
    assert tiled.tiles >= 2
    # Float rounding only; it grows with the window for the colorizer, whose box means are differences of
    # cumulative sums (at this size the old square 64 px tiles differ from the whole image by 3e-5 as well).
    tolerance = {"inbetween": 1e-3, "colorize": 1e-4}.get(c.task, 1e-5)
    for key, out in whole.outputs.items():
        assert np.all(np.isfinite(out)) and worst_difference(out, tiled.outputs[key]) <= tolerance
