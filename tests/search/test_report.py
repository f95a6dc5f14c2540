"""Tests of search.results.report (``search report``): the HTML of a real small search, and the same
file drawn by headless Chromium with no network."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.results import report, report_figures
from tests import _browser as browser
from tests.conftest import TINY_SPACE, write_series
from search.cli import main
from search.study_attrs import flat

FIGURE_KEYS = [key for key, *_ in report.FIGURES]
FORECAST_KEYS = ["forecast", "residuals"]  # the best trial's forecast figure (search.forecast_figure)

SPACE = TINY_SPACE.replace("n_startup_trials: 2", "n_startup_trials: 4")
# Nothing is pruned before 4 trials completed, so the study always holds the completed trials
# that parameter importances need (report_figures.MIN_IMPORTANCE_TRIALS); pruning may still happen.


@pytest.fixture(scope="module")
def searched(tmp_path_factory, ray_local) -> str:
    """A storage holding study "tiny" from a real 6-trial search (the space of tests/conftest.py)."""
    from search.driver.run import run_search

    folder = tmp_path_factory.mktemp("report")
    write_series(folder / "series.csv")
    (folder / "tiny.yaml").write_text(textwrap.dedent(SPACE))
    url = f"sqlite:///{folder / 'studies.db'}"
    run_search(folder / "tiny.yaml", trials=6, storage_url=url, quiet=True)
    return url


@pytest.fixture(scope="module")
def report_file(searched, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "sub" / "tiny.html"
    out.parent.mkdir()  # as export and predict, report makes no folder
    assert main(["report", "tiny", "--out", str(out), "--storage", searched]) == 0
    return out


def test_report_is_one_self_contained_file(report_file, searched):
    text = report_file.read_text()
    # plotly.js is inside, once; nothing is fetched from anywhere.
    assert text.count("Plotly.newPlot(") == len(FIGURE_KEYS) + len(FORECAST_KEYS)
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1
    assert not re.search(r"<script[^>]+src=", text) and "<link" not in text and "<iframe" not in text
    for key in FIGURE_KEYS + FORECAST_KEYS:
        assert f'id="fig-{key}"' in text, key
    assert "data-skipped" not in text, re.findall(r'data-skipped="[^<]*', text)


def test_report_starts_with_the_study_facts(report_file, searched):
    text = report_file.read_text()
    study = optuna.load_study(study_name="tiny", storage=searched)
    head = text[text.index("<body>") : text.index('<section id="history"')]
    attrs = flat(study)
    for value in (attrs["space_file"], attrs["space_hash"], attrs["dataset"], attrs["version"], "rmse, minimize", "lstm"):
        assert f"<td>{value}" in head, value
    best = study.best_trial
    assert f"trial #{best.number}: rmse {best.value:.6g}" in head
    for name in best.params:
        assert f"<th>{name}</th>" in head


def test_cli_says_what_it_wrote(searched, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "tiny", "--storage", searched]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote tiny-report.html (6 trials, {len(FIGURE_KEYS) + len(FORECAST_KEYS)} figures)")
    assert (tmp_path / "tiny-report.html").exists()


def test_too_few_trials_become_notes(tmp_path):
    """Two completed trials and no categorical parameter: no importances, no box plot, a note each."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="small", storage=url)
    for x in (0.2, 0.8):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.report(x, 1)
        study.tell(trial, x)
    study.ask()  # running: on the timeline, no value
    doc, drawn = report.build_report(study, url)
    assert drawn == len(FIGURE_KEYS) - 2
    assert f'data-skipped="importances">needs at least {report_figures.MIN_IMPORTANCE_TRIALS} completed trials; the study has 2<' in doc
    assert 'data-skipped="categorical">the space has no categorical parameter<' in doc
    assert 'id="fig-timeline"' in doc and "unknown node" in doc


def test_empty_study_draws_nothing_but_says_why(tmp_path):
    study = optuna.create_study(study_name="empty", storage=f"sqlite:///{tmp_path / 's.db'}")
    doc, drawn = report.build_report(study)
    assert drawn == 0
    assert doc.count("data-skipped=") == len(FIGURE_KEYS) + 1  # and the forecast
    assert "has no completed trial yet" in doc


def test_storage_password_is_masked_in_the_report(tmp_path):
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
    doc, _ = report.build_report(study, "postgresql://me:s3cret@db.example/studies")
    assert "s3cret" not in doc and "me:***@db.example" in doc


