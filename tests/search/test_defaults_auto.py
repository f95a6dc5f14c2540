"""``reference: auto`` and ``time_features: auto``: decided per study from the naive baselines on
the validation part, recorded in the study, printed in the header; explicit values win; a
study made before these defaults resumes with what it ran."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest

from search.cli import main
from search.driver import defaults
from search.driver.fork import CONTENT_ATTR
from search.driver.prepare import prepare, profile_metrics
from search.driver.recorded import as_recorded
from search.driver.study import study_attrs
from search.errors import ConfigError, StudyMismatchError
from search.space import compile_space, load_space
from search.study_attrs import flat

SPACE = """
model:
  family: lstm
  layer_sizes: "8"
data:
  path: {csv}
  time_column: time
  target: y
  horizon: 12
  eval_origins: horizon
  lookback: {{type: int, low: 24, high: 48, step: 24}}
{extra}
train:
  epochs: 2
  batch_size: 64
  lr: 1.0e-2
objective: {{metric: mae}}
sampler: {{name: random, seed: 0}}
"""


def _write(tmp_path, kind: str, n: int = 1500, seed: int = 0) -> str:
    """Hourly rows: a strong daily cycle with a little noise ("seasonal"), the same cycle on a
    level that wanders hour by hour ("drifting"), or a Gaussian random walk ("walk")."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    if kind == "seasonal":
        y = 50 + 10 * np.sin(2 * np.pi * t / 24) + 4 * np.cos(2 * np.pi * t / 12) + rng.normal(0, 0.5, n)
    elif kind == "drifting":
        y = 50 + np.cumsum(rng.normal(0, 0.4, n)) + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.1, n)
    else:
        y = 50 + np.cumsum(rng.normal(0, 1, n))
    name = f"{kind}.csv"
    pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"), "y": np.round(y, 4)}).to_csv(tmp_path / name, index=False)
    return name


def _space(tmp_path, kind: str, extra: str = "", name: str = "space.yaml"):
    csv = _write(tmp_path, kind)
    path = tmp_path / name
    path.write_text(textwrap.dedent(SPACE.format(csv=csv, extra=textwrap.indent(textwrap.dedent(extra), "  "))))
    return path


def test_auto_picks_seasonal_on_a_seasonal_series(tmp_path):
    prep = prepare(_space(tmp_path, "seasonal"))
    assert prep.decision.chosen == {"reference": "seasonal", "time_features": "calendar"}
    assert prep.compiled.fixed["data"]["reference"] == "seasonal"  # what every trial is built with
    assert prep.series.season == 24
    assert prep.series.known["time_features"] == ["hour", "dayofweek"]  # the hourly step's calendar
    assert prep.series.n_known == 4
    assert "seasonal naive (s=24)" in prep.decision.because


def test_auto_picks_mstl_where_the_profile_forecasts_better_than_last_seasons_values(tmp_path):
    # the level wanders within a day: the seasonal naive carries a day of it, the MSTL profile
    # on the last deseasonalised value only the hours since the origin
    prep = prepare(_space(tmp_path, "drifting"))
    assert prep.decision.chosen == {"reference": "mstl", "time_features": "calendar"}
    assert prep.compiled.fixed["data"]["reference"] == "mstl"
    assert prep.series.n_profile == 1  # the profile columns every trial reads
    profile, seasonal = (float(v) for v in re.findall(r"(?:MSTL profile|seasonal naive \(s=\d+\)) ([\d.]+)", prep.decision.because))
    assert profile < seasonal
    # what was weighed is the reference's own forecast on the trials' validation targets
    data = {**defaults.neutral(load_space(prep.compiled.space.path).data), "lookback": 48}
    by_hand = profile_metrics(data, 48, "x")["mae"]
    assert by_hand == pytest.approx(profile, rel=1e-3)
    assert prepare(_space(tmp_path, "seasonal", name="steady.yaml")).decision.chosen["reference"] == "seasonal"  # the profile lost there


def test_the_profile_forecast_is_last_deseasonalised_value_plus_profile(tmp_path):
    from search.worker.origins import eval_step, scored_origins
    from search.worker.ref_columns import refreshed_profile
    from search.worker.tasks import load_data

    space = load_space(_space(tmp_path, "drifting"))
    data = {**defaults.neutral(space.data), "reference": "mstl", "lookback": 24}
    series = load_data(data, source="x")
    y = pd.read_csv(tmp_path / "drifting.csv")["y"].to_numpy()
    profile = refreshed_profile(y, series.info["known_future"]["mstl_seasons"], 12)
    start, end = series.part("val")
    origins = np.asarray(scored_origins(0, start, end, 24, 12, eval_step(data)))  # aligned to the part's end
    rows = origins[:, None] + np.arange(12)
    by_hand = np.abs((y[origins - 1] - profile[origins - 1])[:, None] + profile[rows] - y[rows]).mean()
    assert series.reference_metrics(data)["mae"] == pytest.approx(by_hand, rel=1e-4)


def test_auto_picks_last_on_a_random_walk(tmp_path):
    prep = prepare(_space(tmp_path, "walk"))
    assert prep.decision.chosen == {"reference": "last", "time_features": "none"}
    assert prep.compiled.fixed["data"]["reference"] == "last"
    assert prep.series.n_known == 0


def test_a_lookback_shorter_than_the_season_still_gets_the_seasonal_reference(tmp_path):
    """The seasonal reference reads the history before the lookback (search.worker.ref_columns)."""
    prep = prepare(_space(tmp_path, "seasonal"), ["data.lookback=12"])
    assert prep.decision.chosen == {"reference": "seasonal", "time_features": "calendar"}
    assert prep.compiled.fixed["data"]["reference"] == "seasonal"


