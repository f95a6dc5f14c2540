"""Every shipped space loads, compiles, samples valid configurations, and documents its keys."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

import models
from search.space import compile_space
from search.space import load_space

REPO = Path(__file__).resolve().parents[2]
SPACES = sorted((REPO / "spaces").glob("*.yaml")) + sorted(p for p in (REPO / "spaces").glob("*.json") if not p.name.endswith(".schema.json"))
# Each task's shipped datasets and the model inputs/outputs they give (see search.worker.tasks).
TASK_DATA = {
    "forecast": (("mauna_loa_co2_weekly.csv", "demand_halfhourly.csv", "electricity_hourly.csv", "traffic_hourly.csv", "housing_supply_monthly.csv"), {"n_features": 1}),
    "classify": (("sensor_activity.csv",), {"n_features": 3, "n_classes": 4}),
    "text": (("tiny_grammar.txt",), {"n_features": 35, "n_classes": 35, "per_step": True}),
}


def test_the_four_families_are_shipped():
    names = {p.name for p in SPACES}
    assert {"lstm.yaml", "gru.yaml", "tcn.yaml", "transformer.yaml"} <= names
    assert any(p.suffix == ".json" for p in SPACES)


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_shipped_space_compiles_and_samples_valid_models(path):
    space = load_space(path)
    assert space.warnings == ()
    datasets, io = TASK_DATA[space.data["task"]]
    assert Path(space.data["path"]).name in datasets
    compiled = compile_space(space)
    assert compiled.distributions, "a shipped space searches something"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        config = compiled.trial_config(study.ask(compiled.distributions).params)
        params = {k: v for k, v in config["model"].items() if k != "family"}
        models.build(config["model"]["family"], horizon=1, n_targets=1, lookback=config["data"]["lookback"], **io, **params)
    compiled.sampler(seed_offset=3)
    compiled.pruner()


@pytest.mark.parametrize("family", ["lstm", "gru", "tcn", "transformer"])
def test_every_key_of_a_family_space_is_commented(family):
    """Each key line has a comment block right above it (meaning, type, default)."""
    lines = (REPO / "spaces" / f"{family}.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^(  [A-Za-z_]+|description):", line):  # section keys (not range keys below them)
            above = lines[i - 1].strip() if i else ""
            assert above.startswith("#"), f"spaces/{family}.yaml:{i + 1}: {line.strip()} has no comment above it"
    text = "\n".join(lines)
    assert "Default:" in text and "Type:" in text
    assert load_space(REPO / "spaces" / f"{family}.yaml").family == family


@pytest.mark.parametrize("name, task", [("classify_gru", "classify"), ("text_lstm", "text"), ("electricity_lstm", "forecast")])
def test_every_key_of_a_task_space_is_commented(name, task):
    lines = (REPO / "spaces" / f"{name}.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^(  [A-Za-z_]+|description):", line):
            above = lines[i - 1].strip() if i else ""
            assert above.startswith("#"), f"spaces/{name}.yaml:{i + 1}: {line.strip()} has no comment above it"
    assert load_space(REPO / "spaces" / f"{name}.yaml").data["task"] == task


def test_the_legacy_gru_space_compiles_to_the_same_layer_choices():
    gru = compile_space(load_space(REPO / "spaces" / "gru.yaml"))
    legacy = compile_space(load_space(REPO / "spaces" / "gru_legacy.yaml"))
    assert gru.distributions["layer_sizes"] == legacy.distributions["layer_sizes"]
    assert len(gru.distributions["layer_sizes"].choices) == 16


def test_tcn_space_covers_every_lookback():
    space = load_space(REPO / "spaces" / "tcn.yaml")
    blocks = min(len(models.parse_layer_sizes(c)) for c in space.model["layer_sizes"].choices)
    assert models.receptive_field(space.model["kernel_size"].low, blocks, space.model["dilation_base"]) >= space.data["lookback"].high
