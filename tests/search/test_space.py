"""The space loader and validator: file forms, parameter forms, rules between keys, warnings."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

from search.errors import ConfigError, UsageError
from search.space import (
    Categorical,
    FloatRange,
    IntRange,
    UniformLayers,
    apply_overrides,
    load_space,
    read_raw,
    values_of,
    yaml_load,
)

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO / "datasets" / "mauna_loa_co2_weekly.csv"


def space_text(model: str = "family: lstm", data: str = "", train: str = "", extra: str = "") -> str:
    """A small space: ``model``/``data``/``train`` are the sections' bodies (YAML lines)."""

    def block(name: str, body: str) -> str:
        return f"{name}:\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n" if body.strip() else ""

    data = textwrap.dedent(data)
    data = f"path: {DATASET}\ntime_column: date\ntarget: co2\n" + ("" if "lookback:" in data else "lookback: 13\n") + data
    return block("model", model) + block("data", data) + block("train", train) + textwrap.dedent(extra)


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def problems(path: Path, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_space(path, overrides)
    return info.value.problems


# --------------------------------------------------------------------------- files


def test_yaml_reads_exponents_without_a_dot_as_floats():
    assert yaml_load("a: 1e-4\nb: 1.0e-4\nc: -3E+2\nd: 12\ne: '1e-4'") == {"a": 1e-4, "b": 1e-4, "c": -300.0, "d": 12, "e": "1e-4"}
    assert isinstance(yaml_load("x: 10")["x"], int)
    assert apply_overrides({}, ["train.lr=1e-3"]) == {"train": {"lr": 1e-3}}


def test_json_space_loads_like_yaml(write, tmp_path):
    body = {
        "model": {"family": "lstm", "layer_sizes": {"choices": ["32", [64, 32]]}},
        "data": {"path": str(DATASET), "time_column": "date", "target": "co2", "lookback": {"type": "int", "low": 13, "high": 26, "step": 13}},
        "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
    }
    text = json.dumps(body, indent=2)
    from_json = load_space(write(text, "space.json"))
    from_yaml = load_space(write(json.dumps(body), "space.yaml"))  # JSON is YAML too
    assert from_json.model == from_yaml.model == {"layer_sizes": Categorical(("32", "64,32"))}
    assert from_json.train["lr"] == FloatRange(1e-4, 1e-2, None, True)
    lookback_line = 1 + next(i for i, line in enumerate(text.splitlines()) if '"lookback"' in line)
    assert from_json.lines["data.lookback"] == lookback_line  # line numbers for JSON too


def test_json_errors_name_the_line(write):
    path = write('{\n  "model": {"family": "lstm"},\n  "data": {"path": "x.csv",}\n}\n', "bad.json")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: invalid JSON")


def test_missing_empty_and_folder_files(tmp_path, write):
    with pytest.raises(ConfigError, match="no such space file"):
        load_space(tmp_path / "nope.yaml")
    write(space_text(), "lstm.yaml")
    with pytest.raises(ConfigError, match="did you mean 'lstm.yaml'"):
        load_space(tmp_path / "lsmt.yaml")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_space(write("# only a comment\n"))
    with pytest.raises(ConfigError, match="is a folder"):
        load_space(tmp_path)


def test_duplicate_keys_are_reported_with_both_lines(write):
    path = write(space_text(train="lr: 0.001\nepochs: 3\nlr: 0.01"))
    [line] = problems(path)
    assert line == f"{path}:11: train.lr: appears twice (lines 9 and 11); keep one"


def test_line_numbers_for_list_items_and_missing_keys(write):
    path = write(space_text(train="batch_size:\n  choices:\n    - 32\n    - 64\n    - 32"))
    assert problems(path) == [f"{path}:13: train.batch_size.choices[2]: duplicate choice 32 (same as choices[0] 32); remove one"]
    path = write(space_text(extra="pruner:\n  name: percentile\n"))
    [line] = problems(path)
    assert line.startswith(f"{path}:8: pruner.percentile: the percentile pruner needs this option")


def test_every_problem_is_reported_at_once(write):
    path = write(space_text(model="family: lstm\ndropout: 1.5\nlayer_sizes: '64,,32'", data="features: [nope]", train="epochs: ten\nlr: {low: 0.1, high: 0.01}", extra="objective: {metric: mae, direction: maximize}\nsampler: {name: tpe, sed: 1}\n"))
    found = problems(path)
    keys = [line.split(": ")[1] for line in found]
    assert keys == ["model.dropout", "model.layer_sizes", "train.epochs", "train.lr", "sampler.sed", "objective.direction", "data.features"]
    assert all(line.startswith(f"{path}:") for line in found)


# --------------------------------------------------------------------------- parameter forms


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ("lr: 0.01", 0.01),
        ("lr: 1e-3", 1e-3),
        ("lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}", FloatRange(1e-4, 1e-2, None, True)),
        ("lr: {low: 1e-4, high: 1e-2}", FloatRange(1e-4, 1e-2, None, False)),
        ("lr: {type: float, low: 0.1, high: 0.5, step: 0.1}", FloatRange(0.1, 0.5, 0.1, False)),
        ("lr: {choices: [0.1, 0.01]}", Categorical((0.1, 0.01))),
        ("batch_size: {type: int, low: 16, high: 128, step: 16}", IntRange(16, 128, 16, False)),
        ("batch_size: {low: 16, high: 128, log: true}", IntRange(16, 128, 1, True)),
        ("batch_size: {type: int, low: 8, high: 64, log: true, step: 1}", IntRange(8, 64, 1, True)),
        ("batch_size: {type: int, low: 32, high: 32}", IntRange(32, 32, 1, False)),
        ("optimizer: {choices: [adam, sgd]}", Categorical(("adam", "sgd"))),
        ("weight_decay: {type: int, low: 0, high: 1}", IntRange(0, 1, 1, False)),
    ],
)
def test_train_values_and_ranges(write, train, expected):
    space = load_space(write(space_text(train=train)))
    key = train.split(":")[0]
    assert space.train[key] == expected


