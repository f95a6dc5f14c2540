"""The size rule of the validator: the largest model a space can sample, counted before a run.

Each trial builds its model from the sampled params; a layer size of ``"100000"`` builds an
LSTM of 40 billion parameters, which every trial then fails to allocate. The largest
configuration is built here on PyTorch's ``meta`` device (shapes only, nothing allocated)
and its parameters counted; beyond ``resources.max_params`` the space is refused, naming the
key that makes it large.
"""

from __future__ import annotations

from typing import Any

from search.space._types import Categorical, FloatRange, IntRange, UniformLayers, uniform_sizes

BYTES_PER_PARAM = 16  # fp32 weights, gradients and Adam's two moments
TEXT_VOCAB = 128  # the size assumed for a text task's vocabulary (unknown before the file is read)


class _SizeRules:
    """Mixin of the validator: ``model_size``."""

    def model_size(self, family: str, model: dict, data: dict, resources: dict) -> None:
        """Refuse a space whose largest configuration has more than ``resources.max_params``
        parameters (the estimate, the key that drives it and the bound in one line)."""
        bound = resources.get("max_params")
        if bound is None or self.problems or self.failed_model_keys:
            return
        io = _model_io(data)
        largest = _largest(model, lambda cfg: _count(family, io, cfg))
        if largest is None:
            return
        config, n = largest
        if n <= bound:
            return
        key = _driving_key(family, io, config, n)
        self.error(
            f"model.{key}",
            f"the largest configuration has {n:,} parameters (about {n * BYTES_PER_PARAM / 1e9:.1f} GB to train), "
            f"more than resources.max_params {bound:,.0f}; lower model.{key}, or raise resources.max_params",
        )


def _model_io(data: dict) -> dict[str, Any]:
    """``models.build``'s input and output sizes as far as the space tells them."""
    task = data.get("task", "forecast")
    lookback = data.get("lookback")
    lookback = {Categorical: lambda s: max(s.choices), IntRange: lambda s: s.high, FloatRange: lambda s: int(s.high)}.get(type(lookback), lambda s: s)(lookback)
    columns = list(data.get("target") or ()) + [c for c in data.get("features") or () if c not in (data.get("target") or ())]
    if task == "text":
        return {"n_features": TEXT_VOCAB, "horizon": 1, "n_targets": 1, "lookback": lookback, "n_classes": TEXT_VOCAB, "per_step": True}
    if task == "classify":
        return {"n_features": max(len(data.get("features") or ()), 1), "horizon": 1, "n_targets": 1, "lookback": lookback, "n_classes": 2}
    return {"n_features": max(len(columns), 1), "horizon": data.get("horizon") or 1, "n_targets": max(len(data.get("target") or ()), 1), "lookback": lookback}


def _count(family: str, io: dict, config: dict) -> int | None:
    """Parameters of one configuration, built on the meta device; None if it does not build."""
    import torch

    import models

    try:
        with torch.device("meta"):
            return models.count_params(models.build(family, **io, **config))
    except (models.ModelParamError, TypeError, ValueError, RuntimeError):
        return None


def _largest(model: dict, count) -> tuple[dict, int] | None:
    """(config, parameters) of the largest configuration: every range at its high end, then
    each set of choices at the choice that counts most (one key at a time)."""
    config, choices = {}, {}
    for key, value in model.items():
        if isinstance(value, (IntRange, FloatRange)):
            config[key] = value.high
        elif isinstance(value, Categorical):
            config[key], choices[key] = value.choices[-1], value.choices
        elif isinstance(value, UniformLayers):
            config[key] = uniform_sizes(_high(value.n_layers), _high(value.hidden_units))
        else:
            config[key] = value
    if "d_model" in config and "nhead" in config and config["d_model"] % config["nhead"]:
        config["nhead"] = 1  # head count does not change the parameters; keep the pair valid
    best = count(config)
    for key, options in choices.items():
        for option in options:
            n = count({**config, key: option})
            if n is not None and (best is None or n > best):
                config, best = {**config, key: option}, n
    return None if best is None else (config, best)


def _high(value) -> int:
    return value if isinstance(value, int) else max(value.choices) if isinstance(value, Categorical) else value.high


def _driving_key(family: str, io: dict, config: dict, n: int) -> str:
    """The model key whose value makes the model large: the one that, set to its default,
    takes away the most parameters (``layer_sizes`` when nothing tells)."""
    import models

    defaults = models.config_class(family)()
    best, drop = "layer_sizes" if "layer_sizes" in config else next(iter(config), "layer_sizes"), 0
    for key in config:
        default = getattr(defaults, key, None)
        if default is None or isinstance(default, bool):
            continue
        smaller = _count(family, io, {**config, key: default})
        if smaller is not None and n - smaller > drop:
            best, drop = key, n - smaller
    return best
