"""The forecast pages of a file with several series, a classify and a text study, drawn by
headless Chromium from the data real trials report (search.worker.forecast_view)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from search import forecast_figure
from search.space import compile_space, load_space
from search.worker import forecast_view, tasks
from search.worker.train import run_trial
from tests import _browser as browser

pytestmark = pytest.mark.slow

PANEL = """
model: {family: gru, layer_sizes: "8"}
data:
  path: panel.csv
  time_column: date
  series_id: store
  target: sales
  lookback: 12
  horizon: 4
  scaler_scope: series
train: {epochs: 2, batch_size: 64}
"""


def trial_view(space_path, params=None, metric="rmse", direction="minimize", season=None) -> dict:
    """The forecast figure's data from the final result of one real trial (of 2 epochs)."""
    compiled = compile_space(load_space(space_path, ["train.epochs=2"]))
    config = compiled.trial_config(params or {})
    series = tasks.load_data(compiled.space.data)
    if season:
        series.season = season  # as prepare() chooses it
    reports = []
    run_trial(config, series, metric, reports.append, direction=direction, with_checkpoint=True)
    assert "error" not in reports[-1], reports[-1].get("error")
    return json.loads(reports[-1]["forecast"])


def draw(view: dict, tmp_path, name: str, div_ids: list[str], height: int = 1000):
    """(dumped DOM, screenshot, screenshot of the same page with ``div_ids`` not drawn)."""
    page = tmp_path / f"{name}.html"
    page.write_text(forecast_figure.page(view, name))
    dom = browser.dump_dom(page.resolve().as_uri(), tmp_path / f"{name}-p1")
    shot = browser.screenshot(page.resolve().as_uri(), tmp_path / f"{name}-p2", tmp_path / f"{name}.png", height=height)
    if not div_ids:
        return dom, shot, None
    undrawn = browser.undrawn_copy(page, div_ids, tmp_path / f"{name}-undrawn.html")
    control = browser.screenshot(undrawn.resolve().as_uri(), tmp_path / f"{name}-p3", tmp_path / f"{name}-undrawn.png", height=height)
    return dom, shot, control


def test_several_series_draw_one_panel_each(tmp_path):
    rows = []
    stores = [f"store{k}" for k in range(forecast_view.MAX_SERIES + 1)]
    for k, store in enumerate(stores):
        for i in range(160):
            day = (pd.Timestamp("2023-01-02") + pd.Timedelta(days=i)).date()
            rows.append((store, day, 100 * (k + 1) + 10 * np.sin(2 * np.pi * i / 7) + 0.1 * i))
    pd.DataFrame(rows, columns=["store", "date", "sales"]).to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "panel.yaml").write_text(textwrap.dedent(PANEL))
    view = trial_view(tmp_path / "panel.yaml", season=7)
    assert view["series_total"] == len(stores) and [p["name"] for p in view["series"]] == stores[: forecast_view.MAX_SERIES]
    dom, shot, control = draw(view, tmp_path, "panel", ["fig-forecast", "fig-residuals"], height=2400)
    # every panel: the actual values and three forecasts; the residuals: each shown series' error
    # and the error by step of the three forecasts
    assert browser.plotly_lines(dom, "fig-forecast", min_length=12) == 4 * forecast_view.MAX_SERIES
    assert browser.plotly_lines(dom, "fig-residuals", min_length=12) == forecast_view.MAX_SERIES + 3
    # each panel shades its own series' 80 % and 95 % bands (the trial's calibration, per series)
    assert browser.plotly_fills(dom, "fig-forecast") == 2 * forecast_view.MAX_SERIES
    for panel in view["series"]:
        model, lo, hi = (np.array(v, dtype=float) for v in (panel["forecasts"]["model"], panel["bands"]["80"]["lo"], panel["bands"]["80"]["hi"]))
        assert (lo <= model + 1e-3).all() and (model <= hi + 1e-3).all()
    assert f"Showing the first {forecast_view.MAX_SERIES} of {len(stores)} series" in dom
    assert browser.colored_pixels(shot) - browser.colored_pixels(control) > 5000


def test_a_classify_trial_draws_its_confusion_matrix(tmp_path):
    from tests.conftest import write_series
    from tests.search.test_task_classify import CLASSIFY_SPACE

    write_series(tmp_path / "raw.csv", 300)
    frame = pd.read_csv(tmp_path / "raw.csv")
    frame["state"] = np.where(frame["x"] > 0.3, "high", np.where(frame["x"] < -0.3, "low", "mid"))
    frame.to_csv(tmp_path / "sensors.csv", index=False)
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CLASSIFY_SPACE))
    view = trial_view(tmp_path / "c.yaml", {"layer_sizes": "16", "lookback": 10, "lr": 0.02}, "accuracy", "maximize")
    dom, shot, control = draw(view, tmp_path, "classify", ["fig-confusion"], height=700)
    assert 'id="fig-confusion"' in dom and "predicted class" in dom and "true class" in dom
    for row in view["counts"]:  # every cell's count is written on the drawn matrix
        for count in row:
            assert f">{count}<" in dom
    assert browser.colored_pixels(shot) - browser.colored_pixels(control) > 20_000  # the blue cells


def test_a_text_trial_shows_its_continuation(tmp_path):
    from tests.search.test_task_text import TEXT_SPACE, corpus

    (tmp_path / "corpus.txt").write_text(corpus())
    (tmp_path / "t.yaml").write_text(textwrap.dedent(TEXT_SPACE))
    view = trial_view(tmp_path / "t.yaml", {"layer_sizes": "32", "lookback": 16, "lr": 0.02}, "perplexity")
    dom, shot, _ = draw(view, tmp_path, "text", [], height=700)
    for key in ("prompt", "real"):
        assert view[key] and view[key].replace("&", "&amp;").replace("<", "&lt;") in dom
    assert f"{view['matching']} of {view['compared']} characters equal" in dom
    assert dom.count('class="same"') == view["matching"]
    assert browser.ink_pixels(shot) > 5000  # the three text blocks
