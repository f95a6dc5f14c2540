"""Tasks besides forecasting: sequence classification and a character-level language model.

``data.task`` picks the task (``forecast``, the default, is ``search.worker.data`` alone):

- ``classify``: ``data.target`` names one label column (numbers or strings), ``data.features``
  the inputs. A window of ``lookback`` rows is labelled with the label at its last row. The
  classes are the sorted labels of the training part; a validation or test label outside them
  is a ``DataError``. Rows without a label are dropped under ``missing: drop`` and an error
  otherwise (a label is never interpolated).
- ``text``: ``data.path`` is a UTF-8 text file. The characters are split like rows (the same
  fractions or cut points, and ``gap``); the vocabulary is the sorted characters of the
  training part plus one unknown token (id ``len(vocab)``) for characters seen only later.
  Windows hold token ids (the model reads them one-hot, built per batch by ``OneHotInput``),
  and the targets are the next character at every step. Training windows are ``stride``
  apart; validation and test windows follow each other (stride = lookback), so every
  character of the part after its first is scored once (but for a last partial window).

Both go through ``search.worker.load.load_series`` for the splits, several series, the missing-value
policy and the scaler, and come back as a ``TaskData`` (a ``SeriesData`` that also cuts its own
windows, builds its loss and computes its metrics), so the training loop, the search and the
checkpoints treat every task alike.

Metrics (``search.space._fields.TASK_METRICS``): classify ``accuracy``, ``cross_entropy`` (nats,
mean over windows) and ``loss`` (= cross_entropy); text also ``perplexity`` (exp of the
cross-entropy) and ``bits_per_char`` (cross-entropy / ln 2), all per character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search.worker import forecast_view
from search.worker.data import SeriesData, WindowSet
from search.worker.load import load_series
from search.worker.table import read_table
from search.worker.table import check_rows
from search._format import not_a_file
from search.errors import DataError

LABEL = "\x00label"  # the column that carries label codes through load_series
TOKEN = "\x00char"  # the column that carries code points through load_series


@dataclass
class TaskData(SeriesData):
    """A prepared classify or text dataset.

    classify: ``values`` (T, F) are the scaled features, ``labels`` (T,) each row's class index
    (-1 for a label outside the classes, possible in the rows a ``gap`` leaves out), ``classes``
    the class labels. text: ``values`` (T, 1) int32 token ids, ``classes`` the vocabulary
    (characters); token ``len(classes)`` is the unknown character. ``n_targets`` is 1 and unused.
    """

    task: str = "classify"
    labels: np.ndarray | None = None
    classes: tuple = ()

    @property
    def n_classes(self) -> int:
        """Outputs of the model: the classes, or the vocabulary plus the unknown token."""
        return len(self.classes) + (1 if self.task == "text" else 0)

    @property
    def n_features(self) -> int:
        return self.n_classes if self.task == "text" else self.values.shape[1]

    @property
    def model_io(self) -> dict[str, Any]:
        """Keyword arguments of ``models.build`` for this task's head."""
        return {"n_classes": self.n_classes, "per_step": self.task == "text"}

    def windows(self, part: str, lookback: int, horizon: int = 0, stride: int = 1) -> tuple[torch.Tensor | WindowSet, torch.Tensor]:
        """Inputs and targets of one split, inputs as views (indexing a batch copies it);
        ``horizon`` is not used (a window's target is its label, or its next tokens).

        classify: (N, L, F) float windows and (N,) class indices, the label of each window's
        last row; every row of a validation or test part labels one window, whose inputs reach
        back before the part (the same targets for every lookback); with several series the
        inputs are a ``WindowSet``. text: (N, L) token ids
        and (N, L) next-token ids; validation and test windows are ``lookback`` apart."""
        if self.task == "text":
            start, end = self.part(part)
            tokens = torch.from_numpy(self.values[start:end, 0])  # (n,) int32, shares memory
            step = stride if part == "train" else lookback
            if end - start < lookback + 1:
                empty = tokens.new_zeros((0, lookback))
                return empty, empty
            w = tokens.unfold(0, lookback + 1, step)  # (N, L+1) view
            return w[:, :lookback], w[:, 1:]
        xs, ys = [], []
        for first, (start, end) in zip(self.series_starts(), self.parts(part)):
            if part != "train":  # every row of the part labels a window; inputs reach back
                start, stride = max(first, start - lookback + 1), 1
            segment = torch.from_numpy(self.values[start:end])  # (n, F), shares memory
            if end - start < lookback:
                xs.append(segment.new_zeros((0, lookback, self.values.shape[1])))
                ys.append(torch.zeros(0, dtype=torch.long))
                continue
            xs.append(segment.unfold(0, lookback, stride).transpose(1, 2))  # (N, L, F) view
            ys.append(torch.from_numpy(self.labels[start + lookback - 1 : end : stride]))  # (N,) last rows' labels
        if not self.segments:
            return xs[0], ys[0]
        return WindowSet(xs, list(range(len(xs)))), torch.cat(ys)

    def wrap(self, model: nn.Module, data_cfg: dict[str, Any] | None = None) -> nn.Module:
        """The module that training and evaluation call: text models read one-hot tokens."""
        return OneHotInput(model, self.n_classes) if self.task == "text" else model

    def loss_fn(self, train_cfg: dict[str, Any] | None = None):
        """Cross-entropy, whatever ``train.loss`` says (the validator allows it for forecasts only)."""
        return self.loss

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over windows (classify) or over every step (text)."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1).long())

    @torch.no_grad()
    def evaluate(self, model, x, y, device, batch_size: int = 1024, amp_dtype: torch.dtype | None = None) -> dict[str, float]:
        """The task's metrics over all windows of a part (see ``scores``)."""
        model.eval()
        total, correct, count = 0.0, 0, 0
        for i in range(0, len(x), batch_size):
            with torch.autocast(torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x[i : i + batch_size].to(device)).float()  # (B, C) or (B, L, V)
            target = y[i : i + batch_size].to(device).reshape(-1).long()
            logits = logits.reshape(-1, logits.shape[-1])
            total += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            count += len(target)
        return scores(self.task, total, correct, count)

    def choose_season(self, lookback: int, data_cfg: dict[str, Any], metric: str) -> None:
        """No seasonal naive for tasks classify and text."""

    def forecast_view(self, model, data_cfg: dict[str, Any], device, amp_dtype: torch.dtype | None = None) -> dict[str, Any]:
        """The figure's data (``search.worker.forecast_view``): classify, the confusion matrix
        of the test windows; text, a greedy continuation of a prompt from the test part."""
        lookback = data_cfg["lookback"]
        if self.task == "text":
            return self._text_view(model, lookback, device)
        x, y = self.windows("test", lookback)
        predicted = self.predict(model, x, device, amp_dtype=amp_dtype).argmax(-1).numpy()  # (N,)
        train = np.concatenate([self.labels[s:e] for s, e in self.parts("train")])
        majority = int(np.bincount(train[train >= 0], minlength=self.n_classes).argmax())
        return forecast_view.confusion(list(self.classes), y.numpy(), predicted, majority)

    def _text_view(self, model, lookback: int, device) -> dict[str, Any]:
        start, end = self.part("test")
        tokens = self.values[start:end, 0].astype(np.int64)  # (n,)
        size = min(lookback, max(len(tokens) - 1, 0))
        n = min(forecast_view.TEXT_CHARS, len(tokens) - size)
        generated = greedy_continuation(model, tokens[:size].tolist(), n, lookback, len(self.classes), device)
        return forecast_view.continuation(self.decode(tokens[:size]), self.decode(generated), self.decode(tokens[size : size + n]))

    def decode(self, tokens) -> str:
        """Task text: the characters of token ids; the unknown token shows as U+FFFD."""
        return "".join(self.classes[t] if t < len(self.classes) else "\ufffd" for t in map(int, tokens))

    def checkpoint_fields(self) -> dict[str, Any]:
        """The task and the head's labels: the class labels, or the vocabulary."""
        return {"task": self.task, "vocab" if self.task == "text" else "classes": list(self.classes)}

    def study_attrs(self) -> dict[str, Any]:
        if self.task == "text":
            return {"task": "text", "vocab_size": self.n_classes, "vocab": "".join(self.classes)}
        return {"task": "classify", "n_classes": self.n_classes, "classes": list(self.classes)}

    def baseline_attrs(self, lookback: int, data_cfg: dict[str, Any] | None = None, metric: str | None = None) -> dict[str, Any]:
        """The task's facts and its baseline (``task_baselines``) as study attrs."""
        return {**self.study_attrs(), **task_baselines(self, lookback)}


