"""Forecast artifacts stay small: plotly.js is one artifact of the study, which every trial's
forecast page loads, from optuna-dashboard's own command, ``search dashboard`` and the
artifact folder alike (real search, real optuna-dashboard, real headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import numpy as np
import optuna
import pytest

from search.driver.run import run_search
from search.driver.uploads import PLOTLY_ATTR
from tests import _browser as browser
from tests import _procs
from tests._postgres import free_port

pytestmark = pytest.mark.slow
LIMIT = 100_000  # bytes of forecast artifacts per trial


def _serve(cmd: list[str], base: str):
    server = _procs.start(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            urllib.request.urlopen(f"{base}/api/studies", timeout=2)
            return True
        except OSError:
            return False

    assert _procs.poll_until(up, 60), "the dashboard did not start"
    return server


def test_forecast_pages_share_one_plotly_and_still_draw(ray_local, tiny_space, tmp_path):
    browser.require_chromium()
    url = f"sqlite:///{tmp_path}/studies.db"
    artifacts = tmp_path / "art"
    run_search(tiny_space, trials=4, storage_url=url, quiet=True, artifacts=str(artifacts), overrides=["checkpoints.keep=4", "pruner=none"])
    study = optuna.load_study(study_name="tiny", storage=url)

    plotly_id = study._storage.get_study_system_attrs(study._study_id)[PLOTLY_ATTR]
    shared = [m for m in optuna.artifacts.get_all_artifact_meta(study) if m.filename == "plotly.min.js"]
    assert [m.artifact_id for m in shared] == [plotly_id]  # once per study
    assert (artifacts / plotly_id).stat().st_size > 1_000_000
    drawn = [t for t in study.trials if "forecast_html" in t.user_attrs]
    assert drawn
    for trial in drawn:
        sizes = {key: (artifacts / trial.user_attrs[key]).stat().st_size for key in ("forecast", "forecast_html", "forecast_image")}
        assert sum(sizes.values()) < LIMIT, (trial.number, sizes)
        assert b"plotly" not in (artifacts / trial.user_attrs["forecast_html"]).read_bytes()[:200]

    best = study.best_trial
    # the bands of the trial's calibration (search.worker.uncertainty) around its forecast, on the same rows
    panel = json.loads((artifacts / best.user_attrs["forecast"]).read_text())["series"][0]
    assert set(panel["bands"]) == {"80", "95"}
    model = np.array(panel["forecasts"]["model"], dtype=float)
    (lo80, hi80), (lo95, hi95) = ((np.array(panel["bands"][k][b], dtype=float) for b in ("lo", "hi")) for k in ("80", "95"))
    assert len(lo80) == len(model) and (lo95 <= lo80 + 1e-3).all() and (lo80 <= model + 1e-3).all() and (model <= hi80 + 1e-3).all() and (hi80 <= hi95 + 1e-3).all()
    path = f"/artifacts/{study._study_id}/{best._trial_id}/{best.user_attrs['forecast_html']}"
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    for name, cmd in (
        ("optuna-dashboard", [exe, url, "--artifact-dir", str(artifacts), "--host", "127.0.0.1"]),
        ("search dashboard", [sys.executable, "-m", "search", "dashboard", "--storage", url, "--artifacts", str(artifacts), "--read-only"]),
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = _serve([*cmd, "--port", str(port)], base)
        try:
            dom = browser.dump_dom(base + path, tmp_path / f"profile-{port}")
            assert browser.plotly_lines(dom, "fig-forecast") == 4, name  # actual, model, naive, seasonal naive
            assert browser.plotly_fills(dom, "fig-forecast") == 2, name  # the 80 % and the 95 % band
            assert {"80 % interval", "95 % interval"} <= set(browser.legend_names(dom, "fig-forecast")), name
            assert browser.plotly_lines(dom, "fig-residuals") >= 1, name
        finally:
            _procs.end_group(server)

    # opened from the artifact folder itself: the page beside the study's plotly.js
    page = artifacts / "forecast.html"
    shutil.copy(artifacts / best.user_attrs["forecast_html"], page)
    dom = browser.dump_dom(page.resolve().as_uri(), tmp_path / "profile-file")
    assert browser.plotly_lines(dom, "fig-forecast") == 4
