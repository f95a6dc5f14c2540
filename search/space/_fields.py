"""The rules for every key of a space file: types, defaults, bounds, documentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------- field rules


@dataclass(frozen=True)
class Field:
    kind: str  # int | float | bool | str | choice | fractions | columns | seasons | time_features | levels | quantiles
    default: Any = None
    required: bool = False
    searchable: bool = False
    low: float | None = None  # inclusive bounds for int/float
    high: float | None = None
    low_open: bool = False  # True: value must be > low
    choices: tuple = ()
    nullable: bool = False
    doc: str = ""


# Defaults that data keys had before they changed, that a space's hash still leaves out so
# that studies made with them resume (``CompiledSpace.hash``): reference and time_features
# became auto, decided per study from the data (search.driver.defaults).
LEGACY_DEFAULTS = {"reference": "last", "time_features": "none"}

# What a space trains for (data.task) and the validation metrics each task reports.
TASKS = ("forecast", "classify", "text")
TASK_METRICS = {
    "forecast": ("loss", "mse", "rmse", "mae", "mape", "smape", "interval_score", "crps"),
    "classify": ("accuracy", "cross_entropy", "loss"),
    "text": ("cross_entropy", "perplexity", "bits_per_char", "accuracy", "loss"),
}
DEFAULT_METRIC = {"forecast": "rmse", "classify": "accuracy", "text": "perplexity"}
METRICS = tuple(dict.fromkeys(m for metrics in TASK_METRICS.values() for m in metrics))
MAXIMIZED_METRICS = {"accuracy"}
MINIMIZED_METRICS = set(METRICS) - MAXIMIZED_METRICS

DATA_FIELDS = {
    "task": Field("choice", "forecast", choices=TASKS, doc="forecast: predict target values ahead; classify: label each window by the target (label) column at its last row; text: next-character language model over a UTF-8 text file"),
    "path": Field("str", required=True, doc="CSV or Parquet file (task text: a UTF-8 text file), relative to the space file"),
    "time_column": Field("str", nullable=True, doc="column holding the time stamps, read as times (ISO dates unasked) or numbers; the rows are sorted by it"),
    "time_format": Field("str", nullable=True, doc="strftime format of the time column's text (e.g. '%d/%m/%Y'); null = ISO dates, numbers, or a day/month order that only one reading fits"),
    "duplicates": Field("choice", "error", choices=("error", "mean", "first", "last"), doc="rows of one series at one time: refused, or merged into their mean, their first or their last row"),
    "fill_gaps": Field("choice", "auto", choices=("auto", True, False), doc="add a row of empty cells for every missing time (a step longer than the usual one; business days: a skipped weekday), so that the rows keep the calendar's rhythm; data.missing: interpolate fills them (a filled target is never scored); search predict fills its input the same way; auto (task forecast): true where the file has missing times and the filled rows load (no gap longer than max_gap), else false, decided once per study"),
    "target": Field("columns", doc="column(s) to forecast; task classify: the one label column; task text: not used"),
    "features": Field("columns", default=(), doc="covariate columns fed to the model; task classify: the input columns (required)"),
    "missing": Field("choice", "interpolate", choices=("interpolate", "drop", "error"), doc="missing cells (empty, NaN, inf, or only . or -): interpolated linearly between observed values (gaps up to max_gap rows; a filled target is never scored), dropped, or refused; the policy and the count of filled rows are recorded in the study"),
    "max_gap": Field("int", None, low=1, nullable=True, doc="the longest run of missing rows that missing: interpolate fills; longer gaps, and missing values before a column's first or after its last value, are refused; null = the longest data.season or detected season, else 24"),
    "split": Field("fractions", (0.7, 0.15, 0.15), doc="train / validation / test fractions, or cut points {val_start: T, test_start: T} (time values, or row numbers without a time column)"),
    "scaler": Field("choice", "standard", choices=("standard", "minmax", "none"), doc="scaling of targets and features, fit on the training part only"),
    "series_id": Field("str", nullable=True, doc="column naming the series when the file holds several; null = one series"),
    "scaler_scope": Field("choice", "global", choices=("global", "series"), doc="one scaler fit on every series' training part, or one per series"),
    "gap": Field("int", 0, low=0, doc="rows left out between train and validation and between validation and test"),
    "lookback": Field("int", 24, searchable=True, low=1, doc="input window length"),
    "horizon": Field("int", 1, low=1, doc="steps predicted per window (1 for tasks classify and text)"),
    "stride": Field("int", 1, low=1, doc="steps between training windows"),
    "season": Field("seasons", None, low=2, nullable=True, doc="season length(s) for the seasonal-naive baseline, one (52) or several ([48, 336]); the one best on the validation part is used; null = detect every significant season"),
    "stat_baselines_seconds": Field("float", 120.0, low=0, doc="0 turns off the statistical baselines (statsforecast MSTL, AutoETS, AutoTheta on the trials' targets); any other value: on. They run beside the trials as a one-CPU Ray task, are recorded when they finish (never skipped) and waited for at the end; no longer a time bound"),
    "val_folds": Field("int", 1, low=1, doc="validation folds, like NeuralForecast's n_windows: the validation part is this many stretches of the split's validation length, the earlier ones taken from the end of the training part, and every origin of every fold is scored for ranking (the objective, pruning, early stopping, the served forecaster's weights); each trial records its best epoch's metric per fold (val_folds); 1 = one stretch"),
    "eval_origins": Field("choice", "every", choices=("every", "horizon"), doc="validation and test forecast origins: every step (every point of the part is a target), or every horizon steps (non-overlapping, as forecasting benchmarks score), the last window ending at the part's end"),
    "reference": Field("choice", "auto", searchable=True, choices=("auto", "last", "none", "seasonal", "mstl"), doc="forecast relative to the window's last value (last), raw levels (none), the deviation from the seasonal-naive forecast of the season best on the validation part (seasonal), or from the last deseasonalised value plus a seasonal profile refreshed before each window from the cycles before it (mstl); seasonal and mstl read the history before the lookback, so the lookback need not hold a season; auto: decided per study from the validation part, where the seasonal naive beats the naive forecast mstl if the mstl reference's own forecast beats the seasonal naive, else seasonal; otherwise last (a fixed value only; recorded in the study as defaults_chosen); none for tasks classify and text"),
    "time_features": Field("time_features", "auto", searchable=True, doc="known-future calendar inputs, sin/cos, fed over the lookback and the horizon: none; calendar (chosen by the series' step; without a datetime time column, the position within each season); auto (decided per study from the validation part: calendar where the seasonal naive beats the naive forecast, else none; recorded in the study as defaults_chosen; as a searched choice, auto is calendar); or a list of hour, dayofweek, dayofmonth, dayofyear, month, season; searched as {choices: [none, calendar, 'hour,dayofweek']}; none for tasks classify and text"),
    "levels": Field("levels", (80, 95), doc="prediction-interval levels in percent, each in (0, 100): every forecasting trial calibrates split-conformal intervals on its validation residuals and records their coverage, width, interval score and MSIS on the test part at each level"),
    "interval_method": Field("choice", "symmetric", choices=("symmetric", "signed"), doc="conformal intervals of a point forecast: symmetric (the quantile of |residual| per horizon step) or signed (the lower and upper quantiles of the signed residuals: a skewed error gets a skewed band); a quantile head's band is conformalised (cqr) instead"),
    "future_features": Field("columns", default=(), doc="columns known in the future (a holiday flag, a planned price): scaled like features, fed over the lookback and the horizon; search predict's input carries their horizon rows after its last target value"),
}

TRAIN_FIELDS = {
    "epochs": Field("int", 20, low=1, high=100_000, doc="most epochs per trial (every one is recorded in the study), at most 100,000; the pruner and early stopping end trials sooner"),
    "batch_size": Field("int", 64, searchable=True, low=1, doc="windows per optimisation step"),
    "lr": Field("float", 1e-3, searchable=True, low=0, low_open=True, doc="learning rate"),
    "optimizer": Field("choice", "adam", searchable=True, choices=("adam", "adamw", "sgd"), doc="torch optimizer"),
    "momentum": Field("float", 0.9, searchable=True, low=0, high=1, doc="momentum, used by sgd only"),
    "weight_decay": Field("float", 0.0, searchable=True, low=0, doc="L2 weight decay"),
    "grad_clip": Field("float", 1.0, searchable=True, low=0, doc="max gradient norm; 0 = off"),
    "loss": Field("choice", "mse", searchable=True, choices=("mse", "mae", "huber", "quantile"), doc="training loss of a forecast on the scaled targets: mse, mae (L1), huber (delta 1) or quantile (the pinball loss of train.quantiles: the model forecasts each quantile, the one nearest 0.5 is the point forecast); tasks classify and text train on cross-entropy"),
    "quantiles": Field("quantiles", (0.1, 0.5, 0.9), searchable=True, doc="with loss: quantile, the probabilities the quantile head forecasts, each in (0, 1); ordered by construction (they never cross); searched as {choices: [[0.1, 0.5, 0.9], [0.05, 0.5, 0.95]]}"),
    "patience": Field("int", 0, low=0, doc="early-stopping patience in epochs; 0 = off"),
    "schedule": Field("choice", "none", searchable=True, choices=("none", "cosine", "onecycle", "plateau"), doc="learning-rate schedule after the warmup (see search.worker.train.LrSchedule)"),
    "warmup_epochs": Field("int", 0, searchable=True, low=0, doc="epochs of linear warmup from lr/10 to lr; 0 = none"),
    "continuous_eval": Field("bool", False, doc="also evaluate on each test series in one pass carrying the hidden state (LSTM/GRU, reference: none); stored as test_continuous_<metric>"),
    "continuous_warmup": Field("int", None, low=0, nullable=True, doc="forecasts discarded at the start of each series in the continuous evaluation; null = the lookback"),
    "seed": Field("int", 0, low=0, doc="seed of the model's initial weights and the batch order"),
    "device": Field("choice", "auto", choices=("auto", "cpu", "cuda", "mps"), doc="auto: CUDA, else Apple MPS, else CPU"),
    "precision": Field("choice", "auto", choices=("auto", "fp32", "bf16", "fp16"), doc="auto: bf16 on CUDA where supported, else fp16; fp32 on CPU and MPS (mixed precision is CUDA only)"),
}

# Objectives that are facts of the trained model, not validation metrics: only beside a
# validation metric in a multi-objective list (objective: [{metric: mae}, {metric: n_params}]).
# n_params: the model's parameter count; latency_ms: the median milliseconds of a forward pass
# of LATENCY_BATCH windows on the trial's device, measured after training. Both minimized.
MODEL_OBJECTIVES = ("n_params", "latency_ms")
MAX_OBJECTIVES = 3  # the Pareto front is drawn in 2 or 3 dimensions
# Samplers that sample a multi-objective study (Optuna's CmaEsSampler does not).
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2", "random", "qmc", "grid", "gp")

OBJECTIVE_FIELDS = {
    "metric": Field("choice", None, choices=METRICS + MODEL_OBJECTIVES, doc="default per task: forecast rmse, classify accuracy, text perplexity; in a list of objectives also n_params, latency_ms"),
    "direction": Field("choice", None, choices=("minimize", "maximize"), doc="default: the metric's own (maximize accuracy, minimize the rest)"),
}

RESOURCE_FIELDS = {
    "cpu": Field("float", 1.0, low=0, low_open=True, doc="CPUs per trial, also the trial's torch thread count (--cpus-per-trial overrides it)"),
    "gpu": Field("float", 0.0, low=0, doc="GPUs per trial; a fraction shares a GPU between trials (--gpus-per-trial overrides it)"),
    "max_params": Field("float", 1e8, low=1, doc="the most parameters the largest configuration of the space may have (counted at validation); beyond it the space is refused"),
}

TRACKING_FIELDS = {
    "mlflow": Field("str", None, nullable=True, doc="MLflow tracking URI (http://host:5000, a folder, ...): the driver logs one parent run per search and one child run per trial; --mlflow and $MLFLOW_TRACKING_URI also set it"),
}

CHECKPOINT_FIELDS = {
    "keep": Field("int", 5, low=1, doc="keep the checkpoint of every COMPLETE trial that enters the study's best `keep` trials when it finishes (ties kept), so an ensemble of up to `keep` trials can be loaded (search ensemble, --ensemble K); 1 = only trials that improve on the best"),
}

TOP_LEVEL = ("description", "model", "data", "train", "objective", "sampler", "pruner", "resources", "tracking", "checkpoints")

# Spellings of layer sizes that widely used configs use (model section only).
LAYER_SIZE_ALIASES = ("RNN_LAYER_SIZES", "GRU_UNITS")
UNIFORM_LAYER_KEYS = ("LAYERS", "HIDDEN_UNITS")
LEGACY_KEYS = LAYER_SIZE_ALIASES + UNIFORM_LAYER_KEYS

# The names data.time_features may list (search.worker.known computes them).
TIME_FEATURES = ("hour", "dayofweek", "dayofmonth", "dayofyear", "month", "season")

# Model config annotation -> the kind of range a key accepts.
_MODEL_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list[int]": "sizes"}

# Beyond this many (d_model, nhead) pairs a search should use a step or choices instead.
MAX_ATTENTION_PAIRS = 256

# Sampler -> packages it imports when it samples (not when it is built).
SAMPLER_PACKAGES = {"cmaes": ("cmaes",), "gp": ("scipy", "torch"), "qmc": ("scipy",)}