class OneHotInput(nn.Module):
    """Token ids (B, L) -> one-hot (B, L, size) floats, built on the ids' device, into the model."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model = model
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(F.one_hot(x.long(), self.size).float())


def scores(task: str, ce_sum: float, correct: int, count: int) -> dict[str, float]:
    """Metrics from the summed cross-entropy (nats), the correct argmax count and the count of
    scored items (windows for classify, characters for text)."""
    ce = ce_sum / count if count else float("nan")
    out = {"accuracy": correct / count if count else float("nan"), "cross_entropy": ce, "loss": ce}
    if task == "text":
        out["perplexity"] = math.exp(ce) if math.isfinite(ce) else float("nan")
        out["bits_per_char"] = ce / math.log(2)
    return out


def metrics(task: str, logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The task's metrics of logits (N, C) or (N, L, V) against class / token indices."""
    logits = logits.reshape(-1, logits.shape[-1]).float()
    target = target.reshape(-1).long()
    ce_sum = float(F.cross_entropy(logits, target, reduction="sum"))
    return scores(task, ce_sum, int((logits.argmax(-1) == target).sum()), len(target))


# -- loading


def load_data(data: dict[str, Any], *, source: str = "") -> SeriesData:
    """The dataset of a space's ``data`` section, for its task."""
    task = data.get("task", "forecast")
    if task == "classify":
        return load_classify(data, source=source)
    if task == "text":
        return load_text(data, source=source)
    return load_series(data, source=source)