@pytest.mark.parametrize(
    ("model", "key", "expected"),
    [
        ("family: lstm\nlayer_sizes: '64, 32'", "layer_sizes", "64,32"),
        ("family: lstm\nlayer_sizes: [64, 32]", "layer_sizes", "64,32"),
        ("family: lstm\nlayer_sizes: 64", "layer_sizes", "64"),
        ("family: lstm\nlayer_sizes: {choices: ['64,32', [128, 64], 32]}", "layer_sizes", Categorical(("64,32", "128,64", "32"))),
        ("family: gru\nGRU_UNITS: '64,32'", "layer_sizes", "64,32"),
        ("family: gru\nGRU_UNITS: [64, 32]", "layer_sizes", "64,32"),
        ("family: lstm\nRNN_LAYER_SIZES: {choices: [[64, 64], '32']}", "layer_sizes", Categorical(("64,64", "32"))),
        ("family: lstm\nLAYERS: 2\nHIDDEN_UNITS: 64", "layer_sizes", "64,64"),
        ("family: lstm\nLAYERS: '3'\nHIDDEN_UNITS: 16", "layer_sizes", "16,16,16"),
        ("family: lstm\nLAYERS: '[1,3]'\nHIDDEN_UNITS: 64", "layer_sizes", UniformLayers(IntRange(1, 3), 64)),
        ("family: lstm\nLAYERS: [1, 3]\nHIDDEN_UNITS: '[16,128]'", "layer_sizes", UniformLayers(IntRange(1, 3), IntRange(16, 128))),
        ("family: gru\nLAYERS: {type: int, low: 1, high: 2}\nHIDDEN_UNITS: {choices: [32, 64]}", "layer_sizes", UniformLayers(IntRange(1, 2), Categorical((32, 64)))),
        ("family: tcn\nLAYERS: 4\nHIDDEN_UNITS: 32", "layer_sizes", "32,32,32,32"),
        ("family: lstm\nbidirectional: {choices: [true, false]}", "bidirectional", Categorical((True, False))),
        ("family: lstm\ndropout: {low: 0.0, high: 0.5}", "dropout", FloatRange(0.0, 0.5)),
        ("family: tcn\nkernel_size: {low: 3, high: 7}", "kernel_size", IntRange(3, 7)),
        ("family: transformer\npositional: {choices: [sinusoidal, learned]}", "positional", Categorical(("sinusoidal", "learned"))),
        ("family: transformer\nd_model: 96\nnhead: {choices: [4, 8]}", "nhead", Categorical((4, 8))),
    ],
)
def test_model_values_and_legacy_forms(write, model, key, expected):
    assert load_space(write(space_text(model=model))).model[key] == expected


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("family: lstm\nlayer_sizes: '64,,32'", "model.layer_sizes: '64,,32' has an empty entry"),
        ("family: lstm\nlayer_sizes: {type: int, low: 16, high: 64}", "use LAYERS + HIDDEN_UNITS"),
        ("family: lstm\nHIDDEN_UNITS: 64", "model.HIDDEN_UNITS: needs model.LAYERS too"),
        ("family: lstm\nLAYERS: 0\nHIDDEN_UNITS: 64", "model.LAYERS: expected a positive integer, got 0"),
        ("family: lstm\nLAYERS: '[1,2]'\nHIDDEN_UNITS: '[0,64]'", "model.HIDDEN_UNITS: range bound expected a positive integer, got 0"),
        ("family: lstm\nLAYERS: [1, 2, 3]\nHIDDEN_UNITS: 64", "a range is two integers [low, high]"),
        ("family: lstm\nLAYERS: {type: float, low: 1, high: 2}\nHIDDEN_UNITS: 64", "model.LAYERS.type: a float range does not fit an integer key"),
        ("family: lstm\nlayer_sizes: '64'\nRNN_LAYER_SIZES: '32'", "model.RNN_LAYER_SIZES: sets the layer sizes again"),
        ("family: lstm\nGRU_UNITS: '64'\nLAYERS: 2\nHIDDEN_UNITS: 8", "model.LAYERS: sets the layer sizes again (model.GRU_UNITS sets them already)"),
        ("family: lstm\nHIDDEN_UNIT: 8", "model.HIDDEN_UNIT: unknown parameter for lstm; did you mean 'HIDDEN_UNITS'?"),
        ("family: transformer\nGRU_UNITS: '64'", "model.GRU_UNITS: transformer has no layer sizes"),
        ("family: tcn\nkernel_size: {type: float, low: 2, high: 5}", "model.kernel_size.type: a float range does not fit an integer key"),
        ("family: lstm\nbidirectional: {type: int, low: 0, high: 1}", "model.bidirectional.type: a int range does not fit this key"),
        ("family: lstm\ndropout: {low: 0.0, high: 1.0}", "model.dropout: range bound must be in [0, 1), got 1.0"),
    ],
)
def test_model_problems(write, model, fragment):
    assert any(fragment in line for line in problems(write(space_text(model=model)))), fragment


