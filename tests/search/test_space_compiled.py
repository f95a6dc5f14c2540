"""The compiler: space entries -> Optuna distributions, joint params, samplers, pruners, hash."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.space.compiled import (
    ATTENTION,
    MAX_LAYER_CHOICES,
    attention_pairs,
    compile_space,
    split_attention,
    uniform_layers,
)
from search.space.registry import AskTellGridSampler, grid_search_space
from search.errors import ConfigError
from search.space import Categorical, IntRange, UniformLayers, load_space

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO / "datasets" / "mauna_loa_co2_weekly.csv"


def compiled(tmp_path, model="family: lstm", train="", data="", extra=""):
    data = textwrap.dedent(data)
    lookback = "" if "lookback:" in data else "\n  lookback: 13"
    text = (
        "model:\n" + textwrap.indent(textwrap.dedent(model), "  ")
        + f"\ndata:\n  path: {DATASET}\n  time_column: date\n  target: co2{lookback}\n" + textwrap.indent(data, "  ")
        + ("\ntrain:\n" + textwrap.indent(textwrap.dedent(train), "  ") if train else "")
        + "\n" + textwrap.dedent(extra)
    )
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return compile_space(load_space(path))


# One row per form: (section, "key: entry" as written in a space file, study name, distribution)
ENTRIES = [
    ("train", "lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}", "lr", FloatDistribution(1e-4, 1e-2, log=True)),
    ("train", "lr: {low: 1e-4, high: 1e-2, log: true}", "lr", FloatDistribution(1e-4, 1e-2, log=True)),
    ("train", "lr: {type: float, low: 0.001, high: 0.01}", "lr", FloatDistribution(0.001, 0.01)),
    ("train", "momentum: {type: float, low: 0.5, high: 0.9, step: 0.1}", "momentum", FloatDistribution(0.5, 0.9, step=0.1)),
    ("train", "lr: {choices: [0.1, 0.01, 0.001]}", "lr", CategoricalDistribution([0.1, 0.01, 0.001])),
    ("train", "batch_size: {type: int, low: 16, high: 128, step: 16}", "batch_size", IntDistribution(16, 128, step=16)),
    ("train", "batch_size: {type: int, low: 16, high: 128, log: true}", "batch_size", IntDistribution(16, 128, log=True)),
    ("train", "batch_size: {low: 16, high: 128}", "batch_size", IntDistribution(16, 128)),
    ("train", "batch_size: {choices: [32, 64]}", "batch_size", CategoricalDistribution([32, 64])),
    ("train", "optimizer: {choices: [adam, adamw, sgd]}", "optimizer", CategoricalDistribution(["adam", "adamw", "sgd"])),
    ("train", "weight_decay: {type: float, low: 1.0e-6, high: 1.0e-2, log: true}", "weight_decay", FloatDistribution(1e-6, 1e-2, log=True)),
    ("data", "lookback: {type: int, low: 13, high: 52, step: 13}", "lookback", IntDistribution(13, 52, step=13)),
    ("data", "lookback: {choices: [13, 26, 52]}", "lookback", CategoricalDistribution([13, 26, 52])),
    ("model", "dropout: {type: float, low: 0.0, high: 0.5}", "dropout", FloatDistribution(0.0, 0.5)),
    ("model", "dropout: {choices: [0.0, 0.1]}", "dropout", CategoricalDistribution([0.0, 0.1])),
    ("model", "layer_sizes: {choices: ['64,32', '64, 32, 16', [128, 64], 32]}", "layer_sizes", CategoricalDistribution(["64,32", "64,32,16", "128,64", "32"])),
    ("model", "GRU_UNITS: {choices: ['64', '32,32']}", "layer_sizes", CategoricalDistribution(["64", "32,32"])),
    ("model", "RNN_LAYER_SIZES: {choices: [[64, 64], [32]]}", "layer_sizes", CategoricalDistribution(["64,64", "32"])),
    ("model", "LAYERS: '[1,2]'\nHIDDEN_UNITS: {choices: [32, 64]}", "layer_sizes", CategoricalDistribution(["32", "64", "32,32", "64,64"])),
    ("model", "LAYERS: [1, 3]\nHIDDEN_UNITS: 16", "layer_sizes", CategoricalDistribution(["16", "16,16", "16,16,16"])),
    ("model", "LAYERS: 2\nHIDDEN_UNITS: '[16,128]'", "hidden_units", IntDistribution(16, 128)),
    ("model", "bidirectional: {choices: [true, false]}", "bidirectional", CategoricalDistribution([True, False])),
    ("model", "layer_norm: {choices: [false, true]}", "layer_norm", CategoricalDistribution([False, True])),
]


@pytest.mark.parametrize(("section", "entry", "name", "expected"), ENTRIES, ids=[e[1].split("\n")[0] for e in ENTRIES])
def test_entry_compiles_to_distribution(tmp_path, section, entry, name, expected):
    body = {"model": "family: lstm\n" + entry} if section == "model" else {section: entry}
    space = compiled(tmp_path, **body)
    assert space.distributions[name] == expected


@pytest.mark.parametrize(
    ("model", "fixed"),
    [
        ("family: lstm\ndropout: 0.2", {"dropout": 0.2}),
        ("family: lstm\nlayer_sizes: [64, 32]", {"layer_sizes": "64,32"}),
        ("family: gru\nGRU_UNITS: '64, 32'", {"layer_sizes": "64,32"}),
        ("family: lstm\nLAYERS: 2\nHIDDEN_UNITS: 64", {"layer_sizes": "64,64"}),
        ("family: tcn\nkernel_size: 5\nweight_norm: false", {"kernel_size": 5, "weight_norm": False}),
        ("family: transformer\nd_model: 96\nnhead: 3", {"d_model": 96, "nhead": 3}),
    ],
)
def test_fixed_values_stay_fixed(tmp_path, model, fixed):
    space = compiled(tmp_path, model=model)
    assert space.fixed["model"] == fixed
    assert not any(k in space.distributions for k in fixed)
    assert space.trial_config({})["model"] == {**fixed, "family": space.family}


# --------------------------------------------------------------------------- legacy uniform layers


def test_uniform_layers_small_grid_is_one_categorical_of_canonical_strings():
    dists = uniform_layers(UniformLayers(IntRange(1, 4), Categorical((16, 32, 64, 128))))
    assert list(dists) == ["layer_sizes"]
    assert dists["layer_sizes"].choices[:5] == ("16", "32", "64", "128", "16,16")
    assert dists["layer_sizes"].choices[-1] == "128,128,128,128"


def test_uniform_layers_large_grid_is_two_params_joined_by_trial_config(tmp_path):
    space = compiled(tmp_path, model="family: lstm\nLAYERS: '[1,3]'\nHIDDEN_UNITS: {type: int, low: 16, high: 256, log: true}")
    assert space.distributions["n_layers"] == IntDistribution(1, 3)
    assert space.distributions["hidden_units"] == IntDistribution(16, 256, log=True)
    assert "layer_sizes" not in space.distributions
    assert space.joint == {"layer_sizes": {"n_layers": None, "hidden_units": None}}
    config = space.trial_config({"n_layers": 3, "hidden_units": 40, "lookback": 13})
    assert config["model"] == {"layer_sizes": "40,40,40", "family": "lstm"}
    # one part fixed: only the other is searched
    space = compiled(tmp_path, model="family: gru\nLAYERS: 2\nHIDDEN_UNITS: '[16,128]'")
    assert list(space.distributions) == ["hidden_units"]
    assert space.trial_config({"hidden_units": 33})["model"]["layer_sizes"] == "33,33"
    assert space.content()["joint"] == {"layer_sizes": {"n_layers": 2, "hidden_units": None}}


def test_uniform_layers_threshold():
    at_limit = UniformLayers(IntRange(1, 4), IntRange(8, 8 * MAX_LAYER_CHOICES // 4, 8))
    assert list(uniform_layers(at_limit)) == ["layer_sizes"]
    over = UniformLayers(IntRange(1, 4), IntRange(8, 8 * (MAX_LAYER_CHOICES // 4 + 1), 8))
    assert list(uniform_layers(over)) == ["n_layers", "hidden_units"]


def test_legacy_and_canonical_spaces_share_a_hash(tmp_path):
    canonical = compiled(tmp_path, model="family: gru\nlayer_sizes: {choices: ['32', '64', '32,32', '64,64']}")
    legacy = compiled(tmp_path, model="family: gru\nLAYERS: '[1,2]'\nHIDDEN_UNITS: {choices: [32, 64]}")
    assert canonical.hash == legacy.hash


# --------------------------------------------------------------------------- d_model x nhead


@pytest.mark.parametrize(
    ("d_model", "nhead", "expected"),
    [
        (Categorical((64, 128)), Categorical((4, 8)), None),  # every pair valid: two params
        (IntRange(32, 128, 32), Categorical((2, 4, 8)), None),
        (64, Categorical((4, 8)), None),  # one fixed: nothing joint
        (Categorical((48, 64)), Categorical((3, 4)), ["48x3", "48x4", "64x4"]),
        (IntRange(60, 64, 2), Categorical((4, 8)), ["60x4", "64x4", "64x8"]),
    ],
)
def test_attention_pairs(d_model, nhead, expected):
    assert attention_pairs(d_model, nhead) == expected


def test_attention_param_samples_valid_pairs_only(tmp_path):
    space = compiled(tmp_path, model="family: transformer\nd_model: {choices: [48, 64, 96]}\nnhead: {choices: [3, 4, 8]}")
    assert "d_model" not in space.distributions and "nhead" not in space.distributions
    assert space.distributions[ATTENTION] == CategoricalDistribution(["48x3", "48x4", "48x8", "64x4", "64x8", "96x3", "96x4", "96x8"])
    assert split_attention("96x8") == (96, 8)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        model = space.trial_config(study.ask(space.distributions).params)["model"]
        assert model["d_model"] % model["nhead"] == 0
    assert "joint" in space.content()


def test_transformer_with_all_pairs_valid_keeps_both_params(tmp_path):
    space = compiled(tmp_path, model="family: transformer\nd_model: {type: int, low: 32, high: 128, step: 32}\nnhead: {choices: [2, 4, 8]}")
    assert space.distributions["d_model"] == IntDistribution(32, 128, step=32)
    assert space.distributions["nhead"] == CategoricalDistribution([2, 4, 8])
    assert space.joint == {}


# --------------------------------------------------------------------------- samplers, pruners


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("sampler: tpe", optuna.samplers.TPESampler),
        ("sampler: {name: tpe, n_startup_trials: 5, seed: 1, multivariate: true, group: true, constant_liar: true}", optuna.samplers.TPESampler),
        ("sampler: {name: random, seed: 1}", optuna.samplers.RandomSampler),
        ("sampler: {name: cmaes, seed: 1}", optuna.samplers.CmaEsSampler),
        ("sampler: {name: gp, seed: 1}", optuna.samplers.GPSampler),
        ("sampler: {name: qmc, seed: 1}", optuna.samplers.QMCSampler),
        ("sampler: {name: grid, seed: 1}", AskTellGridSampler),
    ],
)
def test_samplers(tmp_path, monkeypatch, spec, cls):
    monkeypatch.setattr("search.space._fields.SAMPLER_PACKAGES", {})
    space = compiled(tmp_path, train="batch_size: {choices: [32, 64]}\nlr: {type: float, low: 0.001, high: 0.003, step: 0.001}", extra=spec)
    assert type(space.sampler()) is cls
    assert type(space.sampler(seed_offset=7)) is cls


def test_grid_sampler_enumerates_every_combination(tmp_path):
    space = compiled(
        tmp_path,
        model="family: transformer\nd_model: {choices: [48, 64]}\nnhead: {choices: [3, 4]}",
        train="lr: {type: float, low: 0.001, high: 0.003, step: 0.001}\nbatch_size: {type: int, low: 16, high: 64, step: 16}",
        extra="sampler: {name: grid, seed: 0}",
    )
    grid = grid_search_space(space.distributions)
    assert grid[ATTENTION] == ["48x3", "48x4", "64x4"]
    assert grid["lr"] == [0.001, 0.002, 0.003]
    assert grid["batch_size"] == [16, 32, 48, 64]
    sampler = space.sampler()
    study = optuna.create_study(sampler=sampler)
    seen = set()
    for _ in range(36):  # ask/tell through the last grid point: the stock GridSampler raises here
        assert not sampler.is_exhausted(study)
        trial = study.ask(space.distributions)
        seen.add(tuple(sorted(trial.params.items())))
        study.tell(trial, 0.0)
    assert len(seen) == 3 * 3 * 4
    assert sampler.is_exhausted(study)
    with pytest.raises(ValueError, match="lr: the grid sampler needs a finite set of values"):
        grid_search_space({"lr": FloatDistribution(0.1, 1.0)})


def test_seed_offset_shifts_the_seed(tmp_path):
    space = compiled(tmp_path, train="lr: {type: float, low: 0.001, high: 0.1, log: true}", extra="sampler: {name: random, seed: 5}")
    first = optuna.create_study(sampler=space.sampler()).ask(space.distributions).params
    again = optuna.create_study(sampler=space.sampler()).ask(space.distributions).params
    shifted = optuna.create_study(sampler=space.sampler(seed_offset=3)).ask(space.distributions).params
    assert first == again != shifted


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("pruner: none", optuna.pruners.NopPruner),
        ("pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1, interval_steps: 2}", optuna.pruners.MedianPruner),
        ("pruner: {name: percentile, percentile: 30.0}", optuna.pruners.PercentilePruner),
        ("pruner: {name: successive_halving, reduction_factor: 2}", optuna.pruners.SuccessiveHalvingPruner),
        ("pruner: {name: hyperband, max_resource: 20}", optuna.pruners.HyperbandPruner),
        ("pruner: {name: threshold, upper: 5.0}", optuna.pruners.ThresholdPruner),
        ("pruner: {name: patient, patience: 3}", optuna.pruners.PatientPruner),
    ],
)
def test_pruners(tmp_path, spec, cls):
    assert type(compiled(tmp_path, extra=spec).pruner()) is cls


def test_patient_pruner_wraps_the_named_pruner(tmp_path):
    pruner = compiled(tmp_path, extra="pruner: {name: patient, patience: 2, min_delta: 0.1, wrapped: {name: median, n_warmup_steps: 3}}").pruner()
    assert pruner._patience == 2 and pruner._min_delta == 0.1
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)
    assert pruner._wrapped_pruner._n_warmup_steps == 3


def test_sampler_rejected_at_compile_time_names_the_file(tmp_path):
    space = compiled(tmp_path)
    bad = dataclasses.replace(space, space=dataclasses.replace(space.space, sampler={"name": "random", "seed": "x"}))
    with pytest.raises(ConfigError, match=r"space.yaml: sampler: the random sampler rejects its options"):
        bad.sampler()


# --------------------------------------------------------------------------- content and hash


def test_trial_config_merges_params_into_sections(tmp_path):
    space = compiled(tmp_path, model="family: lstm\nlayer_sizes: {choices: ['32', '64,32']}", train="lr: {low: 1e-4, high: 1e-2, log: true}\nepochs: 3")
    config = space.trial_config({"layer_sizes": "64,32", "lr": 0.002})
    assert config["model"] == {"layer_sizes": "64,32", "family": "lstm"}
    assert config["train"]["lr"] == 0.002 and config["train"]["epochs"] == 3
    assert config["data"]["path"] == str(DATASET)


def test_hash_ignores_layout_and_the_checkout_folder(tmp_path):
    (tmp_path / "a" / "spaces").mkdir(parents=True)
    (tmp_path / "b" / "deep" / "spaces").mkdir(parents=True)
    for root in (tmp_path / "a", tmp_path / "b" / "deep"):
        (root / "datasets").mkdir()
        shutil.copy(DATASET, root / "datasets" / DATASET.name)
    text = (REPO / "spaces" / "lstm.yaml").read_text()
    one = compile_space(load_space(_write(tmp_path / "a" / "spaces" / "lstm.yaml", text)))
    two = compile_space(load_space(_write(tmp_path / "b" / "deep" / "spaces" / "lstm.yaml", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))))
    assert one.content()["fixed"]["data"]["path"] == "../datasets/mauna_loa_co2_weekly.csv"
    assert one.hash == two.hash
    changed = compile_space(load_space(tmp_path / "a" / "spaces" / "lstm.yaml", ["train.epochs=21"]))
    assert changed.hash != one.hash


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_hash_ignores_fixed_values_at_their_default(tmp_path):
    """A space that spells out a default hashes like one that leaves it out, so keys added to
    the language later do not stop existing studies from resuming."""
    from search.space import compile_space
    from search.space import load_space
    from tests.conftest import TINY_SPACE, write_series

    write_series(tmp_path / "series.csv")
    (tmp_path / "a.yaml").write_text(TINY_SPACE)
    (tmp_path / "b.yaml").write_text(TINY_SPACE.replace("  epochs: 3\n", "  epochs: 3\n  schedule: none\n  optimizer: adam\n"))
    (tmp_path / "c.yaml").write_text(TINY_SPACE.replace("  epochs: 3\n", "  epochs: 4\n"))
    a, b, c = (compile_space(load_space(tmp_path / f"{n}.yaml")).hash for n in "abc")
    assert a == b and a != c


def test_drivers_sharing_a_study_draw_different_params_and_one_driver_is_reproducible(tmp_path):
    from search.driver.study_ops import suggest_params

    space = compiled(tmp_path, train="lr: {type: float, low: 0.001, high: 0.1, log: true}", extra="sampler: {name: tpe, seed: 5}")

    def draw(study, n):
        out = []
        for _ in range(n):
            trial = study.ask()
            suggest_params(trial, space.distributions)
            out.append((trial.number, trial.params["lr"]))
            study.tell(trial, 1.0)
        return out

    one = draw(optuna.create_study(sampler=space.driver_sampler()), 4)
    assert one == draw(optuna.create_study(sampler=space.driver_sampler()), 4)  # reproducible
    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(study_name="s", storage=storage, sampler=space.driver_sampler())
    second = optuna.load_study(study_name="s", storage=storage, sampler=space.driver_sampler())
    together = [first.ask(), second.ask(), first.ask(), second.ask()]  # started at once: interleaved
    for trial in together:
        suggest_params(trial, space.distributions)
    assert len({t.params["lr"] for t in together}) == 4
    assert [t.params["lr"] for t in together] == [lr for _, lr in one]  # each trial number has its own draw
    assert type(space.driver_sampler().inner) is optuna.samplers.TPESampler
    unseeded = compiled(tmp_path, train="lr: {type: float, low: 0.001, high: 0.1, log: true}", extra="sampler: {name: qmc, seed: 5}")
    assert type(unseeded.driver_sampler()) is optuna.samplers.QMCSampler