def _make(number, node, start, end, state=TrialState.COMPLETE):
    t0 = dt.datetime(2024, 1, 1)
    trial = optuna.trial.create_trial(state=state, value=1.0 if state == TrialState.COMPLETE else None, user_attrs={"node": node})
    trial.number = number
    trial.datetime_start = t0 + dt.timedelta(seconds=start)
    trial.datetime_complete = None if end is None else t0 + dt.timedelta(seconds=end)
    return trial


def test_worker_lanes_split_overlapping_trials_of_a_node():
    trials = [
        _make(0, "a", 0, 10),
        _make(1, "a", 1, 5),  # overlaps 0: second slot
        _make(2, "a", 6, 9),  # slot 2 is free again at 6
        _make(3, "a", 11, 12),  # slot 1 free again
        _make(4, "b", 0, 30),  # a node alone keeps its bare name
    ]
    lanes = {t.number: lane for t, lane, _, _ in report_figures.worker_lanes(trials)}
    assert lanes == {0: "a #1", 1: "a #2", 2: "a #2", 3: "a #1", 4: "b"}


def test_worker_lanes_run_a_running_trial_until_now():
    now = dt.datetime(2024, 1, 1, 0, 1)
    running = _make(0, "a", 0, None, TrialState.RUNNING)
    ((_, lane, start, end),) = report_figures.worker_lanes([running], now=now)
    assert lane == "a" and (end - start).total_seconds() == 60


# -- in a real browser