# --------------------------------------------------------------------------- rules between keys


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("d_model: 64\nnhead: 6", "model.nhead: nhead=6 must divide d_model=64; valid nhead for d_model=64: 1, 2, 4, 8, 16, 32, 64"),
        ("d_model: 66", "model.d_model: nhead=4 (the default) must divide d_model=66"),
        ("nhead: 5", "model.nhead: nhead=5 must divide d_model=64"),
        ("d_model: 64\nnhead: {choices: [4, 6, 12]}", "model.nhead: nhead 6, 12 do not divide d_model=64; remove them"),
        ("d_model: {choices: [64, 100]}\nnhead: 8", "model.d_model: d_model 100 is not a multiple of nhead=8"),
        ("d_model: {choices: [30, 50]}\nnhead: {choices: [4, 8]}", "model.nhead: no nhead value divides any d_model value"),
        ("d_model: {low: 16, high: 4096}\nnhead: {choices: [1, 2]}", "too many to sample as one categorical"),
    ],
)
def test_nhead_must_divide_d_model(write, model, fragment):
    lines = problems(write(space_text(model="family: transformer\n" + model)))
    assert any(fragment in line for line in lines), lines


def test_nhead_and_d_model_valid_forms(write):
    # nhead alone is checked with a d_model it divides, not the default 64
    assert load_space(write(space_text(model="family: transformer\nd_model: 96\nnhead: 3"))).model == {"d_model": 96, "nhead": 3}
    # both searched with some invalid pairs: accepted (the compiler samples the valid pairs)
    space = load_space(write(space_text(model="family: transformer\nd_model: {choices: [48, 64]}\nnhead: {choices: [3, 4]}")))
    assert space.model["nhead"] == Categorical((3, 4))


def test_tcn_receptive_field_warns_and_rejects(write, caplog):
    # 2 blocks, kernel 3: 1 + 2*2*(1+2) = 13 steps; 4 blocks: 61
    ok = load_space(write(space_text(model="family: tcn\nlayer_sizes: '16,16,16,16'", data="lookback: 52")))
    assert ok.warnings == ()
    with caplog.at_level(logging.WARNING, logger="search.space"):
        partly = load_space(write(space_text(model="family: tcn\nlayer_sizes: {choices: ['16,16', '16,16,16,16']}", data="lookback: {choices: [13, 26]}")))
    [warning] = partly.warnings
    assert "data.lookback: 1 of 2 TCN configurations have a receptive field shorter than the lookback (up to 26)" in warning
    assert "kernel_size=3, 2 blocks, dilation_base=2: 13" in warning
    assert caplog.messages == [f"warning: {warning}"]
    lines = problems(write(space_text(model="family: tcn\nlayer_sizes: '16,16'\nkernel_size: {low: 2, high: 3}", data="lookback: {type: int, low: 20, high: 30}")))
    assert "no TCN configuration sees a whole window: the widest receptive field is 13 steps" in lines[0]
    assert "but the lookback is at least 20" in lines[0]
    # legacy uniform layers count their blocks too
    legacy = load_space(write(space_text(model="family: tcn\nLAYERS: '[2,4]'\nHIDDEN_UNITS: 16", data="lookback: 52")))
    assert "2 of 3 TCN configurations" in legacy.warnings[0]


