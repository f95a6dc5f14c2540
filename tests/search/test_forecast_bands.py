"""The forecast figures shade the prediction intervals (the wider level lighter) around the
forecast, drawn by headless Chromium; a figure without bands (a study made before intervals,
a trial without a calibration) draws as before."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from search import forecast_figure, forecast_svg
from search.worker import forecast_view
from tests import _browser as browser


def view_with_bands(horizon: int = 4, n: int = 120) -> dict:
    """A forecast view of one sine series, its model forecast the truth plus noise, with 80 %
    and 95 % bands around it."""
    t = np.arange(n + 40, dtype=np.float64)
    raw = 10 + 3 * np.sin(2 * np.pi * t / 12)
    lo = 40
    windows = n - horizon + 1
    origin = lo - 1 + np.arange(windows)
    truth = raw[origin[:, None] + np.arange(1, horizon + 1)[None, :]]  # (N, H)
    pred = truth + np.random.default_rng(0).normal(0, 0.3, truth.shape)
    bands = {"80": (pred - 0.4, pred + 0.4), "95": (pred - 0.6, pred + 0.6)}
    part = forecast_view.SeriesPart(name="", raw=raw, test=(lo, lo + n), pred=pred, times=None, bands=bands)
    return forecast_view.forecast([part], 8, horizon, 12, target="y", x_title="row")


def test_the_view_carries_each_levels_bounds_on_the_forecasts_rows():
    view = view_with_bands()
    panel = view["series"][0]
    assert set(panel["bands"]) == {"80", "95"}
    model = panel["forecasts"]["model"]
    for level, half in (("80", 0.4), ("95", 0.6)):
        lo, hi = panel["bands"][level]["lo"], panel["bands"][level]["hi"]
        assert len(lo) == len(hi) == len(model)  # the same rows, from the same windows
        np.testing.assert_allclose(np.array(hi) - np.array(model), half, atol=1e-3)
        np.testing.assert_allclose(np.array(model) - np.array(lo), half, atol=1e-3)


def test_the_static_image_shades_the_bands_too():
    image = forecast_svg.svg(view_with_bands())
    assert re.findall(r'data-band="(\d+)"', image) == ["95", "80"]  # widest first, the narrower on top
    assert "80 % interval" in image and "95 % interval" in image
    old = copy.deepcopy(view_with_bands())
    del old["series"][0]["bands"]
    assert "data-band" not in forecast_svg.svg(old) and "% interval" not in forecast_svg.svg(old)


@pytest.mark.slow
def test_the_bands_are_drawn_in_chromium_and_a_view_without_them_still_draws(tmp_path):
    view = view_with_bands(horizon=1)  # one line per forecast (longer horizons draw each window apart)
    page = tmp_path / "bands.html"
    page.write_text(forecast_figure.page(view, "bands"))
    dom = browser.dump_dom(page.resolve().as_uri(), tmp_path / "p1")
    assert browser.plotly_fills(dom, "fig-forecast") == 2  # one shaded area per level
    names = browser.legend_names(dom, "fig-forecast")
    assert names[:2] == ["95 % interval", "80 % interval"]
    assert browser.plotly_lines(dom, "fig-forecast") == 4  # the bounds draw no line of their own
    fills = re.findall(r'class="js-fill"[^>]*?\sd="[^"]{40,}"[^>]*?fill-opacity: ([0-9.]+)', dom)
    assert [float(a) for a in fills] == [forecast_figure.BAND_ALPHA[1], forecast_figure.BAND_ALPHA[0]]  # the wider lighter

    old = copy.deepcopy(view)
    del old["series"][0]["bands"]  # a figure recorded before intervals
    page = tmp_path / "old.html"
    page.write_text(forecast_figure.page(old, "old"))
    dom = browser.dump_dom(page.resolve().as_uri(), tmp_path / "p2")
    assert browser.plotly_lines(dom, "fig-forecast") == 4
    assert browser.plotly_fills(dom, "fig-forecast") == 0 and not any("interval" in n for n in browser.legend_names(dom, "fig-forecast"))