class FigureScan(HTMLParser):
    """For every plotly figure div: whether an <svg class="main-svg"> is inside it."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []  # the figure id an open element starts, else None
        self.open_figures: list[str] = []
        self.drawn: dict[str, bool] = {}
        self.errors_box: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "report-errors":
            self.errors_box = a
        if tag == "svg" and "main-svg" in (a.get("class") or "").split():
            for fig in self.open_figures:
                self.drawn[fig] = True
        if tag in self.VOID:
            return
        fig = a.get("id") if "plotly-graph-div" in (a.get("class") or "").split() else None
        if fig:
            self.drawn.setdefault(fig, False)
            self.open_figures.append(fig)
        self.stack.append(fig)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID or not self.stack:
            return
        fig = self.stack.pop()
        if fig:
            self.open_figures.remove(fig)


def chromium(html_file: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    # JavaScript errors go to stderr, where the tests look for "Uncaught".
    return browser.run(html_file.resolve().as_uri(), profile, "--enable-logging=stderr", "--v=0", *extra)


@pytest.mark.slow
def test_every_figure_renders_in_headless_chromium_without_errors(report_file, tmp_path):
    done = chromium(report_file, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    scan = FigureScan()
    scan.feed(done.stdout)
    assert scan.drawn == {f"fig-{key}": True for key in FIGURE_KEYS + FORECAST_KEYS}
    assert scan.errors_box is not None and "hidden" in scan.errors_box and "data-count" not in scan.errors_box
    assert "Uncaught" not in done.stderr
    # the forecast figure's lines are drawn: the actual values and three forecasts (a season
    # was detected in the synthetic sine), and the model's error over time
    assert browser.plotly_lines(done.stdout, "fig-forecast") == 4
    assert browser.plotly_lines(done.stdout, "fig-residuals") >= 1
    # the best trial's 80 % and 95 % bands, shaded around its forecast
    assert browser.plotly_fills(done.stdout, "fig-forecast") == 2
    assert browser.legend_names(done.stdout, "fig-forecast")[:2] == ["95 % interval", "80 % interval"]


@pytest.mark.slow
def test_a_javascript_error_would_show_in_the_report(report_file, tmp_path):
    """The control for the test above: a throwing script is caught and shown at the top."""
    broken = tmp_path / "broken.html"
    broken.write_text(report_file.read_text().replace("</body>", "<script>throw new Error('boom from test')</script></body>"))
    done = chromium(broken, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    scan = FigureScan()
    scan.feed(done.stdout)
    assert scan.errors_box is not None and scan.errors_box.get("data-count") == "1" and "hidden" not in scan.errors_box
    assert "boom from test" in done.stdout
    assert "Uncaught" in done.stderr


def test_report_shows_the_best_trial_against_the_naive_baselines(report_file, searched):
    text = report_file.read_text()
    study = optuna.load_study(study_name="tiny", storage=searched)
    ratio = study.best_value / flat(study)["baseline_naive_val_rmse"]
    assert f"{ratio:.2f}x naive" in text


def test_report_puts_the_intervals_beside_the_baselines_own(report_file, searched):
    study = optuna.load_study(study_name="tiny", storage=searched)
    best = study.best_trial
    text = report_file.read_text()
    line = re.search(r"test intervals of trial #(\d+): coverage ([^;<]*); interval score ([0-9.]+)x (MSTL|AutoETS|AutoTheta)<", text)
    assert line is not None
    assert int(line.group(1)) == best.number
    assert line.group(2) == f"{best.user_attrs['test_coverage_80']:.1f} % at 80 %, {best.user_attrs['test_coverage_95']:.1f} % at 95 %"
    name = {"MSTL": "mstl", "AutoETS": "autoets", "AutoTheta": "autotheta"}[line.group(4)]
    assert float(line.group(3)) == pytest.approx(best.user_attrs["test_interval_score"] / flat(study)[f"baseline_{name}_test_interval_score"], abs=0.006)


# -- the best trial's forecasts


@pytest.mark.slow
def test_report_draws_the_best_trials_forecast_artifact(report_file, searched):
    study = optuna.load_study(study_name="tiny", storage=searched)
    best = study.best_trial
    view, note = report.best_forecast(study, searched)
    assert note == "" and view["task"] == "forecast" and view["season"] == flat(study)["season"]
    assert view["metrics"]["model"]["mae"] == pytest.approx(best.user_attrs["test_mae"], rel=1e-5)
    text = report_file.read_text()
    section = text[text.index('<section id="forecast">') : text.index('<section id="history"')]
    assert 'id="fig-forecast"' in section and 'id="fig-residuals"' in section
    assert f"model (test MAE {view['metrics']['model']['mae']:.4g}" in section


def test_a_study_without_a_forecast_artifact_still_reports(tmp_path):
    """A study searched before forecast figures were recorded: a one-line note in their place."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="old", storage=url)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("epochs_run", 1)  # a trial of this service's, from before the driver's mark
    trial.set_user_attr("checkpoint", "0000")
    study.tell(trial, 0.5)
    doc, drawn = report.build_report(study, url)
    assert 'data-skipped="forecast">the best trial #0 has no forecast artifact' in doc
    assert 'id="fig-history"' in doc and 'id="fig-forecast"' not in doc and drawn == doc.count("Plotly.newPlot(")

    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("epochs_run", 1)  # a trial of this service's, from before the driver's mark
    trial.set_user_attr("forecast", "0123-abcd")
    study.tell(trial, 0.1)
    doc, _ = report.build_report(study, url)
    assert 'data-skipped="forecast">the forecast artifact 0123-abcd of trial #1 could not be read from' in doc and "pass --artifacts DIR" in doc

    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("epochs_run", 1)  # a trial of this service's, from before the driver's mark
    trial.set_user_attr("forecast_error", "KeyError: 'x'")
    study.tell(trial, 0.05)
    doc, _ = report.build_report(study, url)
    assert "data-skipped=\"forecast\">the best trial #2&#x27;s forecast figure could not be drawn: KeyError: &#x27;x&#x27;<" in doc


@pytest.mark.slow
def test_the_forecast_section_on_screen(report_file, tmp_path):
    """Screenshots of the report's top, as it is and with the forecast figures not drawn (their
    divs keep their size, so nothing else moves): the drawn lines' colours are the difference."""
    undrawn = browser.undrawn_copy(report_file, [f"fig-{key}" for key in FORECAST_KEYS], tmp_path / "undrawn.html")
    drawn = browser.screenshot(report_file.resolve().as_uri(), tmp_path / "p1", tmp_path / "drawn.png", height=1800)
    control = browser.screenshot(undrawn.resolve().as_uri(), tmp_path / "p2", tmp_path / "undrawn.png", height=1800)
    assert drawn.shape == control.shape == (1800, 1200, 3)
    assert (drawn[:20, :20] == 255).all(), "the page's white background at the corner"
    assert browser.colored_pixels(drawn) - browser.colored_pixels(control) > 1000