def _sorted_labels(values) -> list:
    """Distinct labels, sorted (by their text when they do not compare), as plain Python values."""
    distinct = [v.item() if hasattr(v, "item") else v for v in dict.fromkeys(values.tolist())]
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def load_classify(data: dict[str, Any], *, source: str = "") -> TaskData:
    import pandas as pd

    prefix = f"{source}: " if source else ""
    path = Path(data["path"])
    frame = read_table(path, prefix)
    (target,) = data["target"]
    features = [c for c in data["features"]]
    if target not in frame.columns:
        raise DataError([f"{prefix}data.target: column {target!r} is not in {path.name} (columns: {', '.join(map(str, frame.columns))})"])
    check_rows(frame, path.name, prefix)
    unlabelled = frame[target].isna().to_numpy()
    if unlabelled.any():
        if data["missing"] != "drop":
            first = int(np.flatnonzero(unlabelled)[0])
            raise DataError([
                f"{prefix}data.missing: {path.name} has {int(unlabelled.sum())} rows without a label in column {target!r} "
                f"(first at row {first}); labels are never interpolated: set missing: drop, or fill them"
            ])
        frame = frame[~unlabelled]
    raw_labels = frame[target].to_numpy()
    if raw_labels.dtype.kind == "f" and np.all(np.mod(raw_labels, 1) == 0):
        raw_labels = raw_labels.astype(np.int64)  # ints read as floats (a column that had gaps)
    everything = _sorted_labels(raw_labels)
    codes = pd.Index(everything).get_indexer(raw_labels)
    frame = frame.copy()
    frame[LABEL] = codes.astype(np.float64)
    # The label codes travel as the first column, so that sorting, splitting, series and the
    # missing policy treat them with their rows; a column without gaps is never changed.
    series = load_series({**data, "target": (LABEL,), "features": tuple(features)}, source=source, frame=frame)

    scaled = series.values[:, 0].astype(np.float64)
    if series.series_offset is not None:
        rows = np.repeat(np.arange(len(series.segments)), [e - s for s, _, _, e in series.segments])
        raw = scaled * series.series_scale[rows, 0] + series.series_offset[rows, 0]
    else:
        raw = scaled * float(series.scale[0]) + float(series.offset[0])
    codes = np.rint(raw).astype(np.int64)  # (T,) index into everything

    train = np.concatenate([codes[s:e] for s, e in series.parts("train")])
    kept = np.unique(train)
    if len(kept) < 2:
        only = everything[int(kept[0])] if len(kept) else None
        raise DataError([f"{prefix}data.target: the training part of {path.name} holds one class only ({only!r}); a classifier needs at least two; change data.split"])
    lookup = np.full(len(everything), -1, dtype=np.int64)
    lookup[kept] = np.arange(len(kept))
    labels = lookup[codes]
    classes = tuple(everything[int(k)] for k in kept)
    for part in ("val", "test"):
        for start, end in series.parts(part):
            unseen = np.flatnonzero(labels[start:end] < 0)
            if len(unseen):
                label = everything[int(codes[start + unseen[0]])]
                name = "validation" if part == "val" else "test"
                raise DataError([
                    f"{prefix}data.target: label {label!r} in the {name} part of {path.name} does not occur in the training part "
                    f"(classes: {', '.join(map(repr, classes))}); change data.split or drop those rows"
                ])
    info = {**series.info, "task": "classify", "classes": len(classes)}
    return TaskData(
        np.ascontiguousarray(series.values[:, 1:]),
        1,
        series.bounds,
        series.offset[1:],
        series.scale[1:],
        series.columns[1:],
        info,
        gap=series.gap,
        segments=series.segments,
        series_names=series.series_names,
        series_offset=None if series.series_offset is None else np.ascontiguousarray(series.series_offset[:, 1:]),
        series_scale=None if series.series_scale is None else np.ascontiguousarray(series.series_scale[:, 1:]),
        task="classify",
        labels=labels,
        classes=classes,
    )


