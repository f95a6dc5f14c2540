"""search.forecast_figure: the figure drawn from its JSON data, without a browser (the pages in
headless Chromium: tests/search/test_forecast_pages.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from search import forecast_figure as ff
from search import forecast_svg
from search.worker import forecast_view


def sine_view(n_series=1, horizon=3, n=60, season=12):
    """A view built by the worker's own function from known arrays: the model is the truth + 1."""
    parts = []
    for k in range(n_series):
        raw = 100 * k + np.sin(2 * np.pi * np.arange(n) / season)
        lo = 30
        windows = n - lo - horizon + 1  # every test row a target: the first window's inputs reach back
        origin = lo - 1 + np.arange(windows)
        pred = raw[origin[:, None] + np.arange(1, horizon + 1)] + 1.0
        parts.append(forecast_view.SeriesPart(f"s{k}" if n_series > 1 else "", raw, (lo, n), pred, None))
    return forecast_view.forecast(parts, 6, horizon, season, target="y", x_title="row")


def test_forecast_figure_draws_each_forecast_with_its_metrics_in_the_legend():
    view = sine_view()
    forecast, residuals = ff.parts(view)
    names = [t.name for t in forecast.figure.data]
    assert names[0] == "actual"
    assert "model (test MAE 1, RMSE 1)" in names  # the model is the truth + 1 everywhere
    assert view["metrics"]["seasonal_naive"]["mae"] == pytest.approx(0, abs=1e-12)  # a pure sine of the season
    assert any(n.startswith("seasonal naive (test MAE ") for n in names)
    assert any(n.startswith("naive (test MAE ") for n in names)
    model = next(t for t in forecast.figure.data if t.name.startswith("model"))
    # one line per window drawn: a gap (None) between windows, H points each
    pieces = "".join("x" if v is not None else "|" for v in model.y).split("|")
    assert {len(p) for p in pieces[:-1]} == {3} and 1 <= len(pieces[-1]) <= 3
    by_step = [t for t in residuals.figure.data if t.name == "model"]
    assert list(by_step[0].y) == pytest.approx([1, 1, 1])
    error = next(t for t in residuals.figure.data if t.name == "model error")
    assert [v for v in error.y if v is not None] == pytest.approx([-1] * len(view["series"][0]["x"]))


def test_several_series_one_panel_each_and_the_caption_says_which():
    view = sine_view(n_series=forecast_view.MAX_SERIES + 2)
    forecast, _ = ff.parts(view)
    titles = [a.text for a in forecast.figure.layout.annotations]
    assert len(titles) == forecast_view.MAX_SERIES and titles[0].startswith("series s0: model MAE 1")
    assert f"Showing the first {forecast_view.MAX_SERIES} of {forecast_view.MAX_SERIES + 2} series (s0, s1, s2, s3, s4, s5)" in forecast.caption
    assert len([t for t in forecast.figure.data if t.name == "actual"]) == forecast_view.MAX_SERIES


def test_a_thinned_panel_says_so_and_stays_one_line():
    view = sine_view(n=30 + 6 + forecast_view.MAX_POINTS * 2)
    forecast, _ = ff.parts(view)
    model = next(t for t in forecast.figure.data if t.name.startswith("model"))
    assert None not in model.y and len(model.y) <= forecast_view.MAX_POINTS
    assert f"thinned to at most {forecast_view.MAX_POINTS} points per line, the last row kept" in forecast.caption


def test_classify_and_text_and_a_failed_view():
    counts = [[5, 1], [2, 7]]
    view = forecast_view.confusion(["a", "b"], np.array([0] * 6 + [1] * 9), np.array([0] * 5 + [1] + [0] * 2 + [1] * 7), majority=1)
    assert view["counts"] == counts and view["accuracy"] == pytest.approx(12 / 15)
    (part,) = ff.parts(view)
    assert [list(r) for r in part.figure.data[0].z] == counts and "accuracy 0.8 (always predicting the majority class 'b': 0.6)" in part.caption

    text = forecast_view.continuation("the <cat> ", "sat on", "sat in")
    (part,) = ff.parts(text)
    assert part.figure is None and "&lt;cat&gt;" in part.html
    assert '<span class="same">s</span><span class="same">a</span><span class="same">t</span><span class="same"> </span>o' in part.html
    assert "5 of 6 characters equal" in part.html and part.html.count('class="same"') == 5

    html, drawn = ff.fragment({"format": 1, "task": "forecast", "error": "ValueError: boom"})
    assert drawn == 0 and 'data-skipped="forecast">the figure could not be built: ValueError: boom<' in html


def test_the_page_is_self_contained():
    doc = ff.page(sine_view(), "Forecast of trial #3", ["a line"])
    assert len(re.findall(r"\* plotly\.js v\d", doc)) == 1 and doc.count("Plotly.newPlot(") == 2
    assert not re.search(r"<script[^>]+src=", doc) and "<link" not in doc
    assert "<title>Forecast of trial #3</title>" in doc


def test_the_dashboard_image_draws_one_line_per_trace_and_window():
    view = sine_view(n_series=2)
    image = forecast_svg.svg(view)
    assert image.startswith("<svg ") and image.count("<path ") == 2 * 4  # per panel: actual and 3 forecasts
    paths = re.findall(r'<path d="([^"]*)" fill="none" stroke="([^"]*)"', image)
    model = [d for d, color in paths if color == ff.COLORS["model"]]
    windows = len(set(view["series"][0]["path"]))
    assert [d.count("M") for d in model] == [windows, windows], "a new line at each window's origin"
    actual = [d for d, color in paths if color == ff.COLORS["actual"]]
    assert actual[0].count("M") == 1 and actual[0].count("L") == len(view["series"][0]["x"]) - 1
    assert "model (test MAE 1, RMSE 1)" in image and "series s1: model MAE 1" in image

    matrix = forecast_svg.svg(forecast_view.confusion(["a", "b"], np.array([0, 0, 1]), np.array([0, 1, 1])))
    assert matrix.count("<rect ") == 1 + 4 and ">accuracy" not in matrix and "accuracy 0.6667" in matrix
    assert forecast_svg.svg(forecast_view.continuation("a", "b", "c")) is None and forecast_svg.svg({"error": "x"}) is None
