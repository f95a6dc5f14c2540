import pytest
import torch

import models
from models import ModelParamError


def test_nhead_must_divide_d_model():
    with pytest.raises(ModelParamError) as info:
        models.build("transformer", n_features=1, horizon=1, n_targets=1, d_model=64, nhead=3)
    assert info.value.param == "nhead"
    assert str(info.value) == (
        "nhead: nhead=3 must divide d_model=64; valid nhead for d_model=64: 1, 2, 4, 8, 16, 32, 64"
    )


def test_learned_positions_need_lookback():
    with pytest.raises(ModelParamError) as info:
        models.build("transformer", n_features=1, horizon=1, n_targets=1, positional="learned")
    assert info.value.param == "positional"
    assert "lookback" in info.value.message
    model = models.build(
        "transformer", n_features=1, horizon=1, n_targets=1, lookback=8, positional="learned"
    )
    assert model(torch.randn(2, 8, 1)).shape == (2, 1, 1)
    with pytest.raises(ValueError, match="longer than the lookback=8"):
        model(torch.randn(2, 9, 1))


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_causal_attention_ignores_later_steps(positional):
    def build(causal):
        torch.manual_seed(0)
        return models.build(
            "transformer",
            n_features=2,
            horizon=1,
            n_targets=1,
            lookback=10,
            n_classes=3,
            per_step=True,
            d_model=8,
            nhead=2,
            causal=causal,
            positional=positional,
        ).eval()

    x = torch.randn(2, 10, 2)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, 2)
    causal, full = build(True), build(False)
    torch.testing.assert_close(causal(changed)[:, :6], causal(x)[:, :6])
    assert not torch.allclose(full(changed)[:, :6], full(x)[:, :6])


def test_sinusoidal_positions_follow_the_paper():
    from models.transformer import SinusoidalPositions

    d = 6
    pe = SinusoidalPositions(d)(torch.zeros(1, 5, d))[0]  # (T, d)
    t = torch.arange(5.0)[:, None]
    i = torch.arange(0, d, 2.0)
    torch.testing.assert_close(pe[:, 0::2], torch.sin(t / 10000 ** (i / d)))
    torch.testing.assert_close(pe[:, 1::2], torch.cos(t / 10000 ** (i / d)))
