import dataclasses

import pytest
import torch

import models
from models import ModelParamError

B, T, N_FEATURES, HORIZON, N_TARGETS, N_CLASSES = 3, 12, 2, 3, 2, 5

# A small grid of searched parameters per family, covering every switch.
GRID = {
    "lstm": [
        {"layer_sizes": [8]},
        {"layer_sizes": "8,8", "dropout": 0.2, "learned_init_state": True},
        {"layer_sizes": "8,4,8", "bidirectional": True, "layer_norm": True},
        {"layer_sizes": [6, 6], "bidirectional": True, "learned_init_state": True},
    ],
    "gru": [
        {"layer_sizes": [8]},
        {"layer_sizes": "8,4", "learned_init_state": True, "dropout": 0.1},
        {"layer_sizes": "6,6", "bidirectional": True, "layer_norm": True},
    ],
    "tcn": [
        {"layer_sizes": [8, 8]},
        {"layer_sizes": "4,8,16", "kernel_size": 2, "dilation_base": 3},
        {"layer_sizes": 8, "weight_norm": False, "dropout": 0.0},
    ],
    "transformer": [
        {"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16},
        {"d_model": 8, "nhead": 4, "causal": True, "positional": "learned", "norm_first": False},
        {"d_model": 6, "nhead": 1, "num_layers": 1, "dim_feedforward": 8, "causal": True},
    ],
}
CASES = [(name, params) for name, grid in GRID.items() for params in grid]
HEADS = {
    "forecast": ({}, (B, HORIZON, N_TARGETS)),
    "classify": ({"n_classes": N_CLASSES}, (B, N_CLASSES)),
    "next_token": ({"n_classes": N_CLASSES, "per_step": True}, (B, T, N_CLASSES)),
}


def _build(name, params, **head):
    return models.build(
        name,
        n_features=N_FEATURES,
        horizon=HORIZON,
        n_targets=N_TARGETS,
        lookback=T,
        **head,
        **params,
    )


def test_families_and_config_classes():
    assert models.FAMILIES == ("gru", "lstm", "tcn", "transformer")
    for name in models.FAMILIES:
        config = models.config_class(name)
        assert dataclasses.is_dataclass(config)
        config().validate()  # the defaults are valid
        assert set(GRID[name][0]) <= {f.name for f in dataclasses.fields(config)}
    assert models.config_class("lstm")().layer_sizes == [64]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_output_shapes(name, params, head):
    kwargs, shape = HEADS[head]
    model = _build(name, params, **kwargs)
    assert model(torch.randn(B, T, N_FEATURES)).shape == shape


@pytest.mark.parametrize("head", ["forecast", "next_token"])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_gradients_reach_every_parameter(name, params, head):
    model = _build(name, params, **HEADS[head][0])
    out = model(torch.randn(B, T, N_FEATURES))
    (out * torch.randn_like(out)).sum().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


def test_default_models_accept_any_window_length():
    for name in models.FAMILIES:
        model = models.build(name, n_features=1, horizon=2, n_targets=1)
        for length in (1, 7, 50):
            assert model(torch.randn(2, length, 1)).shape == (2, 2, 1)


def test_layer_sizes_string_is_parsed():
    model = models.build("gru", n_features=1, horizon=1, n_targets=1, layer_sizes="16,8")
    assert [block.rnn.hidden_size for block in model.blocks] == [16, 8]


def test_unknown_family_lists_valid_names():
    for build_or_lookup in (
        lambda: models.build("lstmm", n_features=1, horizon=1, n_targets=1),
        lambda: models.config_class("lstmm"),
        lambda: models.config_class(None),
    ):
        with pytest.raises(ModelParamError) as info:
            build_or_lookup()
        assert info.value.param == "model"
        assert "valid: gru, lstm, tcn, transformer" in str(info.value)


def test_unknown_parameter_names_key_and_lists_valid_keys():
    with pytest.raises(ModelParamError) as info:
        models.build("tcn", n_features=1, horizon=1, n_targets=1, kernel=3)
    assert info.value.param == "kernel"
    assert "valid: dilation_base, dropout, kernel_size, layer_sizes, weight_norm" in str(info.value)


@pytest.mark.parametrize(
    ("name", "params", "param", "fragment"),
    [
        ("lstm", {"layer_sizes": "64,,32"}, "layer_sizes", "has an empty entry"),
        ("tcn", {"layer_sizes": "0,32"}, "layer_sizes", "must be positive"),
        ("gru", {"layer_sizes": "64.5"}, "layer_sizes", "not a whole number"),
        ("lstm", {"dropout": 1.0}, "dropout", "must be in [0, 1), got 1.0"),
        ("gru", {"dropout": -0.1}, "dropout", "must be in [0, 1)"),
        ("tcn", {"dropout": 1.5}, "dropout", "must be in [0, 1)"),
        ("transformer", {"dropout": "0.1"}, "dropout", "expected a number in [0, 1)"),
        ("lstm", {"bidirectional": "yes"}, "bidirectional", "expected true or false"),
        ("tcn", {"kernel_size": 1}, "kernel_size", "must be >= 2, got 1"),
        ("tcn", {"kernel_size": True}, "kernel_size", "expected an integer >= 2"),
        ("tcn", {"dilation_base": 0}, "dilation_base", "must be >= 1"),
        ("transformer", {"d_model": 16.0}, "d_model", "expected an integer"),
        ("transformer", {"num_layers": 0}, "num_layers", "must be >= 1"),
        ("transformer", {"positional": "rotary"}, "positional", "valid: sinusoidal, learned"),
    ],
)
def test_bad_parameter_values(name, params, param, fragment):
    with pytest.raises(ModelParamError) as info:
        models.build(name, n_features=1, horizon=1, n_targets=1, **params)
    assert info.value.param == param
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("io", "param"),
    [
        ({"n_features": 0}, "n_features"),
        ({"horizon": 0}, "horizon"),
        ({"n_targets": 1.5}, "n_targets"),
        ({"lookback": 0}, "lookback"),
        ({"n_classes": 1}, "n_classes"),
        ({"per_step": True}, "per_step"),
    ],
)
def test_bad_shapes(io, param):
    kwargs = {"n_features": 1, "horizon": 1, "n_targets": 1} | io
    with pytest.raises(ModelParamError) as info:
        models.build("lstm", **kwargs)
    assert info.value.param == param


@pytest.mark.parametrize("name", models.FAMILIES)
def test_torch_compile_traces(name):
    # RNN modules are a graph break in Dynamo, so only the others must trace as one graph.
    model = _build(name, GRID[name][-1] | {"dropout": 0.0})
    compiled = torch.compile(model, backend="eager", fullgraph=name in ("tcn", "transformer"))
    x = torch.randn(B, T, N_FEATURES)
    torch.testing.assert_close(compiled(x), model(x))
