"""Task text: a character-level language model over a UTF-8 file. Windows and next-character
targets, the vocabulary of the training part, metrics, causality, a model that learns, a real
search, the checkpoint and ``search predict``."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import optuna
import pytest
import torch

import models
from search.worker import tasks
from search.results.forecaster import unpack
from search.cli import main
from search.space import compile_space
from search.errors import DataError
from search.space import load_space
from search.study_attrs import flat
from search.worker.train import run_trial

WORDS = ("the cat", "a dog", "my bird", "sees", "likes", "the lamp", "near the house", "at night")


def corpus(n_sentences: int = 300, seed: int = 0) -> str:
    """Sentences of a tiny grammar: subject verb object [place]."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_sentences):
        words = [WORDS[rng.integers(0, 3)], WORDS[rng.integers(3, 5)], WORDS[rng.integers(0, 3)]]
        if rng.random() < 0.5:
            words.append(WORDS[rng.integers(6, 8)])
        lines.append(" ".join(words) + ".")
    return "\n".join(lines) + "\n"


def data_cfg(path, **changes) -> dict:
    cfg = {
        "task": "text", "path": str(path), "time_column": None, "target": None, "features": (), "missing": "interpolate",
        "split": (0.8, 0.1, 0.1), "scaler": "standard", "series_id": None, "scaler_scope": "global", "gap": 0,
        "lookback": 8, "horizon": 1, "stride": 1, "reference": "none",
    }  # fmt: skip
    cfg.update(changes)
    return cfg


def test_windows_and_next_character_targets(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("abcdefghij" * 10, encoding="utf-8")  # 100 characters
    data = tasks.load_data(data_cfg(path, split=(0.6, 0.2, 0.2), gap=2))
    tokens = data.values[:, 0]
    assert data.classes == tuple("abcdefghij") and data.n_classes == 11 and data.n_features == 11
    assert tokens.dtype == np.int32  # ids in memory, one-hot only per batch
    (a, b), = data.parts("train")
    x, y = data.windows("train", 8, stride=3)
    for i in range(len(x)):
        np.testing.assert_array_equal(x[i].numpy(), tokens[a + 3 * i : a + 3 * i + 8])
        np.testing.assert_array_equal(y[i].numpy(), tokens[a + 3 * i + 1 : a + 3 * i + 9])
    assert a + 3 * (len(x) - 1) + 9 <= b  # the last target is still in the training part
    # validation and test windows do not overlap: each character after the first scored once
    for part in ("val", "test"):
        (s, e), = data.parts(part)
        x, y = data.windows(part, 8)
        assert len(x) == (e - s - 1) // 8
        np.testing.assert_array_equal(y.reshape(-1).numpy(), tokens[s + 1 : s + 1 + 8 * len(x)])
        np.testing.assert_array_equal(x.reshape(-1).numpy(), tokens[s : s + 8 * len(x)])
    # the gap characters belong to no part
    assert data.parts("val")[0][0] == b + 2


def test_the_vocabulary_comes_from_the_training_part(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("ab" * 45 + "zé" * 5, encoding="utf-8")  # z and é only in the test part
    data = tasks.load_data(data_cfg(path))
    assert data.classes == ("a", "b") and data.n_classes == 3
    (s, e), = data.parts("test")
    assert set(data.values[s:e, 0].tolist()) == {2}  # the unknown token
    assert tasks.encode("abzq", data.classes).tolist() == [0, 1, 2, 2]


def test_unreadable_text_is_one_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"abc\xff\xfe")
    with pytest.raises(DataError, match=r"^space.yaml: data.path: c.txt is not UTF-8 text"):
        tasks.load_data(data_cfg(path), source="space.yaml")


def test_metrics_against_hand_computed_values():
    # uniform logits over 4 tokens: cross-entropy ln 4, perplexity 4, 2 bits per char
    out = tasks.metrics("text", torch.zeros(2, 3, 4), torch.tensor([[0, 1, 2], [3, 0, 1]]))
    assert out["cross_entropy"] == pytest.approx(math.log(4))
    assert out["perplexity"] == pytest.approx(4.0) and out["bits_per_char"] == pytest.approx(2.0)
    # one confident step: p(target) = e^2 / (e^2 + 3)
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 1] = 2.0
    out = tasks.metrics("text", logits, torch.tensor([[1, 3]]))
    ce = (-math.log(math.exp(2) / (math.exp(2) + 3)) + math.log(4)) / 2
    assert out["cross_entropy"] == pytest.approx(ce) and out["loss"] == pytest.approx(ce)
    assert out["perplexity"] == pytest.approx(math.exp(ce)) and out["bits_per_char"] == pytest.approx(ce / math.log(2))
    assert out["accuracy"] == pytest.approx(0.5)  # argmax of the second step is token 0, not 3


def test_one_hot_input_is_built_per_batch():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return x

    out = tasks.OneHotInput(Probe(), 5)(torch.tensor([[0, 4, 2]], dtype=torch.int32))
    assert out.shape == (1, 3, 5) and out.dtype == torch.float32
    assert out[0].argmax(-1).tolist() == [0, 4, 2] and float(out.sum()) == 3


def test_the_tcn_is_causal():
    """An output step never depends on later inputs, so the TCN needs no rejection for text."""
    torch.manual_seed(0)
    model = models.build("tcn", n_features=3, horizon=1, n_targets=1, n_classes=3, per_step=True, layer_sizes="8,8", dropout=0.0).eval()
    x = torch.randn(1, 12, 3)
    later = x.clone()
    later[:, 7:] = torch.randn(1, 5, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:, :7], model(later)[:, :7])