def test_explicit_values_win(tmp_path):
    prep = prepare(_space(tmp_path, "seasonal", "reference: last\ntime_features: none\n"))
    assert prep.decision.chosen == {}
    assert prep.compiled.fixed["data"]["reference"] == "last"
    assert prep.series.n_known == 0
    half = prepare(_space(tmp_path, "walk", "time_features: [hour]\n", name="half.yaml"))
    assert half.decision.chosen == {"reference": "last"}  # only the key left to the data
    assert half.series.known["time_features"] == ["hour"]


def test_the_hash_is_the_written_spaces_whatever_the_data_chose(tmp_path):
    seasonal = prepare(_space(tmp_path, "seasonal"))
    written = compile_space(load_space(seasonal.compiled.space.path))
    assert written.fixed["data"]["reference"] == "auto"
    assert seasonal.compiled.hash == written.hash
    # the old defaults hash like auto, so that studies made with them resume (see below)
    assert prepare(seasonal.compiled.space.path, ["data.reference=last"]).compiled.hash == written.hash
    assert prepare(seasonal.compiled.space.path, ["data.reference=seasonal"]).compiled.hash != written.hash


def test_auto_cannot_be_searched(tmp_path):
    with pytest.raises(ConfigError, match=r"data.reference: auto is decided once per study"):
        load_space(_space(tmp_path, "walk", "reference: {choices: [auto, last]}\n"))


def test_calendar_is_a_time_features_value(tmp_path):
    prep = prepare(_space(tmp_path, "walk", "time_features: calendar\n"))
    assert prep.series.known["time_features"] == ["hour", "dayofweek"]


def test_the_decision_is_a_study_attr(tmp_path):
    prep = prepare(_space(tmp_path, "seasonal"))
    attr = study_attrs(prep)[defaults.DECISION_ATTR]
    assert attr["reference"] == "seasonal" and attr["time_features"] == "calendar" and "s=24" in attr["because"]
    assert defaults.DECISION_ATTR not in study_attrs(prepare(_space(tmp_path, "walk", "reference: last\ntime_features: none\n", name="x.yaml")))


def test_a_study_made_before_the_auto_defaults_resumes_with_what_it_ran(tmp_path):
    """Its stored space holds the old defaults (reference last, time_features none): the space
    is prepared again with them, the data without calendar columns."""
    prep = prepare(_space(tmp_path, "seasonal"))
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    old = prep.compiled.content()
    old["fixed"]["data"].update(reference="last", time_features="none")
    study.set_user_attr(CONTENT_ATTR, json.dumps(old))
    resumed = as_recorded(study, prep)
    assert resumed.decision.chosen == {"reference": "last", "time_features": "none"}
    assert resumed.compiled.fixed["data"]["reference"] == "last"
    assert resumed.series.n_known == 0
    assert resumed.compiled.hash == prep.compiled.hash
    # one that recorded its decision keeps it
    study.set_user_attr(defaults.DECISION_ATTR, prep.decision.attr())
    assert as_recorded(study, prep) is prep


def test_ran_with_reads_the_old_meaning_of_auto():
    """Before ``calendar`` existed, a written ``time_features: auto`` meant the calendar cycles;
    a key the stored space does not hold ran with the old default."""
    content = {"fixed": {"data": {"reference": "seasonal", "time_features": "auto"}}}
    assert defaults.ran_with({}, content, "time_features") == "calendar"
    assert defaults.ran_with({}, content, "reference") == "seasonal"
    assert defaults.ran_with({}, {"fixed": {"data": {}}}, "reference") == "last"
    assert defaults.ran_with({}, {"distributions": {"reference": {}}, "fixed": {"data": {}}}, "reference") is None
    assert defaults.ran_with({defaults.DECISION_ATTR: {"reference": "seasonal"}}, {"fixed": {"data": {}}}, "reference") == "seasonal"


def test_a_written_value_other_than_the_study_ran_is_refused(tmp_path):
    """auto and the old defaults hash alike (old studies resume), so what a study ran is
    checked apart: an auto study that chose seasonal does not resume under reference: last."""
    prep = prepare(_space(tmp_path, "seasonal"))
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    for key, value in study_attrs(prep).items():
        study.set_user_attr(key, value)
    explicit = prepare(prep.compiled.space.path, ["data.reference=last"])
    assert explicit.compiled.hash == prep.compiled.hash
    with pytest.raises(StudyMismatchError, match=r"data.reference seasonal -> last"):
        as_recorded(study, explicit)
    assert as_recorded(study, prep) is prep


@pytest.mark.slow
def test_the_decision_lands_in_the_study_and_the_header(ray_local, tmp_path, capsys):
    space = _space(tmp_path, "seasonal")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert main(["run", str(space), "--trials", "1", "--storage", url, "--set", "train.epochs=1", *_quick()]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "reference seasonal, time_features calendar (auto: validation mae of the seasonal naive (s=24)" in header
    study = optuna.load_study(study_name="space", storage=url)
    assert flat(study)[defaults.DECISION_ATTR]["reference"] == "seasonal"
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE


def _quick() -> list[str]:
    """No statistical baselines where the space language still bounds them in time."""
    from search.space._fields import DATA_FIELDS

    return ["--set", "data.stat_baselines_seconds=0"] if "stat_baselines_seconds" in DATA_FIELDS else []
