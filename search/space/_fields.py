"""The rules for every key of a space file: types, defaults, bounds, documentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------- field rules


@dataclass(frozen=True)
class Field:
    kind: str  # int | float | bool | str | choice | fractions | columns
    default: Any = None
    required: bool = False
    searchable: bool = False
    low: float | None = None  # inclusive bounds for int/float
    high: float | None = None
    low_open: bool = False  # True: value must be > low
    choices: tuple = ()
    nullable: bool = False
    doc: str = ""


METRICS = ("loss", "mse", "rmse", "mae", "mape", "smape")
MINIMIZED_METRICS = set(METRICS)

DATA_FIELDS = {
    "path": Field("str", required=True, doc="CSV or Parquet file, relative to the space file"),
    "time_column": Field("str", nullable=True, doc="column holding the time stamps (sorted by it)"),
    "target": Field("columns", required=True, doc="column(s) to forecast"),
    "features": Field("columns", default=(), doc="covariate columns fed to the model"),
    "missing": Field("choice", "interpolate", choices=("interpolate", "drop", "error")),
    "split": Field("fractions", (0.7, 0.15, 0.15), doc="train / validation / test fractions"),
    "scaler": Field("choice", "standard", choices=("standard", "minmax", "none")),
    "series_id": Field("str", nullable=True, doc="column naming the series when the file holds several; null = one series"),
    "scaler_scope": Field("choice", "global", choices=("global", "series"), doc="one scaler fit on every series' training part, or one per series"),
    "gap": Field("int", 0, low=0, doc="rows left out between train and validation and between validation and test"),
    "lookback": Field("int", 24, searchable=True, low=1, doc="input window length"),
    "horizon": Field("int", 1, low=1, doc="steps predicted per window"),
    "stride": Field("int", 1, low=1, doc="steps between training windows"),
    "season": Field("int", None, low=2, nullable=True, doc="season length for the seasonal-naive baseline; null = detect"),
    "reference": Field("choice", "last", choices=("last", "none"), doc="forecast relative to the window's last value, or raw levels"),
}

TRAIN_FIELDS = {
    "epochs": Field("int", 20, low=1),
    "batch_size": Field("int", 64, searchable=True, low=1),
    "lr": Field("float", 1e-3, searchable=True, low=0, low_open=True),
    "optimizer": Field("choice", "adam", searchable=True, choices=("adam", "adamw", "sgd")),
    "momentum": Field("float", 0.9, searchable=True, low=0, high=1),
    "weight_decay": Field("float", 0.0, searchable=True, low=0),
    "grad_clip": Field("float", 1.0, searchable=True, low=0, doc="max gradient norm; 0 = off"),
    "patience": Field("int", 0, low=0, doc="early-stopping patience in epochs; 0 = off"),
    "schedule": Field("choice", "none", searchable=True, choices=("none", "cosine", "onecycle", "plateau"), doc="learning-rate schedule after the warmup (see search.train.LrSchedule)"),
    "warmup_epochs": Field("int", 0, searchable=True, low=0, doc="epochs of linear warmup from lr/10 to lr; 0 = none"),
    "seed": Field("int", 0, low=0),
    "device": Field("choice", "auto", choices=("auto", "cpu", "cuda", "mps")),
    "precision": Field("choice", "auto", choices=("auto", "fp32", "bf16", "fp16"), doc="auto: bf16 on CUDA where supported, else fp16; fp32 on CPU and MPS (mixed precision is CUDA only)"),
}

OBJECTIVE_FIELDS = {
    "metric": Field("choice", "rmse", choices=METRICS),
    "direction": Field("choice", "minimize", choices=("minimize", "maximize")),
}

RESOURCE_FIELDS = {
    "cpu": Field("float", 1.0, low=0, low_open=True),
    "gpu": Field("float", 0.0, low=0),
}

TOP_LEVEL = ("description", "model", "data", "train", "objective", "sampler", "pruner", "resources")

# Spellings of layer sizes that widely used configs use (model section only).
LAYER_SIZE_ALIASES = ("RNN_LAYER_SIZES", "GRU_UNITS")
UNIFORM_LAYER_KEYS = ("LAYERS", "HIDDEN_UNITS")
LEGACY_KEYS = LAYER_SIZE_ALIASES + UNIFORM_LAYER_KEYS

# Model config annotation -> the kind of range a key accepts.
_MODEL_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list[int]": "sizes"}

# Beyond this many (d_model, nhead) pairs a search should use a step or choices instead.
MAX_ATTENTION_PAIRS = 256

# Sampler -> packages it imports when it samples (not when it is built).
SAMPLER_PACKAGES = {"cmaes": ("cmaes",), "gp": ("scipy", "torch"), "qmc": ("scipy",)}
