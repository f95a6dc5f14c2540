"""The ``objective`` key with several objectives: accepted forms, refused forms (one line each
naming the key and the valid values, exit 2 from ``search validate``), what it compiles to."""

from __future__ import annotations

import textwrap

import pytest

from search.cli import main
from tests.search.test_task_classify import classify_space  # noqa: F401 - a fixture
from search.errors import ConfigError
from search.space import compile_space, load_space

SPACE = """
model:
  family: lstm
  layer_sizes: {choices: ["8", "16,8"]}
data:
  path: series.csv
  time_column: t
  target: y
  lookback: 8
train:
  epochs: 2
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
"""


@pytest.fixture
def write(tmp_path):
    from tests.conftest import write_series

    write_series(tmp_path / "series.csv")

    def write(extra: str) -> str:
        path = tmp_path / "mo.yaml"
        path.write_text(textwrap.dedent(SPACE) + textwrap.dedent(extra))
        return str(path)

    return write


@pytest.mark.parametrize(
    "extra, metrics, directions, pruner",
    [
        ("objective: [{metric: mae}, {metric: n_params}]\n", ["mae", "n_params"], ["minimize", "minimize"], "none"),
        ("objective: [{metric: mae}, {metric: latency_ms}]\npruner: none\n", ["mae", "latency_ms"], ["minimize", "minimize"], "none"),
        ("objective: [{metric: rmse, direction: minimize}, {metric: n_params, direction: minimize}, {metric: latency_ms}]\npruner: {name: none}\n",
         ["rmse", "n_params", "latency_ms"], ["minimize"] * 3, "none"),
        ("objective:\n  - metric: mae\n  - metric: rmse\nsampler: {name: nsga2, population_size: 4, seed: 0}\n", ["mae", "rmse"], ["minimize", "minimize"], "none"),
        ("objective: {metric: mae}\n", ["mae"], ["minimize"], "median"),  # one objective: as before
    ],
)  # fmt: skip
def test_accepted_forms(write, extra, metrics, directions, pruner):
    compiled = compile_space(load_space(write(extra)))
    assert (compiled.metrics, compiled.directions, compiled.space.pruner["name"]) == (metrics, directions, pruner)
    assert compiled.metric == metrics[0] and compiled.multi_objective == (len(metrics) > 1)
    objective = compiled.content()["objective"]
    if len(metrics) > 1:
        assert objective == [{"metric": m, "direction": d} for m, d in zip(metrics, directions)]
    else:  # a single objective keeps its mapping, so existing studies keep their hash
        assert objective == {"metric": metrics[0], "direction": directions[0]}


def test_an_accuracy_first_is_maximized_beside_a_minimized_cost(classify_space):
    compiled = compile_space(load_space(classify_space, ["objective=[{metric: accuracy}, {metric: latency_ms}]", "pruner=none"]))
    assert (compiled.metrics, compiled.directions) == (["accuracy", "latency_ms"], ["maximize", "minimize"])


@pytest.mark.parametrize(
    "extra, key, fragments",
    [
        ("objective: [{metric: mae}]\n", "objective", ["takes 2 to 3 entries, got 1", "objective: {metric: rmse}"]),
        ("objective: [{metric: mae}, {metric: rmse}, {metric: mse}, {metric: n_params}]\npruner: none\n", "objective", ["got 4"]),
        ("objective: [{metric: n_params}, {metric: mae}]\n", "objective[0].metric", ["cannot come first", "loss, mse, rmse, mae, mape, smape"]),
        ("objective: {metric: n_params}\n", "objective.metric", ["only beside a validation metric", "[{metric: rmse}, {metric: n_params}]"]),
        ("objective: [{metric: mae}, {metric: mae}]\n", "objective[1].metric", ["already objective[0]"]),
        ("objective: [{metric: mae}, n_params]\n", "objective[1]", ["expected a mapping", "{metric: n_params}"]),
        ("objective: [{metric: mae}, {direction: minimize}]\n", "objective[1].metric", ["required key is missing"]),
        ("objective: [{metric: mae}, {metric: accuracy}]\n", "objective[1].metric", ["not a metric of task forecast", "n_params, latency_ms"]),
        ("objective: [{metric: mae}, {metric: nparams}]\n", "objective[1].metric", ["did you mean 'n_params'"]),
        ("objective: {metric: MASE}\n", "objective.metric", ["for mase write mae", "rank trials alike"]),
        ("objective: {metric: rmsse}\n", "objective.metric", ["for rmsse write rmse"]),
        ("objective: [{metric: mae}, {metric: n_params, direction: maximize}]\n", "objective[1].direction", ["a cost to minimize", "direction: minimize"]),
        ("objective: [{metric: mae}, {metric: n_params, goal: small}]\n", "objective[1].goal", ["unknown key", "valid: metric, direction"]),
        ("objective: [{metric: mae}, {metric: n_params}]\npruner: {name: median, n_startup_trials: 3}\n", "pruner.name",
         ["cannot prune a multi-objective study", "'median'", "valid: none"]),
        ("objective: [{metric: mae}, {metric: n_params}]\npruner: hyperband\n", "pruner.name", ["cannot prune", "valid: none"]),
        ("objective: [{metric: mae}, {metric: n_params}]\nsampler: {name: cmaes}\n", "sampler.name",
         ["cannot sample a multi-objective study", "valid: tpe, nsga2"]),
    ],
)  # fmt: skip
def test_refused_forms_one_line_each(write, capsys, extra, key, fragments):
    path = write(extra)
    with pytest.raises(ConfigError) as info:
        load_space(path)
    assert len(info.value.problems) == 1, info.value.problems
    line = info.value.problems[0]
    assert line.startswith(path) and f" {key}: " in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    # the command says the same, one line, exit 2, no traceback
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {line}"]


def test_the_pruner_refusal_names_its_line(write):
    path = write("objective:\n  - {metric: mae}\n  - {metric: n_params}\npruner:\n  name: median\n")
    with pytest.raises(ConfigError) as info:
        load_space(path)
    line_no = textwrap.dedent(SPACE).count("\n") + 5  # the line of "name: median"
    assert info.value.problems == [
        f"{path}:{line_no}: pruner.name: Optuna cannot prune a multi-objective study, got pruner 'median'; valid: none (or leave the pruner out)"
    ]


def test_overrides_set_the_objectives(write):
    path = write("")
    compiled = compile_space(load_space(path, ["objective=[{metric: mae}, {metric: n_params}]"]))
    assert compiled.metrics == ["mae", "n_params"] and compiled.space.pruner == {"name": "none"}
    single = compile_space(load_space(path))
    assert single.hash != compiled.hash  # the objectives are part of the space's identity
