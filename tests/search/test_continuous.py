"""Continuous evaluation: one pass over each test series carrying the hidden state."""

from __future__ import annotations

import math
import re
import textwrap

import pytest
import torch

import models
from search.worker.continuous import continuous_metrics
from search.worker.load import load_series
from search.errors import ConfigError
from search.space import load_space
from tests.conftest import write_series
from tests.search.test_data import data_cfg
from tests.search.test_data_series import panel_cfg, write_panel


@torch.no_grad()
def step_by_step(model, series, horizon, warmup):
    """Absolute errors of the forecasts, computed one step at a time with an explicit state
    that starts at zero for every series (the reference the pass must equal)."""
    rnn = model.blocks[0].rnn  # one fused torch GRU/LSTM
    errors = []
    for i, (start, end) in enumerate(series.parts("test")):
        rows = torch.from_numpy(series.values[start:end])
        state = None
        for t in range(len(rows) - horizon):
            out, state = rnn(rows[t : t + 1][None], state)  # read step t only
            if t < warmup:
                continue
            pred = model.head.proj(out[0, -1]).reshape(horizon, series.n_targets)[None]
            truth = rows[t + 1 : t + 1 + horizon, : series.n_targets][None]
            ids = torch.tensor([i]) if series.series_offset is not None else None
            errors.append((series.unscale_targets(pred, ids) - series.unscale_targets(truth, ids)).abs().flatten())
    return torch.cat(errors)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_one_pass_equals_stepping_with_a_carried_state(tmp_path, cell):
    series = load_series(data_cfg(write_series(tmp_path / "s.csv", 300), features=("x",), reference="none"))
    torch.manual_seed(0)
    model = models.build(cell, n_features=2, horizon=3, n_targets=1, layer_sizes=[12]).eval()
    got = continuous_metrics(model, series, horizon=3, warmup=5, device="cpu")
    errors = step_by_step(model, series, horizon=3, warmup=5)
    assert len(errors) == (45 - 3 - 5) * 3  # 45 test rows: forecasts after steps 5..41, 3 steps each
    assert got["continuous_mae"] == pytest.approx(float(errors.mean()), rel=1e-5)
    assert got["continuous_rmse"] == pytest.approx(math.sqrt(float((errors**2).mean())), rel=1e-5)
    # more warmup discards exactly the first forecasts
    later = continuous_metrics(model, series, horizon=3, warmup=20, device="cpu")
    assert later["continuous_mae"] == pytest.approx(float(step_by_step(model, series, 3, 20).mean()), rel=1e-5)


def test_the_state_is_reset_between_series(tmp_path):
    series = load_series(panel_cfg(write_panel(tmp_path / "p.csv"), scaler_scope="series"))
    torch.manual_seed(1)
    model = models.build("gru", n_features=3, horizon=1, n_targets=1, layer_sizes=[8]).eval()
    got = continuous_metrics(model, series, horizon=1, warmup=2, device="cpu")
    assert got["continuous_mae"] == pytest.approx(float(step_by_step(model, series, 1, 2).mean()), rel=1e-5)
    # one pass over the test parts run back to back (no reset) gives another answer
    rows = torch.cat([torch.from_numpy(series.values[s:e]) for s, e in series.parts("test")])
    assert not torch.allclose(model.step_outputs(rows[None])[0, series.parts("test")[0][1] - series.parts("test")[0][0]:][:5],
                              torch.cat([model.step_outputs(torch.from_numpy(series.values[s:e])[None])[0] for s, e in series.parts("test")[1:]])[:5])


def test_a_trial_stores_continuous_test_metrics(tmp_path):
    from search.space import compile_space
    from search.worker.train import run_trial

    write_series(tmp_path / "s.csv", 300)
    space = tmp_path / "c.yaml"
    space.write_text(textwrap.dedent("""
        model: {family: gru, layer_sizes: "8"}
        data: {path: s.csv, time_column: t, target: y, lookback: 10, reference: none}
        train: {epochs: 2, continuous_eval: true, continuous_warmup: 4}
        """))
    compiled = compile_space(load_space(space))
    series = load_series(compiled.space.data)
    reports = []
    run_trial(compiled.trial_config({}), series, "rmse", reports.append)
    final = reports[-1]
    assert "error" not in final, final.get("error")
    for metric in ("mse", "rmse", "mae", "mape", "smape"):
        assert math.isfinite(final[f"test_continuous_{metric}"])
    assert not any(k.startswith("test_continuous") for r in reports[:-1] for k in r)


@pytest.mark.parametrize(
    "model, data, message",
    [
        ('{family: tcn, layer_sizes: "8,8,8"}', "reference: none", "needs a recurrent model (lstm or gru), not 'tcn'"),
        ('{family: lstm, layer_sizes: "8", bidirectional: {choices: [false, true]}}', "reference: none", "needs model.bidirectional: false"),
        ('{family: lstm, layer_sizes: "8"}', "reference: last", "needs data.reference: none"),
    ],
)
def test_continuous_eval_is_checked_against_the_model(tmp_path, model, data, message):
    write_series(tmp_path / "s.csv", 100)
    space = tmp_path / "c.yaml"
    space.write_text(textwrap.dedent(f"""
        model: {model}
        data: {{path: s.csv, target: y, lookback: 8, {data}}}
        train: {{continuous_eval: true}}
        """))
    with pytest.raises(ConfigError, match="c.yaml:4: train.continuous_eval: " + re.escape(message)) as info:
        load_space(space)
    assert len(info.value.problems) == 1