def test_grid_sampler_needs_finite_values(write):
    ok = space_text(train="lr: {type: float, low: 0.001, high: 0.003, step: 0.001}\nbatch_size: {low: 16, high: 64, log: true}", extra="sampler: {name: grid, seed: 1}\n")
    assert load_space(write(ok)).sampler == {"name": "grid", "seed": 1}
    bad = space_text(model="family: lstm\ndropout: {low: 0.0, high: 0.4}", train="lr: {low: 1.0e-4, high: 1.0e-2, log: true}", extra="sampler: grid\n")
    lines = problems(write(bad))
    assert [line.split(": ")[1] for line in lines] == ["model.dropout", "train.lr"]
    assert "give it a step (e.g. step: 0.1)" in lines[0]
    assert "give it choices (e.g. {choices: [0.0001, 0.001, 0.01]})" in lines[1]


def test_dataset_path_and_columns_are_checked(write, tmp_path):
    (tmp_path / "data.csv").write_text("when,value,other\n1,2,3\n")
    text = "model: {family: lstm}\ndata: {path: data.csv, time_column: when, target: valu, features: [other, x]}\n"
    lines = problems(write(text))
    assert lines[0] == f"{tmp_path / 'space.yaml'}:2: data.target: column 'valu' is not in data.csv; did you mean 'value'? (columns: when, value, other)"
    assert "data.features: column 'x' is not in data.csv" in lines[1]
    assert load_space(write(text), check_data=False).data["path"] == str(tmp_path / "data.csv")
    lines = problems(write("model: {family: lstm}\ndata: {path: dat.csv, target: value}\n"))
    assert "data.path: no such file" in lines[0] and "did you mean 'data.csv'?" in lines[0]


# --------------------------------------------------------------------------- samplers and pruners


@pytest.mark.parametrize(
    "sampler",
    [
        "tpe",
        "{name: tpe, n_startup_trials: 5, seed: 3, multivariate: true, group: true, constant_liar: true}",
        "{name: random, seed: 1}",
        "{name: cmaes, seed: 1, popsize: 8, n_startup_trials: 2}",
        "{name: gp, seed: 1, n_startup_trials: 4}",
        "{name: qmc, qmc_type: halton, scramble: true, seed: 1}",
    ],
)
def test_sampler_forms(write, monkeypatch, sampler):
    monkeypatch.setattr("search.space._fields.SAMPLER_PACKAGES", {})  # optional packages: tested below
    space = load_space(write(space_text(extra=f"sampler: {sampler}\n")))
    raw = yaml_load(f"s: {sampler}")["s"]
    assert space.sampler == ({"name": raw} if isinstance(raw, str) else raw)


def test_deprecated_sampler_options_warn(write, monkeypatch):
    monkeypatch.setattr("search.space._fields.SAMPLER_PACKAGES", {})
    space = load_space(write(space_text(extra="sampler: {name: cmaes, restart_strategy: ipop}\n")))
    [warning] = space.warnings
    assert "sampler.restart_strategy: `restart_strategy` has been deprecated in v4.4.0 (Optuna); drop it" in warning


