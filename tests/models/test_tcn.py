import pytest
import torch

import models
from models import receptive_field


def test_receptive_field_formula():
    assert receptive_field(3, 4, 2) == 1 + 2 * 2 * (1 + 2 + 4 + 8) == 61
    assert receptive_field(2, 1, 2, convs_per_block=1) == 2
    assert receptive_field(5, 3, 1) == 1 + 4 * 2 * 3
    with pytest.raises(models.ModelParamError) as info:
        receptive_field(3, 0, 2)
    assert info.value.param == "n_blocks"


def _next_token_tcn(**params):
    return models.build(
        "tcn", n_features=2, horizon=1, n_targets=1, n_classes=3, per_step=True, **params
    ).eval()


@pytest.mark.parametrize("weight_norm", [True, False])
def test_output_never_depends_on_later_inputs(weight_norm):
    model = _next_token_tcn(layer_sizes="8,8,8", weight_norm=weight_norm)
    x = torch.randn(2, 30, 2)
    base = model(x)
    for t in (0, 9, 28):
        changed = x.clone()
        changed[:, t + 1 :] = 10 * torch.randn_like(changed[:, t + 1 :])
        out = model(changed)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1])
        assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :])


@pytest.mark.parametrize(("kernel_size", "dilation_base", "n_blocks"), [(3, 2, 3), (2, 3, 2)])
def test_last_output_sees_exactly_the_receptive_field(kernel_size, dilation_base, n_blocks):
    model = _next_token_tcn(
        layer_sizes=[8] * n_blocks,
        kernel_size=kernel_size,
        dilation_base=dilation_base,
        weight_norm=False,
    )
    rf = receptive_field(kernel_size, n_blocks, dilation_base)
    assert model.receptive_field == rf
    T = rf + 10
    x = torch.randn(1, T, 2, requires_grad=True)
    model(x)[0, -1].sum().backward()
    reached = x.grad.abs().sum(-1)[0] > 0  # (T,) which inputs the last step depends on
    assert not reached[: T - rf].any()
    assert reached[T - rf]
