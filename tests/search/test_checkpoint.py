"""Checkpoints: the best epoch's model round-trips through bytes and forecasts the same."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

from search.results.forecaster import unpack
from search.space import compile_space
from search.worker.data import windows
from search.worker.load import load_series
from search.space import load_space
from models.reference import LastValueReference
from search.worker.train import run_trial


def test_checkpoint_round_trip_forecasts_like_the_trained_model(tiny_space):
    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "16,8", "lookback": 12, "lr": 0.005})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    final = reports[-1]
    assert "checkpoint" in final and not any("checkpoint" in r for r in reports[:-1])
    forecaster = unpack(final["checkpoint"])  # safetensors + JSON header: no pickle
    assert forecaster.lookback == 12 and forecaster.horizon == 1 and forecaster.targets == ["y"]

    # The loaded model reproduces the trial's test metric on the test windows.
    x, y = windows(series, "test", 12, 1)
    model = LastValueReference(forecaster.model, 1).eval()
    with torch.no_grad():
        pred = series.unscale_targets(model(x))
    rmse = float(((pred - series.unscale_targets(y)) ** 2).mean().sqrt())
    assert rmse == pytest.approx(final["test_rmse"], rel=1e-4)

    # predict() on the raw frame forecasts after its last row, in the data's own units
    frame = pd.read_csv(tiny_space.parent / "series.csv")
    forecast = forecaster.predict(frame)
    assert forecast.shape == (1, 1) and np.isfinite(forecast).all()
    last = torch.from_numpy(series.values[-12:])[None]
    with torch.no_grad():
        expected = series.unscale_targets(model(last))[0].numpy()
    np.testing.assert_allclose(forecast, expected, rtol=1e-5)


def test_predict_rejects_missing_columns(tiny_space):
    from search.errors import UsageError

    compiled = compile_space(load_space(tiny_space))
    config = compiled.trial_config({"layer_sizes": "8", "lookback": 8, "lr": 0.005})
    series = load_series(compiled.space.data)
    reports = []
    run_trial(config, series, "rmse", reports.append, with_checkpoint=True)
    with pytest.raises(UsageError, match="column 'y' is missing"):
        unpack(reports[-1]["checkpoint"]).predict(pd.DataFrame({"t": range(20)}))


# --- format 2: safetensors + JSON header, verified against the recorded digest ----------------


def _study(tiny_space, tmp_path):
    from tests._studies import searched_study

    url, artifacts = f"sqlite:///{tmp_path / 'studies.db'}", tmp_path / "artifacts"
    return searched_study(tiny_space, url, artifacts), url, artifacts


def test_a_checkpoint_is_safetensors_with_a_json_header(tiny_space):
    from safetensors.torch import load as load_tensors

    from search.results.forecaster import read_header
    from tests._studies import trained_checkpoint

    data, _ = trained_checkpoint(tiny_space)
    header = read_header(data)
    assert header["format"] == 2 and header["family"] == "lstm" and header["columns"] == ["y"]
    assert header["data"]["lookback"] == 8 and len(header["offset"]) == len(header["scale"]) == 1
    tensors = load_tensors(data)
    assert tensors and all(isinstance(v, torch.Tensor) for v in tensors.values())
    assert b"\x80\x02" not in data[:16] and not data.startswith(b"PK")  # no pickle, no zip


def test_load_best_runs_no_pickle(tiny_space, tmp_path, monkeypatch):
    import pickle

    import search

    study, url, artifacts = _study(tiny_space, tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle on the loading path")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    forecaster = search.load_best("tiny", url, artifacts=str(artifacts))
    assert forecaster.predict(pd.read_csv(tiny_space.parent / "series.csv")).shape == (1, 1)


def test_the_driver_records_the_checkpoints_sha256(tiny_space, tmp_path):
    import hashlib

    study, _, artifacts = _study(tiny_space, tmp_path)
    attrs = study.best_trial.user_attrs
    data = (artifacts / attrs["checkpoint"]).read_bytes()
    assert attrs["checkpoint_sha256"] == hashlib.sha256(data).hexdigest()


def _replace_checkpoint(study, artifacts, data: bytes) -> None:
    (artifacts / study.best_trial.user_attrs["checkpoint"]).write_bytes(data)


def test_a_replaced_checkpoint_is_refused_naming_the_trial(tiny_space, tmp_path, capsys):
    from search.cli import main
    from search.errors import CheckpointError
    from search.results.loading import load_best
    from tests._studies import trained_checkpoint

    study, url, artifacts = _study(tiny_space, tmp_path)
    other, _ = trained_checkpoint(tiny_space, {"layer_sizes": "8", "lookback": 8, "lr": 0.009})
    _replace_checkpoint(study, artifacts, other)  # a valid checkpoint, but not the one recorded
    with pytest.raises(CheckpointError, match=r"the best trial #0 of 'tiny': the checkpoint does not match the sha256"):
        load_best("tiny", url, artifacts=str(artifacts))
    argv = ["predict", "tiny", "--input", str(tiny_space.parent / "series.csv"), "--storage", url, "--artifacts", str(artifacts)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "trial #0" in err and "sha256" in err and "Traceback" not in err


def test_a_checkpoint_without_a_recorded_digest_is_refused(tiny_space, tmp_path):
    from search.errors import CheckpointError
    from search.results.loading import load_best

    study, url, artifacts = _study(tiny_space, tmp_path)
    with sqlite3.connect(tmp_path / "studies.db") as db:
        db.execute("DELETE FROM trial_user_attributes WHERE key = 'checkpoint_sha256'")
    with pytest.raises(CheckpointError, match=r"trial #0 of 'tiny': no checkpoint digest .*checkpoint_sha256"):
        load_best("tiny", url, artifacts=str(artifacts))


def test_a_format_1_checkpoint_is_refused_unread(tiny_space, tmp_path, monkeypatch):
    import io

    from search.errors import CheckpointError
    from search.results.forecaster import unpack
    from search.results.loading import load_best

    study, url, artifacts = _study(tiny_space, tmp_path)
    with sqlite3.connect(tmp_path / "studies.db") as db:  # format-1 studies recorded no digest
        db.execute("DELETE FROM trial_user_attributes WHERE key = 'checkpoint_sha256'")
    old = io.BytesIO()
    torch.save({"format": 1, "state_dict": {}}, old)  # what the previous format wrote
    legacy = io.BytesIO()
    torch.save({"format": 1}, legacy, _use_new_zipfile_serialization=False)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    for data in (old.getvalue(), legacy.getvalue()):
        with pytest.raises(CheckpointError, match=r"^checkpoint format 1 \(torch.save, a pickle\) is no longer loaded"):
            unpack(data)
        _replace_checkpoint(study, artifacts, data)
        with pytest.raises(CheckpointError, match=r"^the best trial #0 of 'tiny': checkpoint format 1") as refused:
            load_best("tiny", url, artifacts=str(artifacts))
        assert "\n" not in str(refused.value)


@pytest.mark.parametrize("data", [b"", b"garbage", (10**9).to_bytes(8, "little") + b"{}", (2).to_bytes(8, "little") + b"{}"])
def test_bytes_that_are_not_a_checkpoint_are_refused(data):
    from search.errors import CheckpointError
    from search.results.forecaster import unpack

    with pytest.raises(CheckpointError, match="not a checkpoint"):
        unpack(data)


def test_a_checkpoint_attr_that_is_not_an_artifact_id_is_refused(tiny_space, tmp_path):
    from search.errors import CheckpointError
    from search.results.loading import load_best

    study, url, artifacts = _study(tiny_space, tmp_path)
    with sqlite3.connect(tmp_path / "studies.db") as db:
        db.execute("UPDATE trial_user_attributes SET value_json = '\"../../etc/passwd\"' WHERE key = 'checkpoint'")
    with pytest.raises(CheckpointError, match="is not an artifact id"):
        load_best("tiny", url, artifacts=str(artifacts))


def test_a_checkpoint_with_broken_tensors_is_one_line(tiny_space):
    from search.errors import CheckpointError
    from search.results.forecaster import unpack
    from tests._studies import trained_checkpoint

    data, _ = trained_checkpoint(tiny_space)
    with pytest.raises(CheckpointError, match="tensors cannot be read") as refused:
        unpack(data[:-7])  # the header intact, the tensors' bytes cut short
    assert "\n" not in str(refused.value)


def test_predict_reads_the_time_column_as_training_did(tiny_space):
    from search.errors import UsageError

    from tests._studies import trained_checkpoint

    forecaster = unpack(trained_checkpoint(tiny_space)[0])
    frame = pd.read_csv(tiny_space.parent / "series.csv").tail(30)
    dated = frame.assign(t=pd.date_range("2020-01-06", periods=30, freq="D").strftime("%d/%m/%Y"))
    forecaster.payload["data"]["time_format"] = "%d/%m/%Y"
    shuffled = dated.sample(frac=1.0, random_state=0)  # as text, 06/01 < 31/01 < 01/02 would sort wrongly
    np.testing.assert_allclose(forecaster.predict(shuffled), forecaster.predict(dated), rtol=1e-6)
    with pytest.raises(UsageError, match=r"--input: .*row \d+: 'soon' does not match time_format"):
        forecaster.predict(dated.assign(t=["soon"] + list(dated.t[1:])))
