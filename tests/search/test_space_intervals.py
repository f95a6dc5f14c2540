"""The interval keys of a space: ``data.levels``, ``data.interval_method``, ``train.loss: quantile``
with ``train.quantiles`` (fixed or searched), interval objectives; refused forms name the key."""

from __future__ import annotations

import textwrap

import pytest

from search.cli import main
from search.errors import ConfigError
from search.space import compile_space, load_space

SPACE = """
model: {family: lstm, layer_sizes: "8"}
data:
  path: series.csv
  target: y
  lookback: 8
  horizon: 2
train:
  epochs: 2
"""


@pytest.fixture
def write(tmp_path):
    from tests.conftest import write_series

    write_series(tmp_path / "series.csv")

    def write(data: str = "", train: str = "", rest: str = ""):
        text = textwrap.dedent(SPACE)
        text = text.replace("  horizon: 2\n", "  horizon: 2\n" + "".join(f"  {line}\n" for line in data.splitlines() if line))
        text = text + "".join(f"  {line}\n" for line in train.splitlines() if line) + textwrap.dedent(rest)
        path = tmp_path / "iv.yaml"
        path.write_text(text)
        return path

    return write


def test_defaults_keep_the_old_behaviour_and_hash(write):
    space = load_space(write())
    assert space.data["levels"] == (80, 95) and space.data["interval_method"] == "symmetric"
    assert space.train["loss"] == "mse"
    explicit = load_space(write("levels: [95, 80]\ninterval_method: symmetric"))
    assert explicit.data["levels"] == (80, 95)
    assert compile_space(explicit).hash == compile_space(space).hash  # a default written out is no new space


@pytest.mark.parametrize(
    "data, message",
    [
        ("levels: [80, 120]", r"data.levels: level 120 is out of range; each level is a percentage in \(0, 100\)"),
        ("levels: [0.8]", None),  # 0.8 % is a level, odd but valid
        ("levels: [80, 80.0]", r"data.levels: level 80 is listed twice"),
        ("levels: [0]", r"data.levels: level 0 is out of range"),
        ("levels: high", r"data.levels: expected a level in percent or a list of them, got 'high'"),
        ("levels: []", r"data.levels: expected a level in percent or a list of them"),
        ("interval_method: asymmetric", r"data.interval_method: 'asymmetric' is not one of symmetric, signed"),
    ],
)
def test_levels_are_checked(write, data, message):
    if message is None:
        assert load_space(write(data)).data["levels"] == (0.8,)
        return
    with pytest.raises(ConfigError, match=r"iv.yaml:\d+: " + message):
        load_space(write(data))


def test_quantile_loss_fixed_and_searched(write):
    fixed = load_space(write(train="loss: quantile\nquantiles: [0.9, 0.1, 0.5]"))
    assert fixed.train["quantiles"] == (0.1, 0.5, 0.9)
    searched = compile_space(load_space(write(train="loss: {choices: [mae, quantile]}\nquantiles: {choices: ['0.1,0.5,0.9', [0.05, 0.5, 0.95]]}")))
    assert set(searched.distributions) == {"loss", "quantiles"}
    assert searched.distributions["quantiles"].choices == ("0.1,0.5,0.9", "0.05,0.5,0.95")
    config = searched.trial_config({"loss": "quantile", "quantiles": "0.05,0.5,0.95"})
    assert config["train"]["quantiles"] == "0.05,0.5,0.95"


@pytest.mark.parametrize(
    "train, message",
    [
        ("loss: quantile\nquantiles: [0.1, 1.5]", r"train.quantiles: quantile 1.5 is out of range; each is a probability in \(0, 1\)"),
        ("loss: quantile\nquantiles: [10, 50, 90]", r"train.quantiles: quantile 10 is out of range.*a percentage\? write 0.1"),
        ("loss: quantile\nquantiles: [0.5, 0.5]", r"train.quantiles: a quantile is listed twice"),
        ("loss: quantile\nquantiles: {choices: ['0.1,x']}", r"train.quantiles.choices\[0\]: expected probabilities joined by commas"),
        ("loss: quantile\nquantiles: {type: float, low: 0.1, high: 0.9}", r"train.quantiles.type: a float range does not fit this key"),
        ("loss: pinball", r"train.loss: 'pinball' is not one of mse, mae, huber, quantile"),
    ],
)
def test_quantiles_are_checked(write, train, message):
    with pytest.raises(ConfigError, match=r"iv.yaml:\d+: " + message):
        load_space(write(train=train))


def test_quantiles_without_a_quantile_loss_warn(write):
    space = load_space(write(train="loss: mae\nquantiles: [0.1, 0.9]"))
    assert any("train.quantiles: is read with train.loss: quantile only" in w for w in space.warnings)
    assert load_space(write(train="loss: {choices: [mae, quantile]}\nquantiles: [0.1, 0.9]")).warnings == ()


@pytest.mark.parametrize("metric", ["interval_score", "crps"])
def test_interval_objectives(write, metric):
    single = compile_space(load_space(write(rest=f"objective: {{metric: {metric}}}\n")))
    assert single.metric == metric and single.direction == "minimize"
    multi = compile_space(load_space(write(rest=f"objective: [{{metric: rmse}}, {{metric: {metric}}}]\n")))
    assert multi.metrics == ["rmse", metric] and multi.directions == ["minimize", "minimize"]
    with pytest.raises(ConfigError, match=rf"objective.direction: 'maximize' does not fit metric '{metric}'"):
        load_space(write(rest=f"objective: {{metric: {metric}, direction: maximize}}\n"))


def test_a_bad_level_exits_2_with_one_line(write, capsys):
    code = main(["validate", str(write("levels: [80, 150]"))])
    err = capsys.readouterr().err
    assert code == 2
    assert "data.levels: level 150 is out of range" in err and "Traceback" not in err
