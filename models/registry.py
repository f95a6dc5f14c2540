"""Model families by name, and ``build`` which turns a name plus parameters into a module."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from models._head import ModelIO
from models._params import ModelParamError, parse_layer_sizes
from models.recurrent import RecurrentConfig, RecurrentNet
from models.tcn import TCN, TCNConfig
from models.transformer import TransformerConfig, TransformerNet


@dataclass(frozen=True)
class _Family:
    config: type  # the family's @dataclass of searched parameters
    make: Callable[..., nn.Module]  # make(config, io) -> module


_FAMILIES: dict[str, _Family] = {
    "gru": _Family(RecurrentConfig, partial(RecurrentNet, cell="gru")),
    "lstm": _Family(RecurrentConfig, partial(RecurrentNet, cell="lstm")),
    "tcn": _Family(TCNConfig, TCN),
    "transformer": _Family(TransformerConfig, TransformerNet),
}

FAMILIES: tuple[str, ...] = tuple(_FAMILIES)


def config_class(name: str) -> type:
    """The @dataclass of a family's searched parameters (field defaults are the defaults)."""
    return _family(name).config


def build(
    name: str,
    *,
    n_features: int,
    horizon: int,
    n_targets: int,
    lookback: int | None = None,
    n_classes: int | None = None,
    per_step: bool = False,
    n_future: int = 0,
    quantiles=(),
    **params,
) -> nn.Module:
    """Build a model of family ``name`` with the given searched ``params``.

    The module maps ``x: (B, lookback, n_features)`` to ``(B, horizon, n_targets)``; with
    ``n_classes`` to ``(B, n_classes)`` logits, and with ``per_step=True`` as well to
    ``(B, lookback, n_classes)`` next-token logits. With ``n_future`` the forward pass also
    takes ``future: (B, horizon, n_future)``, the known-future features of the horizon steps
    (read by the output head). With ``quantiles`` (probabilities) the head forecasts each of
    them (``models._head``): the output is the point forecast, the quantile nearest 0.5, and
    ``(B, horizon, n_targets, Q)`` inside ``quantile_outputs(model)``. Any bad value raises
    ``ModelParamError``.
    """
    family = _family(name)
    io = ModelIO(n_features, horizon, n_targets, lookback, n_classes, per_step, n_future, tuple(quantiles or ()))
    io.validate()
    valid = [f.name for f in dataclasses.fields(family.config)]
    for key in params:
        if key not in valid:
            raise ModelParamError(
                key, f"unknown parameter for model {name!r}; valid: {', '.join(sorted(valid))}"
            )
    if "layer_sizes" in params:
        params["layer_sizes"] = parse_layer_sizes(params["layer_sizes"])
    config = family.config(**params)
    config.validate()
    return family.make(config, io)


def _family(name: str) -> _Family:
    if not isinstance(name, str) or name not in _FAMILIES:
        raise ModelParamError("model", f"unknown model {name!r}; valid: {', '.join(FAMILIES)}")
    return _FAMILIES[name]
