"""``data.val_folds``: the validation part as several folds (like NeuralForecast's
``n_windows``), the earlier ones taken from the end of the training part; every origin of
every fold is scored, and each trial records its metric on each fold."""

from __future__ import annotations

import textwrap

import pytest

from search.errors import ConfigError, DataError
from search.space import compile_space, load_space
from search.worker.load import load_series
from tests._studies import trained
from tests.conftest import TINY_SPACE, write_series


def _space(tmp_path, folds: int | None, epochs: int = 1):
    write_series(tmp_path / "series.csv")
    text = textwrap.dedent(TINY_SPACE).replace("epochs: 3", f"epochs: {epochs}")
    if folds is not None:
        text = text.replace("  target: y\n", f"  target: y\n  val_folds: {folds}\n")
    path = tmp_path / f"folds{folds}.yaml"
    path.write_text(text)
    return path


def _series(space):
    return load_series(compile_space(load_space(space)).space.data)


def test_folds_take_the_earlier_stretches_from_the_training_part(tmp_path):
    one, three = _series(_space(tmp_path, None)), _series(_space(tmp_path, 3))
    (a1, b1), (a3, b3) = one.part("val"), three.part("val")
    assert b3 == b1 and b3 - a3 == 3 * (b1 - a1)  # three stretches of the validation length, ending where it ended
    assert three.part("train") == (0, a3) and three.part("test") == one.part("test")  # the test part is untouched
    assert one.val_folds == 1 and three.val_folds == 3


def test_a_trial_records_its_metric_on_each_fold(tmp_path):
    space = _space(tmp_path, 3)
    final = trained(space)  # one epoch: the last epoch's validation metrics are the best epoch's
    folds = final["val_folds"]
    assert len(folds) == 3 and all(v > 0 for v in folds)
    series = _series(space)
    start, end = series.part("val")
    # every origin of every fold is scored: the pooled RMSE is the folds' RMSEs pooled by their windows
    counts = [len([o for o in range(start, end) if (o - start) * 3 // (end - start) == k]) for k in range(3)]
    pooled = (sum(n * v**2 for n, v in zip(counts, folds)) / sum(counts)) ** 0.5
    assert pooled == pytest.approx(final["val_rmse"], rel=1e-4)
    assert "val_folds" not in trained(_space(tmp_path, None))  # one fold: nothing more recorded


def test_too_many_folds_name_the_key(tmp_path):
    with pytest.raises(DataError, match=r"data.val_folds: 20 folds of the validation part's 60 rows leave no training rows"):
        _series(_space(tmp_path, 20))
    with pytest.raises(ConfigError, match=r"data.val_folds"):
        load_space(_space(tmp_path, 0))