def test_samplers_that_need_a_missing_package_say_how_to_install(write, monkeypatch):
    monkeypatch.setattr("search.space._fields.SAMPLER_PACKAGES", {"cmaes": ("surely_not_installed_pkg",)})
    [line] = problems(write(space_text(extra="sampler: {name: cmaes}\n")))
    assert "sampler.name: the cmaes sampler needs the package surely_not_installed_pkg, not installed; pip install surely_not_installed_pkg, or use tpe" in line


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        ("none", {"name": "none"}),
        ("{name: median, n_startup_trials: 3, n_warmup_steps: 2, interval_steps: 1}", None),
        ("{name: percentile, percentile: 25.0, n_warmup_steps: 2}", None),
        ("{name: successive_halving, min_resource: auto, reduction_factor: 3}", None),
        ("{name: hyperband, min_resource: 1, max_resource: 20, reduction_factor: 3}", None),
        ("{name: threshold, upper: 10.0}", None),
        ("{name: patient, patience: 3}", None),
        ("{name: patient, patience: 3, min_delta: 0.01, wrapped: {name: median, n_warmup_steps: 2}}", None),
        ("{name: patient, patience: 2, wrapped: percentile}", "needs"),
    ],
)
def test_pruner_forms(write, pruner, expected):
    text = write(space_text(extra=f"pruner: {pruner}\n"))
    if expected == "needs":
        assert "pruner.wrapped.percentile: the percentile pruner needs this option" in problems(text)[0]
        return
    space = load_space(text)
    raw = yaml_load(f"p: {pruner}")["p"]
    assert space.pruner == (expected or raw)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("sampler: {name: tpe, n_startup_trials: ten}", "sampler.n_startup_trials: expected an integer, got 'ten'"),
        ("sampler: {name: tpe, seed: 1.5}", "sampler.seed: expected an integer or null, got 1.5"),
        ("sampler: {name: qmc, qmc_type: foo}", "sampler.qmc_type: the qmc sampler rejects its options: The `qmc_type='foo'` is invalid"),
        ("sampler: {name: grid, n_startup_trials: 3}", "sampler.n_startup_trials: grid sampler has no option 'n_startup_trials' (valid: seed)"),
        ("pruner: {name: percentile, percentile: 150}", "pruner.percentile: the percentile pruner rejects its options: Percentile must be between 0 and 100"),
        ("pruner: {name: median, n_warmup_step: 3}", "did you mean 'n_warmup_steps'?"),
        ("pruner: {name: patient, patience: 2, wrapped: {name: median, n_startup_trials: -1}}", "pruner.wrapped.n_startup_trials: the median pruner rejects its options"),
        ("pruner: {name: hyperband, max_resource: [1]}", "pruner.max_resource: expected an integer or a string, got [1]"),
        ("pruner: [median]", "pruner: must be a mapping of keys"),
    ],
)
def test_sampler_and_pruner_problems(write, monkeypatch, extra, fragment):
    monkeypatch.setattr("search.space._fields.SAMPLER_PACKAGES", {})
    lines = problems(write(space_text(extra=extra + "\n")))
    assert any(fragment in line for line in lines), lines


# --------------------------------------------------------------------------- helpers


def test_values_of():
    assert values_of(5) == [5]
    assert values_of(Categorical(("a", "b"))) == ["a", "b"]
    assert values_of(IntRange(1, 7, 3)) == [1, 4, 7]
    assert values_of(IntRange(1, 4, 1, True)) == [1, 2, 3, 4]
    assert values_of(FloatRange(0.0, 0.3, 0.1)) == [0.0, 0.1, 0.2, 0.3]
    assert values_of(FloatRange(0.0, 1.0)) is None
    assert values_of(IntRange(1, 10**9)) is None


def test_overrides_apply_before_validation(write):
    path = write(space_text())
    space = load_space(path, ["train.lr={low: 1e-4, high: 1e-2, log: true}", "model.GRU_UNITS=[32, 16]"])
    assert space.train["lr"] == FloatRange(1e-4, 1e-2, None, True)
    assert space.model["layer_sizes"] == "32,16"
    with pytest.raises(UsageError):
        load_space(path, ["train.epochs"])
    assert read_raw(path)[0]["model"] == {"family": "lstm"}


def test_locate_adds_the_line_to_later_problems(write):
    path = write(space_text(data="lookback: 400"))
    space = load_space(path)
    problem = f"{path}: data.lookback: the val part has 342 rows, fewer than lookback 400 + horizon 1"
    assert space.locate(problem) == f"{path}:7: data.lookback: the val part has 342 rows, fewer than lookback 400 + horizon 1"
    assert space.locate(f"{path}: data.missing: x") == f"{path}:3: data.missing: x"  # not in the file: its section
    assert space.locate("elsewhere: data.path: x") == "elsewhere: data.path: x"


def test_checkpoints_keep_is_a_whole_number_outside_the_hash(write):
    from search.space import compile_space

    default = load_space(write(space_text()))
    kept = load_space(write(space_text(extra="checkpoints: {keep: 3}\n"), "kept.yaml"))
    assert default.checkpoints == {"keep": 5} and kept.checkpoints == {"keep": 3}
    assert compile_space(default).hash == compile_space(kept).hash  # which checkpoints are kept decides nothing a trial computes
    for bad in ("0", "2.5", "true", "'3'", "{low: 1, high: 5}"):
        found = problems(write(space_text(extra=f"checkpoints: {{keep: {bad}}}\n"), "bad.yaml"))
        assert len(found) == 1 and "checkpoints.keep" in found[0], (bad, found)
    assert "did you mean 'keep'" in problems(write(space_text(extra="checkpoints: {kep: 3}\n"), "typo.yaml"))[0]
