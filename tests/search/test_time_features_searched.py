"""A searched ``data.time_features``: the space language, the loaded columns, each trial's own
columns (equal to a space that fixes the trial's value), its checkpoint and the ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search.errors import ConfigError, DataError
from search.space import Categorical, compile_space, load_space
from search.study_attrs import flat
from search.worker.data import windows
from search.worker.load import load_series
from tests.search.test_known import _demand, _space


def _searched(tmp_path, choices: str, **data):
    return _space(tmp_path, time_features=f"{{choices: {choices}}}", **data)


def test_choices_are_normalised_to_strings(tmp_path):
    _demand(tmp_path)
    compiled = _searched(tmp_path, '[false, true, "dayofweek, hour", season]')
    assert compiled.space.data["time_features"] == Categorical(("none", "auto", "dayofweek,hour", "season"))
    assert list(compiled.distributions["time_features"].choices) == ["none", "auto", "dayofweek,hour", "season"]


@pytest.mark.parametrize(
    ("choices", "where", "says"),
    [
        ('[none, "hour,weekday"]', "data.time_features.choices[1]", "'weekday' is not a time feature (valid: none, auto"),
        ("[none, [hour]]", "data.time_features.choices[1]", "choices must be scalars"),
        ("[none, 3]", "data.time_features.choices[1]", "expected none, auto, calendar or names joined by commas"),
        ("[auto, auto]", "data.time_features.choices[1]", "duplicate choice"),
    ],
)
def test_bad_choices_are_named(tmp_path, choices, where, says):
    _demand(tmp_path)
    with pytest.raises(ConfigError) as exc:
        _searched(tmp_path, choices)
    text = "\n".join(exc.value.problems)
    assert where in text and says in text, text


def test_a_numeric_range_is_refused(tmp_path):
    _demand(tmp_path)
    with pytest.raises(ConfigError) as exc:
        _space(tmp_path, time_features="{type: int, low: 1, high: 3}")
    assert "data.time_features" in exc.value.problems[0] and "choices" in exc.value.problems[0]


def test_a_choice_the_data_cannot_give_is_named_at_load(tmp_path):
    _demand(tmp_path)
    compiled = _searched(tmp_path, "[none, dayofweek]")
    (tmp_path / "demand.csv").write_text("\n".join(["time,load"] + [f"{i},{i % 7}" for i in range(700)]) + "\n")
    with pytest.raises(DataError) as exc:
        load_series(compiled.space.data)
    assert "data.time_features (choice 'dayofweek'): dayofweek needs a time column of dates and times" in exc.value.problems[0]


@pytest.mark.parametrize("keys", [{}, {"future_features": "[holiday]"}, {"future_features": "[holiday]", "reference": "mstl"}], ids=["plain", "future", "future+mstl"])
@pytest.mark.parametrize("choice", ["none", "auto", "dayofweek", "season"])
def test_a_trial_sees_the_columns_of_a_space_fixing_its_choice(tmp_path, keys, choice):
    """The loaded series holds every choice's time columns; ``for_trial`` keeps the trial's,
    and gives exactly the series a space with that fixed value loads: values, known columns,
    and the spec its checkpoint records."""
    _demand(tmp_path)
    union = load_series(_searched(tmp_path, "[none, auto, dayofweek, season]", **keys).space.data)
    assert union.known["time_features"] == ["hour", "dayofweek", "season"]
    assert union.n_known == (1 if keys else 0) + 2 + 2 + 2
    # a searched auto is calendar; a fixed one the driver decides (undecided: none)
    fixed = load_series(_space(tmp_path, time_features="calendar" if choice == "auto" else choice, **keys).space.data)
    trial = union.for_trial({"time_features": choice})
    np.testing.assert_array_equal(trial.values, fixed.values)
    assert (trial.n_known, trial.n_profile, trial.n_inputs) == (fixed.n_known, fixed.n_profile, fixed.n_inputs)
    assert trial.known == fixed.known
    assert trial.future_rows(6) == fixed.future_rows(6)
    x_trial, y_trial = windows(trial, "val", 24, 6)
    x_fixed, y_fixed = windows(fixed, "val", 24, 6)
    assert torch.equal(x_trial, x_fixed) and torch.equal(y_trial, y_fixed)
    assert union.values.shape[1] == fixed.values.shape[1] + union.n_known - fixed.n_known  # the union itself is untouched


def test_a_fixed_value_gives_the_series_itself(tmp_path):
    _demand(tmp_path)
    series = load_series(_space(tmp_path, time_features="auto").space.data)
    assert series.for_trial({"time_features": "auto"}) is series


@pytest.mark.parametrize("future", ["[holiday]", "[]"], ids=["future_features", "time_features_only"])
def test_trials_checkpoints_and_ensemble_of_different_choices(tmp_path, future):
    """Trials that took different choices: each checkpoint records only its own time columns
    and forecasts from them; the ensemble of both scores each member on its own columns (equal
    to the mean forecast computed here from spaces that fix each member's choice), and
    forecasts new rows as the mean of its members."""
    import pandas as pd

    from search.cli import main
    from search.results.forecaster import unpack
    from search.results.loading import load_best
    from tests._studies import ranked_study

    frame = _demand(tmp_path)
    _searched(tmp_path, "[none, auto, dayofweek]", future_features=future, reference="last")
    space, url, artifacts = tmp_path / "lstm.yaml", f"sqlite:///{tmp_path}/studies.db", tmp_path / "artifacts"
    params = [{"time_features": c, "lr": lr} for c, lr in (("auto", 0.01), ("none", 0.005), ("dayofweek", 0.008))]
    study = ranked_study(space, url, artifacts, params, name="tf")
    by_choice = {}
    for trial, p in zip(study.trials, params):
        member = unpack((artifacts / trial.user_attrs["checkpoint"]).read_bytes())
        assert member.payload["data"]["time_features"] == p["time_features"]
        names = {"auto": ["hour", "dayofweek"], "none": [], "dayofweek": ["dayofweek"]}[p["time_features"]]
        assert member.payload.get("known", {}).get("time_features", []) == names
        assert "time_feature_choices" not in member.payload.get("known", {})
        assert bool(member.payload.get("known")) == bool(names or future == "[holiday]")
        by_choice[p["time_features"]] = (trial, member)

    assert main(["ensemble", "tf", "--k", "3", "--storage", url, "--space", str(space)]) == 0
    attrs = flat(optuna_study(url, "tf"))
    for part in ("val", "test"):
        forecasts, truth = [], None
        for choice, (_, member) in by_choice.items():
            fixed = load_series(_space(tmp_path, time_features="calendar" if choice == "auto" else choice, future_features=future, reference="last").space.data)
            x, y = windows(fixed, part, member.lookback, 6, 1)
            with torch.no_grad():
                forecasts.append(fixed.unscale_targets(member.wrapped().eval()(x)))
            truth = fixed.unscale_targets(y)
        expected = float((torch.stack(forecasts).mean(0) - truth).abs().mean())
        assert attrs[f"ensemble_{part}_mae"] == pytest.approx(expected, rel=1e-5), part
    _searched(tmp_path, "[none, auto, dayofweek]", future_features=future, reference="last")  # the space file as searched

    given = frame.copy()
    given.loc[len(frame) - 6 :, "load"] = np.nan  # the horizon's rows: holiday known
    history = frame.iloc[: len(frame) - 6]
    members = [m for _, m in by_choice.values()]
    expected = np.mean([m.predict(given if m.payload.get("known") else history) for m in members], axis=0)
    ensemble = load_best("tf", url, ensemble=3)
    assert ensemble.payload.get("known")  # whichever member is best, the input's horizon rows are read
    np.testing.assert_allclose(ensemble.predict(given), expected, rtol=1e-6)
    assert len({float(m.predict(given if m.payload.get("known") else history)[0, 0]) for m in members}) == 3  # three models
    given.to_csv(tmp_path / "input.csv", index=False)
    out = tmp_path / "forecast.csv"
    assert main(["predict", "tf", "--storage", url, "--input", str(tmp_path / "input.csv"), "--ensemble", "3", "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["load"].to_numpy(), expected[:, 0], rtol=1e-5)


def optuna_study(url: str, name: str):
    import optuna

    import storage

    return optuna.load_study(study_name=name, storage=storage.open_storage(url, heartbeat_interval=None, grace_period=None))
