"""Validation rules that need several sections: task, causality, receptive field, grid, dataset columns."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from search.space import _fields, registry
from search.space._checks import _fmt
from search.space._fields import MINIMIZED_METRICS, TASK_METRICS
from search._csv import DELIMITED, PARQUET, separator
from search._format import did_you_mean, not_a_file, repeated
from search.space._types import Categorical, FloatRange, IntRange, UniformLayers, values_of


class _CrossRules:
    """Mixin of the validator: rules between sections."""

    def continuous_eval(self, family: str, model: dict, data: dict) -> None:
        """A pass over a whole stream needs a unidirectional recurrent model on raw levels."""
        key = "train.continuous_eval"
        if family not in ("lstm", "gru"):
            self.error(key, f"needs a recurrent model (lstm or gru), not {family!r}; set continuous_eval: false")
            return
        bidirectional = model.get("bidirectional")
        if bidirectional is True or (isinstance(bidirectional, Categorical) and True in bidirectional.choices):
            self.error(key, "needs model.bidirectional: false (a backward pass over the stream would read the future)")
        if data.get("task", "forecast") != "forecast":
            self.error(key, f"applies to task forecast only, not {data.get('task')!r}; set continuous_eval: false")
        elif _can_be_other_than(data.get("reference", "last"), "none"):
            self.error(key, "needs data.reference: none (a stream has no window whose last value to forecast from)")

    def known_future(self, data: dict, train: dict, given: dict) -> None:
        """``time_features`` and ``future_features`` feed a forecast's horizon: task forecast
        only, future columns apart from the target and the features, no stream evaluation. The
        default ``time_features: auto`` adds nothing where the data decides nothing (tasks
        classify and text, a stream evaluation); written out, it is checked as any value."""
        features = data.get("time_features") or "none"
        if features == "auto" and "time_features" not in given:
            features = "none"
        uses = ["time_features"] if _can_be_other_than(features, "none") else []
        uses += ["future_features"] if data.get("future_features") else []
        reference = data.get("reference", "last")
        mstl = "mstl" in getattr(reference, "choices", [reference])
        task = data.get("task", "forecast")
        for key in uses:
            if task != "forecast":
                self.error(f"data.{key}", f"known-future inputs apply to task forecast only, not {task!r}; remove data.{key}")
        for name in data.get("future_features") or ():
            for other in ("target", "features"):
                if name in (data.get(other) or ()):
                    self.error("data.future_features", f"{name!r} is also in data.{other}; a column is either observed up to the origin (features) or known ahead (future_features), not both")
        if train.get("continuous_eval") and (uses or mstl):
            self.error("train.continuous_eval", f"reads the stream one step at a time and has no horizon rows to feed {' or '.join(uses) or 'reference mstl'}; set continuous_eval: false")

    # -- rules that need several sections

    def task_rules(self, raw: dict, family: str, model: dict, data: dict, objectives: list[dict]) -> None:
        """What ``data.task`` asks of the other keys: the columns it reads, horizon 1 and no
        reference for classify/text, causal models for text, the metrics it reports and their
        defaults (forecast rmse, classify accuracy, text perplexity; the direction follows the
        metric unless given)."""
        task = data.get("task") if data.get("task") in TASK_METRICS else "forecast"
        given = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        if task == "text":
            for key in ("target", "features", "time_column", "series_id"):
                if given.get(key) not in (None, [], ()):
                    self.error(f"data.{key}", f"task text reads every character of a text file and uses no columns; remove data.{key}")
        elif data.get("target") is None and "data.target" not in self.failed:
            self.error("data.target", f"required key is missing ({'the label column' if task == 'classify' else 'column(s) to forecast'})")
        for key in ("time_column", "series_id"):  # a column has one role
            if task != "text" and data.get(key) and data.get(key) in (data.get("target") or ()):
                self.error(f"data.{key}", f"{data[key]!r} is also data.target; the {'times' if key == 'time_column' else 'series names'} cannot be forecast: name another column")
        if task == "classify":
            target = data.get("target") or ()
            if len(target) > 1:
                self.error("data.target", f"task classify takes one label column, got {len(target)} ({', '.join(target)}); keep one")
            if not data.get("features") and "data.features" not in self.failed:
                self.error("data.features", "task classify needs the input columns; list them, e.g. features: [x1, x2] (the label column is never an input)")
            for name in set(target) & set(data.get("features") or ()):
                self.error("data.features", f"{name!r} is the label column (data.target) and cannot be an input; remove it from data.features")
        if task != "forecast":
            if data.get("horizon") != 1 and "data.horizon" not in self.failed:
                self.error("data.horizon", f"task {task} predicts one label per window (text: one per step); horizon must be 1, got {data.get('horizon')!r}; remove data.horizon")
            if "reference" in given:
                if _can_be_other_than(data.get("reference"), "none"):
                    self.error("data.reference", f"forecast references (last, seasonal, mstl) do not apply to task {task}; use reference: none or remove it")
            else:
                data["reference"] = "none"
        train_given = raw.get("train") if isinstance(raw.get("train"), dict) else {}
        if task != "forecast" and "loss" in train_given and "train.loss" not in self.failed:
            self.error("train.loss", f"task {task} trains on cross-entropy; train.loss (mse, mae, huber, quantile) applies to task forecast only; remove it")
        if task == "text":
            self.causal_model(family, model)
        self.objective_rules(task, objectives)

    def objective_rules(self, task: str, objectives: list[dict]) -> None:
        """Each objective's metric is one of the task's (the first one defaults to the task's
        own); in a list, n_params and latency_ms too, never first (the first is the metric every
        epoch reports), each metric once. The direction follows the metric unless given, and
        must fit it."""
        valid = _fields.TASK_METRICS[task]
        multi = len(objectives) > 1
        seen: dict[str, str] = {}
        for i, objective in enumerate(objectives):
            key = f"objective[{i}]" if multi else "objective"
            if f"{key}.metric" in self.failed or key in self.failed or "objective" in self.failed:
                continue
            metric = objective.get("metric")
            if metric is None:
                metric = objective["metric"] = _fields.DEFAULT_METRIC[task]
            elif metric in _fields.MODEL_OBJECTIVES and not multi:
                self.error(
                    f"{key}.metric",
                    f"'{metric}' is an objective only beside a validation metric; "
                    f"write objective: [{{metric: {_fields.DEFAULT_METRIC[task]}}}, {{metric: {metric}}}]",
                )
                continue
            elif metric in _fields.MODEL_OBJECTIVES and i == 0:
                self.error(
                    f"{key}.metric",
                    f"'{metric}' cannot come first: the first objective is the validation metric every epoch reports "
                    f"(learning curve, early stopping); put one of {', '.join(valid)} first",
                )
                continue
            elif metric not in valid and metric not in _fields.MODEL_OBJECTIVES:
                extra = f", {', '.join(_fields.MODEL_OBJECTIVES)}" if multi else ""
                self.error(f"{key}.metric", f"'{metric}' is not a metric of task {task}; valid: {', '.join(valid)}{extra}")
                continue
            if metric in seen:
                self.error(f"{key}.metric", f"'{metric}' is already {seen[metric]}; each objective names another metric")
                continue
            seen[metric] = key
            direction = objective.get("direction")
            if direction is None:
                objective["direction"] = "maximize" if metric in _fields.MAXIMIZED_METRICS else "minimize"
            elif metric in _fields.MODEL_OBJECTIVES and direction == "maximize":
                self.error(f"{key}.direction", f"'maximize' does not fit metric '{metric}', a cost to minimize; use direction: minimize")
            elif metric in MINIMIZED_METRICS and direction == "maximize":
                self.error(
                    f"{key}.direction",
                    f"'maximize' does not fit metric '{metric}', an error to minimize; use direction: minimize",
                )
            elif metric in _fields.MAXIMIZED_METRICS and direction == "minimize":
                self.error(f"{key}.direction", f"'minimize' does not fit metric '{metric}', a score to maximize; use direction: maximize")

    def multi_objective(self, sampler: dict, pruner: dict) -> None:
        """A multi-objective study: a sampler that samples one, and no pruner (Optuna cannot prune
        one: ``Trial.should_prune`` refuses a multi-objective trial)."""
        name = sampler.get("name")
        if "sampler.name" not in self.failed and name in registry.SAMPLERS and name not in _fields.MULTI_OBJECTIVE_SAMPLERS:
            self.error(
                "sampler.name",
                f"the {name} sampler cannot sample a multi-objective study; valid: {', '.join(_fields.MULTI_OBJECTIVE_SAMPLERS)}",
            )
        if pruner.get("name") not in (None, "none"):
            self.error(
                "pruner.name",
                f"Optuna cannot prune a multi-objective study, got pruner {pruner.get('name')!r}; valid: none (or leave the pruner out)",
            )

    def causal_model(self, family: str, model: dict) -> None:
        """A next-character model must not see the characters it predicts: no bidirectional
        LSTM/GRU, a causal transformer (the default for task text). The TCN is causal by
        construction (its convolutions pad on the left only)."""
        if family in ("lstm", "gru") and True in (values_of(model.get("bidirectional", False)) or []):
            self.error("model.bidirectional", "a bidirectional model reads the characters it must predict; task text needs bidirectional: false")
        if family == "transformer":
            if "causal" not in model and "causal" not in self.failed_model_keys:
                model["causal"] = True
            elif False in (values_of(model.get("causal")) or []):
                self.error("model.causal", "a non-causal transformer attends to the characters it must predict; task text needs causal: true (the default for it)")

    def tcn_receptive_field(self, model: dict, lookback) -> None:
        """A TCN output step sees ``1 + (k-1) * 2 * sum(base**i)`` input steps; a window longer
        than that is partly unused. Reject when no configuration covers the shortest lookback;
        warn, listing them, when some configurations do not cover the longest."""
        import models

        defaults = models.config_class("tcn")()
        if lookback is None or self.failed_model_keys & {"kernel_size", "dilation_base", "layer_sizes"}:
            return  # already reported
        kernels = values_of(model.get("kernel_size", defaults.kernel_size), 10_000)
        bases = values_of(model.get("dilation_base", defaults.dilation_base), 10_000)
        blocks = self.block_counts(model.get("layer_sizes", models.format_layer_sizes(defaults.layer_sizes)))
        lookbacks = values_of(lookback)
        if lookbacks is None:
            lookbacks = [lookback.low, lookback.high] if isinstance(lookback, IntRange) else None
        if not kernels or not bases or not blocks or not lookbacks or len(kernels) * len(bases) * len(blocks) > 100_000:
            return
        shortest, longest = min(lookbacks), max(lookbacks)
        fields = [(k, n, b, models.receptive_field(k, n, b)) for k in kernels for n in blocks for b in bases]
        widest = max(fields, key=lambda f: f[3])
        fix = "raise kernel_size, dilation_base or the number of blocks, or lower data.lookback"
        if widest[3] < shortest:
            self.error(
                "data.lookback",
                f"no TCN configuration sees a whole window: the widest receptive field is {widest[3]} steps "
                f"(kernel_size={widest[0]}, {widest[1]} blocks, dilation_base={widest[2]}; 1 + (k-1)*2*sum(base^i)) "
                f"but the lookback is at least {shortest}; {fix}",
            )
            return
        short = [f for f in fields if f[3] < longest]
        if short:
            listed = "; ".join(f"kernel_size={k}, {n} blocks, dilation_base={b}: {rf}" for k, n, b, rf in short[:6])
            more = f"; ... ({len(short)} in all)" if len(short) > 6 else ""
            self.warn(
                "data.lookback",
                f"{len(short)} of {len(fields)} TCN configurations have a receptive field shorter than the lookback "
                f"(up to {longest}), so they ignore the oldest steps of each window: {listed}{more}; {fix}",
            )

    @staticmethod
    def block_counts(layer_sizes) -> list[int] | None:
        import models

        if isinstance(layer_sizes, UniformLayers):
            return values_of(layer_sizes.n_layers, 10_000)
        values = values_of(layer_sizes)
        if values is None:
            return None
        return sorted({len(models.parse_layer_sizes(v)) for v in values})

    def grid_values(self, model: dict, data: dict, train: dict) -> None:
        """The grid sampler enumerates values: every searched key needs a finite set of them."""
        for section, values in (("model", model), ("data", data), ("train", train)):
            for key, value in values.items():
                parts = [(key, value)]
                if isinstance(value, UniformLayers):
                    parts = [(f"{key} (HIDDEN_UNITS)", value.hidden_units), (f"{key} (LAYERS)", value.n_layers)]
                for name, part in parts:
                    if isinstance(part, FloatRange) and (part.step is None or part.log):
                        if part.log:
                            decades = sorted({10.0 ** e for e in range(math.ceil(math.log10(part.low)), math.floor(math.log10(part.high)) + 1)})
                            fix = f"give it choices (e.g. {{choices: [{', '.join(f'{d:g}' for d in decades[:5]) or f'{part.low:g}, {part.high:g}'}]}})"
                        else:
                            fix = f"give it a step (e.g. step: {(part.high - part.low) / 4:g}) or choices"
                        self.error(
                            f"{section}.{key}",
                            f"the grid sampler needs a finite set of values, but this is a continuous float range "
                            f"({part.low:g}..{part.high:g}{', log' if part.log else ''}); {fix}, or use another sampler",
                        )

    def dataset(self, data: dict) -> None:
        """The dataset file exists and holds the named columns (its header only)."""
        path = Path(data["path"])
        problem = not_a_file(path)
        if problem == "no such file":
            near = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
            self.error("data.path", f"no such file: {path} (paths are relative to the space file's folder){did_you_mean(path.name, near)}")
            return
        if problem:
            self.error("data.path", f"{path} {problem}; give a regular {'text' if data.get('task') == 'text' else 'CSV or Parquet'} file")
            return
        if data.get("task") == "text":
            return  # a text file: no columns (search.worker.tasks reads it)
        columns = _columns(path)
        if columns is None:
            return  # read (and reported) by search.worker.load.load_series
        if not columns:
            self.error("data.path", f"{path.name} is empty; a dataset needs a header line and rows")
            return
        twice = repeated(columns)
        if twice:
            self.error("data.path", f"the header of {path.name} names column {twice[0]!r} twice (columns {twice[1]} and {twice[2]}); which one is meant cannot be told: rename one")
            return
        keys = [(key, c) for key in ("target", "features", "future_features") for c in data.get(key) or ()]
        for key in ("time_column", "series_id"):
            if data.get(key):
                keys.append((key, data[key]))
        for key, name in keys:
            if name not in columns:
                self.error(f"data.{key}", f"column {name!r} is not in {path.name}{did_you_mean(name, columns)} (columns: {_fmt(columns, 20)})")


def _columns(path: Path) -> list[str] | None:
    """Column names from a CSV header or a Parquet schema; None when the file cannot tell."""
    suffix = path.suffix.lower()
    try:
        if suffix in DELIMITED and suffix != ".gz":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                header = handle.readline()
            return next(csv.reader([header], delimiter=separator(header)), [])
        if suffix in PARQUET:
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
    except Exception:  # unreadable: search.worker.data reports it with the reader's own message
        return None
    return None


def _can_be_other_than(value, choice) -> bool:
    """Whether a fixed or searched key can take a value other than ``choice``."""
    if isinstance(value, Categorical):
        return any(c != choice for c in value.choices)
    return value != choice
