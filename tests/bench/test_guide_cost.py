"""The guide-cost benchmark's arithmetic (its renders are timed by ``python -m bench guide_cost``; this checks
what it derives from the times): G/F, the every-other-frame share and, with ``--upres``, the up-res workflow's
(F/2 + G) / F."""
from __future__ import annotations

import math

from bench.guide_cost import report, table_rows


def test_rows_give_the_inbetween_and_upres_shares_and_the_report_shows_both():
    result = {"times": {"anim": {"own": {"size": [160, 160], "full": {"16": 4.0, "64": 10.0},
                                         "guide": {"4": 1.0}, "half": {"16": 1.5, "64": 3.0}}}},
              "passes": {}, "repeats": 1, "cpu": "2 CPU cores", "blender": "5.0.1", "frame": 2,
              "guide_bounces": {}}
    rows = table_rows(result, fit_spp=384)
    measured = {r["full_spp"]: r for r in rows if not r["fitted"]}
    assert math.isclose(measured[64]["ratio"], 0.1) and math.isclose(measured[64]["every_other"], 0.55)
    assert math.isclose(measured[64]["half_upres"], 0.4) and math.isclose(measured[16]["half_upres"], 0.625)
    fitted = [r for r in rows if r["fitted"]]
    assert len(fitted) == 1 and "half_s" not in fitted[0]  # no half-size figure is made up for the fit
    assert math.isclose(fitted[0]["full_s"], 2.0 + 0.125 * 384)
    text = report(result, rows)
    assert "(F/2+G)/F" in text and "| 0.400 |" in text