TEXT_SPACE = """
model:
  family: lstm
  layer_sizes: {choices: ["32", "64"]}
data:
  task: text
  path: corpus.txt
  lookback: {choices: [16, 24]}
  stride: 4
train:
  epochs: 3
  batch_size: 32
  lr: {type: float, low: 1.0e-2, high: 2.0e-2, log: true}
sampler: {name: random, seed: 0}
pruner: {name: median, n_startup_trials: 5}
"""


@pytest.fixture
def text_space(tmp_path):
    (tmp_path / "corpus.txt").write_text(corpus(), encoding="utf-8")
    path = tmp_path / "text.yaml"
    path.write_text(textwrap.dedent(TEXT_SPACE))
    return path


def test_defaults_of_the_task(text_space):
    space = load_space(text_space)
    assert space.objective.metric == "perplexity" and space.objective.direction == "minimize"
    assert space.data["reference"] == "none" and space.data["target"] is None
    transformer = load_space(text_space, ["model={family: transformer, d_model: 16, nhead: 2}"])
    assert transformer.model["causal"] is True  # causal by default for text
    assert load_space(text_space, ["model={family: tcn, layer_sizes: '8,8,8'}"]).family == "tcn"


@pytest.mark.parametrize(
    "overrides, key, fragment",
    [
        (["model.bidirectional=true"], "model.bidirectional", "task text needs bidirectional: false"),
        (["model.bidirectional={choices: [false, true]}"], "model.bidirectional", "task text needs bidirectional: false"),
        (["model={family: transformer, d_model: 16, nhead: 2, causal: false}"], "model.causal", "task text needs causal: true"),
        (["data.target=y"], "data.target", "uses no columns; remove data.target"),
        (["objective.metric=rmse"], "objective.metric", "valid: cross_entropy, perplexity, bits_per_char, accuracy, loss"),
        (["objective.metric=accuracy", "objective.direction=minimize"], "objective.direction", "use direction: maximize"),
        (["objective.metric=bits_per_char", "objective.direction=maximize"], "objective.direction", "use direction: minimize"),
    ],
)
def test_validate_rejects_what_does_not_fit_the_task(text_space, capsys, overrides, key, fragment):
    argv = ["validate", str(text_space)] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --set ") and f"{key}: " in lines[0] and fragment in lines[0], lines  # named by the flag that gave it


def test_a_small_model_learns_the_corpus(text_space):
    compiled = compile_space(load_space(text_space, ["train.epochs=3", "data.stride=8"]))
    config = compiled.trial_config({"layer_sizes": "32", "lookback": 24, "lr": 0.02})
    series = tasks.load_data(compiled.space.data)
    reports = []
    run_trial(config, series, "perplexity", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "error" not in final, final.get("error")
    for r in reports:
        assert {"val_cross_entropy", "val_perplexity", "val_bits_per_char", "val_accuracy", "val_loss"} <= set(r)
        assert r["val_perplexity"] == pytest.approx(math.exp(r["val_cross_entropy"]))
    vocab = series.n_classes
    assert final["best_objective"] < vocab / 4, [r["val_perplexity"] for r in reports]  # clearly learned
    assert final["test_perplexity"] < vocab / 4
    unigram = tasks.task_baselines(series, 24)["baseline_unigram_val_perplexity"]
    assert final["best_objective"] < unigram / 2

    forecaster = unpack(final["checkpoint"])  # safetensors + JSON header: no pickle
    assert forecaster.task == "text" and forecaster.vocab == list(series.classes)
    x, y = series.windows("test", 24)
    with torch.no_grad():
        logits = forecaster.model.eval()(torch.nn.functional.one_hot(x.long(), vocab).float())
    assert tasks.metrics("text", logits, y)["perplexity"] == pytest.approx(final["test_perplexity"], rel=1e-4)
    continuation = forecaster.generate("the cat sees", 40)
    assert len(continuation) == 40 and set(continuation) <= set(series.classes)


@pytest.mark.slow
def test_search_run_and_predict(ray_local, text_space, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    artifacts = tmp_path / "art"
    assert main(["run", str(text_space), "--trials", "2", "--storage", url, "--artifacts", str(artifacts), "--set", "train.epochs=2"]) == 0
    out = capsys.readouterr().out
    assert "val perplexity" in out and "(unigram " in out
    study = optuna.load_study(study_name="text", storage=url)
    attrs = flat(study)
    assert attrs["task"] == "text" and attrs["vocab_size"] == len(attrs["vocab"]) + 1
    assert attrs["baseline_unigram_val_perplexity"] > 1 and "baseline_unigram_test_bits_per_char" in attrs
    for t in study.get_trials(deepcopy=False):
        assert t.state == optuna.trial.TrialState.COMPLETE and len(t.intermediate_values) == 2
        assert {"test_perplexity", "test_cross_entropy", "test_bits_per_char", "test_accuracy"} <= set(t.user_attrs)
    assert main(["best", "text", "--storage", url]) == 0
    assert "test perplexity" in capsys.readouterr().out
    assert main(["report", "text", "--storage", url, "--out", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()

    prompt = tmp_path / "prompt.txt"
    prompt.write_text("the cat sees a dog.\nmy bird likes", encoding="utf-8")
    argv = ["predict", "text", "--input", str(prompt), "--storage", url, "--artifacts", str(artifacts), "--length", "30"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert len(printed.rstrip("\n")) >= 20  # the continuation (it may end in a newline of its own)
    assert main([*argv, "--out", str(tmp_path / "more.txt")]) == 0
    assert len((tmp_path / "more.txt").read_text(encoding="utf-8")) == 30
