"""`search dashboard` on a study made by a real search, opened in real headless Chromium."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

from search.driver.run import run_search
from tests import _procs
from tests import _browser as browser
from tests._postgres import free_port
from tests._browser import dump_dom, require_chromium

pytestmark = pytest.mark.slow
def test_dashboard_shows_a_real_search(ray_local, tiny_space, tmp_path):
    require_chromium()
    url = f"sqlite:///{tmp_path}/studies.db"
    run_search(tiny_space, trials=4, storage_url=url, quiet=True)
    study = optuna.load_study(study_name="tiny", storage=url)

    port = free_port()
    server = _procs.start(
        [sys.executable, "-m", "search", "dashboard", "--storage", url, "--port", str(port), "--read-only"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("the dashboard did not start")
                time.sleep(0.3)
        listing = dump_dom(f"{base}/dashboard/", tmp_path / "p1")
        assert "tiny" in listing
        page = dump_dom(f"{base}/dashboard/studies/{study._study_id}/trials", tmp_path / "p2")
        assert f"{len(study.trials)} Trials" in page
        for trial in study.trials:
            assert f"Trial {trial.number}" in page
        first = study.trials[0]
        for text in ("Intermediate Values", "n_params", "node", "train_seconds", "epochs_run", "samples_per_second", first.params["layer_sizes"]):
            assert text in page, text
        assert "learning_curve_trial_0.csv" in page  # the trial's artifact is listed
        best_page = dump_dom(f"{base}/dashboard/studies/{study._study_id}/trials?numbers={study.best_trial.number}", tmp_path / "p6")
        _the_best_trials_forecast_opens_from_the_dashboard(study, base, best_page, tmp_path)
        # read-only: a write through the API is refused
        request = urllib.request.Request(f"{base}/api/studies/{study._study_id}", method="DELETE")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
    finally:
        _procs.end_group(server)
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == 4


def _the_best_trials_forecast_opens_from_the_dashboard(study, base, page, tmp_path):
    """The best trial's forecast page is listed among its artifacts, served as HTML by the
    dashboard, and draws its lines in the browser (screenshot against an undrawn copy)."""
    best = study.best_trial
    assert {"checkpoint", "forecast", "forecast_html", "forecast_image"} <= set(best.user_attrs)
    for suffix in ("html", "json", "svg"):
        assert f"forecast_trial_{best.number}.{suffix}" in page
    # the image is previewed on the trial's page, and it draws the forecast's colours
    image_url = f"/artifacts/{study._study_id}/{best._trial_id}/{best.user_attrs['forecast_image']}"
    assert f'src="{image_url}"' in page
    preview = browser.screenshot(base + image_url, tmp_path / "p7", tmp_path / "preview.png", height=400)
    assert browser.colored_pixels(preview) > 1000
    url = f"{base}/artifacts/{study._study_id}/{best._trial_id}/{best.user_attrs['forecast_html']}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        html = response.read()
    assert f"<title>Forecast of trial #{best.number}</title>".encode() in html
    dom = dump_dom(url, tmp_path / "p3")
    assert browser.plotly_lines(dom, "fig-forecast") == 4  # actual, model, naive, seasonal naive
    assert browser.plotly_lines(dom, "fig-residuals") >= 1
    saved = tmp_path / "forecast.html"
    saved.write_bytes(html)
    undrawn = browser.undrawn_copy(saved, ["fig-forecast", "fig-residuals"], tmp_path / "undrawn.html")
    image = browser.screenshot(url, tmp_path / "p4", tmp_path / "forecast.png", height=1000)
    control = browser.screenshot(undrawn.resolve().as_uri(), tmp_path / "p5", tmp_path / "undrawn.png", height=1000)
    assert browser.colored_pixels(image) - browser.colored_pixels(control) > 1000
