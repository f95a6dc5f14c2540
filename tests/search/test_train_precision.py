"""Mixed precision: auto resolves per device; CPU runs fp32, and a CUDA-only request falls back."""

from __future__ import annotations

import math

import pytest
import torch

from search.worker.train import resolve_precision
from tests.search.test_train import run, trial_config


def test_cpu_runs_fp32_by_default(tiny_space):
    config, series = trial_config(tiny_space, epochs=1)
    assert config["train"]["precision"] == "auto"
    final = run(config, series)[-1]
    assert final["precision"] == "fp32" and "precision_note" not in final
    assert math.isfinite(final["test_rmse"])


@pytest.mark.parametrize("asked", ["fp16", "bf16"])
def test_mixed_precision_on_cpu_falls_back_to_fp32_with_the_reason(tiny_space, asked):
    config, series = trial_config(tiny_space, epochs=1, precision=asked)
    reports = run(config, series)
    final = reports[-1]
    assert "error" not in final
    assert final["precision"] == "fp32"
    assert final["precision_note"] == f"precision {asked} needs CUDA; ran fp32 on cpu"
    # same numbers as an fp32 run
    config["train"]["precision"] = "fp32"
    assert [r["objective"] for r in run(config, series)] == [r["objective"] for r in reports]


def test_resolution_table(monkeypatch):
    cpu, mps = torch.device("cpu"), torch.device("mps")
    assert resolve_precision("auto", cpu) == ("fp32", None)
    assert resolve_precision("fp32", mps) == ("fp32", None)
    assert resolve_precision("fp16", mps)[0] == "fp32"
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", cuda) == ("bf16", None)
    assert resolve_precision("fp16", cuda) == ("fp16", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", cuda) == ("fp16", None)
    assert resolve_precision("bf16", cuda) == ("fp16", "precision bf16 is not supported by this GPU; ran fp16")


def test_precision_key_is_validated(tiny_space):
    from search.errors import ConfigError
    from search.space import load_space

    assert load_space(tiny_space, ["train.precision=bf16"]).train["precision"] == "bf16"
    with pytest.raises(ConfigError, match=r"train.precision: 'fp8' is not one of auto, fp32, bf16, fp16"):
        load_space(tiny_space, ["train.precision=fp8"])