def load_text(data: dict[str, Any], *, source: str = "") -> TaskData:
    import pandas as pd

    prefix = f"{source}: " if source else ""
    path = Path(data["path"])
    problem = not_a_file(path)  # checked before opening: a named pipe would block the reader
    if problem:
        raise DataError([f"{prefix}data.path: {path} {problem}" if problem != "no such file" else f"{prefix}data.path: no such file: {path}"])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError([f"{prefix}data.path: {path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}); task text reads a UTF-8 text file"]) from None
    if not text:
        raise DataError([f"{prefix}data.path: {path.name} is empty; task text needs a text file to learn from"])
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)  # (T,) code points
    # The characters go through load_series as one column of rows: the same split fractions
    # or cut points (row numbers = character positions) and gap as any dataset.
    plain = {**data, "target": (TOKEN,), "features": (), "time_column": None, "series_id": None,
             "scaler": "none", "scaler_scope": "global", "missing": "error"}  # fmt: skip
    series = load_series(plain, source=source, frame=pd.DataFrame({TOKEN: points.astype(np.float64)}))
    start, end = series.part("train")
    vocab = np.unique(points[start:end])  # sorted code points of the training part
    where = np.minimum(np.searchsorted(vocab, points), len(vocab) - 1)
    tokens = np.where(vocab[where] == points, where, len(vocab)).astype(np.int32)  # unknown = len(vocab)
    info = {**series.info, "missing_policy": "none", "task": "text", "vocab": len(vocab) + 1}
    return TaskData(
        tokens.reshape(-1, 1),
        1,
        series.bounds,
        np.zeros(1, dtype=np.float32),
        np.ones(1, dtype=np.float32),
        ("text",),
        info,
        gap=series.gap,
        task="text",
        classes=tuple(chr(int(c)) for c in vocab),
    )


@torch.no_grad()
def greedy_continuation(model: nn.Module, tokens: list[int], n: int, lookback: int, unknown: int, device="cpu") -> list[int]:
    """The ``n`` most likely next tokens after ``tokens``, one at a time (greedy; the unknown
    token ``unknown`` is never chosen). ``model`` reads token ids (B, L) (``OneHotInput``) and
    returns next-token logits at every step (B, L, V); it sees at most ``lookback`` tokens."""
    model.eval()
    tokens, out = list(tokens), []
    for _ in range(n):
        window = torch.tensor(tokens[-lookback:], dtype=torch.long, device=device)[None]  # (1, L)
        logits = model(window)[0, -1].float()  # (V,) the next token
        logits[unknown] = -math.inf
        token = int(logits.argmax())
        tokens.append(token)
        out.append(token)
    return out


def encode(text: str, vocab) -> torch.Tensor:
    """Token ids (n,) of ``text`` over ``vocab`` (characters); unknown characters get ``len(vocab)``."""
    index = {c: i for i, c in enumerate(vocab)}
    return torch.tensor([index.get(c, len(vocab)) for c in text], dtype=torch.long)


# -- baselines


def task_baselines(series: TaskData, lookback: int) -> dict[str, float]:
    """classify: the training part's majority class (``baseline_majority_val_accuracy``, ...);
    text: a unigram model of the training characters with add-one smoothing, so a character
    unseen in training keeps a probability (``baseline_unigram_val_perplexity``, ...). Both on
    the validation and test windows of the space's longest lookback, as the trials are."""
    out: dict[str, float] = {}
    if series.task == "classify":
        train = np.concatenate([series.labels[s:e] for s, e in series.parts("train")])
        majority = int(np.bincount(train[train >= 0], minlength=series.n_classes).argmax())
        out["majority_class"] = series.classes[majority]
        for part in ("val", "test"):
            _, y = series.windows(part, lookback)
            if len(y):
                out[f"baseline_majority_{part}_accuracy"] = float((y == majority).double().mean())
        return out
    start, end = series.part("train")
    counts = np.bincount(series.values[start:end, 0], minlength=series.n_classes).astype(np.float64)
    log_p = np.log((counts + 1) / (counts.sum() + series.n_classes))  # (V,)
    best = int(counts.argmax())
    for part in ("val", "test"):
        _, y = series.windows(part, lookback)
        if len(y):
            target = y.reshape(-1).numpy().astype(np.int64)
            ce = float(-log_p[target].mean())
            values = scores("text", ce * len(target), int((target == best).sum()), len(target))
            for metric in ("cross_entropy", "perplexity", "bits_per_char", "accuracy"):
                out[f"baseline_unigram_{part}_{metric}"] = values[metric]
    return out

