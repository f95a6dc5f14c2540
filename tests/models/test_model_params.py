import pickle

import pytest
import torch

import models
from models import ModelParamError, count_params, format_layer_sizes, parse_layer_sizes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("64,32", [64, 32]),
        (" 64 , 32 ", [64, 32]),
        ("64", [64]),
        ("+8", [8]),
        (64, [64]),
        ([64, 32], [64, 32]),
        ((16, 8, 16), [16, 8, 16]),
    ],
)
def test_parse_layer_sizes(value, expected):
    assert parse_layer_sizes(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty string"),
        ("  ", "empty string"),
        ("64,,32", "'64,,32' has an empty entry; write sizes like '64,32'"),
        ("64,", "has an empty entry"),
        ("0,32", "sizes must be positive, got 0"),
        ("-8", "sizes must be positive, got -8"),
        ("64.5", "'64.5' in '64.5' is not a whole number"),
        ("64;32", "is not a whole number"),
        ("[64, 32]", "is not a whole number"),
        (0, "sizes must be positive"),
        (True, "expected a string like '64,32'"),
        (64.0, "expected a string like '64,32'"),
        (None, "expected a string like '64,32'"),
        ([], "empty list"),
        ([64, 0], "sizes must be positive, got 0"),
        ([64, 32.0], "32.0 in [64, 32.0] is not a whole number"),
        ([64, False], "is not a whole number"),
    ],
)
def test_parse_layer_sizes_rejects(value, fragment):
    with pytest.raises(ModelParamError, match="^layer_sizes: ") as info:
        parse_layer_sizes(value)
    assert info.value.param == "layer_sizes"
    assert fragment in info.value.message


def test_format_layer_sizes_round_trips():
    assert format_layer_sizes([64, 32]) == "64,32"
    assert format_layer_sizes(" 64, 32") == "64,32"
    assert parse_layer_sizes(format_layer_sizes([16, 8, 16])) == [16, 8, 16]
    with pytest.raises(ModelParamError):
        format_layer_sizes([64, -1])


def test_model_param_error_reads_and_pickles():
    err = ModelParamError("nhead", "must divide d_model")
    assert isinstance(err, ValueError)
    assert str(err) == "nhead: must divide d_model"
    copy = pickle.loads(pickle.dumps(err))  # Ray ships errors between processes
    assert (copy.param, copy.message, str(copy)) == (err.param, err.message, str(err))


def test_count_params_counts_trainable_once():
    shared = torch.nn.Linear(3, 2)  # 8 parameters
    frozen = torch.nn.Linear(3, 2).requires_grad_(False)
    assert count_params(torch.nn.Sequential(shared, shared, frozen)) == 8
    for name in models.FAMILIES:
        model = models.build(name, n_features=1, horizon=1, n_targets=1)
        assert count_params(model) == sum(p.numel() for p in model.parameters()) > 0