@pytest.mark.slow
def test_predict_plot_draws_the_input_tail_and_the_forecast(searched, tmp_path, capsys):
    source = Path(searched.removeprefix("sqlite:///")).parent / "series.csv"
    out = tmp_path / "plot.html"
    assert main(["predict", "tiny", "--input", str(source), "--storage", searched, "--plot", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("step,y,lo-95,lo-80,hi-80,hi-95\n1,")  # the forecast and the served intervals
    assert f"wrote {out} (the input's tail and the 1-step forecast)" in captured.err
    dom = browser.dump_dom(out.resolve().as_uri(), tmp_path / "p1")
    # the input's tail (many points) and the forecast (horizon 1: from the last row to one more)
    assert browser.plotly_lines(dom, "fig-predict") == 1 and browser.plotly_lines(dom, "fig-predict", min_length=12) == 2
    assert browser.plotly_fills(dom, "fig-predict") == 2  # the served forecaster's 80 % and 95 % bands, shaded
    undrawn = browser.undrawn_copy(out, ["fig-predict"], tmp_path / "undrawn.html")
    image = browser.screenshot(out.resolve().as_uri(), tmp_path / "p2", tmp_path / "shot.png", height=700)
    control = browser.screenshot(undrawn.resolve().as_uri(), tmp_path / "p3", tmp_path / "undrawn.png", height=700)
    assert browser.ink_pixels(image) - browser.ink_pixels(control) > 2000  # axes, grid, the input's line, the forecast
    assert browser.colored_pixels(image) - browser.colored_pixels(control) > 50  # the forecast's blue line and markers


@pytest.mark.slow
def test_predict_plot_shades_the_bands_it_is_given(searched, tmp_path):
    """``Forecaster.plot_view(..., bands=)``: what ``search predict --plot`` passes with the
    served forecaster's intervals; each level shaded from the input's last row on."""
    import pandas as pd

    from search.forecast_figure import page
    from search.results.loading import load_best

    source = Path(searched.removeprefix("sqlite:///")).parent / "series.csv"
    frame = pd.read_csv(source)
    forecaster = load_best("tiny", searched)
    forecasts = forecaster.predict_series(frame)
    bands = {name: {80: (f - 0.5, f + 0.5), 95: (f - 1.0, f + 1.0)} for name, f in forecasts.items()}
    view = forecaster.plot_view(frame, forecasts, bands=bands)
    panel = view["series"][0]
    assert panel["bands"]["95"]["hi"] == pytest.approx([v + 1.0 for v in panel["forecast"]])
    out = tmp_path / "plot.html"
    out.write_text(page(view, "predict"))
    dom = browser.dump_dom(out.resolve().as_uri(), tmp_path / "p1")
    assert browser.plotly_fills(dom, "fig-predict") == 2
    assert browser.legend_names(dom, "fig-predict")[:3] == ["input", "95 % interval", "80 % interval"]
    plain = tmp_path / "plain.html"
    plain.write_text(page(forecaster.plot_view(frame, forecasts), "predict"))  # no bands given: none drawn
    dom = browser.dump_dom(plain.resolve().as_uri(), tmp_path / "p2")
    assert browser.plotly_fills(dom, "fig-predict") == 0 and browser.plotly_lines(dom, "fig-predict", min_length=12) == 2


@pytest.mark.slow
def test_predict_plot_errors_name_the_flag(searched, tmp_path, capsys):
    source = Path(searched.removeprefix("sqlite:///")).parent / "series.csv"
    missing = tmp_path / "no" / "such" / "dir" / "plot.html"
    assert main(["predict", "tiny", "--input", str(source), "--storage", searched, "--plot", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --plot {missing}: cannot write it") and "Traceback" not in err[0]


def test_the_statistical_baselines_are_named_beside_the_forecast():
    from search.results.report import stat_baselines_line

    attrs = {"baseline_mstl_test_mae": 0.4512, "baseline_mstl_test_rmse": 0.55, "baseline_autoets_test_mae": 2.49,
             "baseline_autoets_test_rmse": 3.34, "stat_baselines_note": "AutoTheta: not done within 120 s (data.stat_baselines_seconds)"}
    assert stat_baselines_line(attrs) == (
        "Statistical baselines on the same test targets, not drawn: MSTL test MAE 0.4512, RMSE 0.55; AutoETS test MAE 2.49, "
        "RMSE 3.34 (AutoTheta: not done within 120 s (data.stat_baselines_seconds))"
    )
    assert stat_baselines_line({}) == ""
