import itertools

import pytest
import torch

import models
from models._head import ModelIO
from models.recurrent import RecurrentConfig, RecurrentNet

GATES = {"lstm": 4, "gru": 3}


def rnn_layer_params(cell, input_size, hidden_size):
    """Closed form for one direction of one layer: gates * (h*(in+h) + 2h)."""
    h = hidden_size
    return GATES[cell] * (h * (input_size + h) + 2 * h)


def expected_params(cell, n_features, sizes, bidirectional, head_out):
    n_dirs = 2 if bidirectional else 1
    inputs = [n_features] + [n_dirs * h for h in sizes[:-1]]
    rnn = sum(n_dirs * rnn_layer_params(cell, i, h) for i, h in zip(inputs, sizes, strict=True))
    head = (n_dirs * sizes[-1] + 1) * head_out
    return rnn + head


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("sizes", [[8], [7, 7], [8, 5], [6, 3, 6]])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_count_matches_closed_form(cell, sizes, bidirectional):
    model = models.build(
        cell, n_features=3, horizon=4, n_targets=2, layer_sizes=sizes, bidirectional=bidirectional
    )
    assert models.count_params(model) == expected_params(cell, 3, sizes, bidirectional, 4 * 2)


def test_layer_norm_and_learned_state_add_their_parameters():
    sizes = [8, 5]
    base = expected_params("lstm", 3, sizes, False, 1)
    model = models.build(
        "lstm",
        n_features=3,
        horizon=1,
        n_targets=1,
        layer_sizes=sizes,
        layer_norm=True,
        learned_init_state=True,
    )
    layer_norm = sum(2 * h for h in sizes)
    init_state = sum(2 * h for h in sizes)  # h0 and c0 per layer
    assert models.count_params(model) == base + layer_norm + init_state


def test_form_follows_layer_sizes():
    def build(**params):
        return models.build("lstm", n_features=1, horizon=1, n_targets=1, **params)

    fused = build(layer_sizes="16,16,16", dropout=0.1)
    assert fused.fused and len(fused.blocks) == 1
    assert fused.blocks[0].rnn.num_layers == 3 and fused.blocks[0].rnn.dropout == 0.1
    assert not build(layer_sizes="16,8,16").fused
    assert not build(layer_sizes="16,16", layer_norm=True).fused
    with pytest.raises(ValueError, match="cannot fuse"):
        RecurrentNet(RecurrentConfig(layer_sizes=[16, 8]), ModelIO(1, 1, 1), "lstm", fuse=True)


def test_initialisation():
    model = models.build("lstm", n_features=5, horizon=1, n_targets=1, layer_sizes="8,8")
    rnn = model.blocks[0].rnn
    H = 8
    for layer in range(2):
        b_ih = getattr(rnn, f"bias_ih_l{layer}")
        b_hh = getattr(rnn, f"bias_hh_l{layer}")
        forget = slice(H, 2 * H)  # gate order i, f, g, o
        assert (b_ih[forget] == 1).all() and (b_hh[forget] == 0).all()
        assert (b_ih + b_hh).count_nonzero() == H  # all other biases zero
        for gate in getattr(rnn, f"weight_hh_l{layer}").chunk(4):
            torch.testing.assert_close(gate @ gate.T, torch.eye(H), atol=1e-5, rtol=0)
    gru = models.build("gru", n_features=5, horizon=1, n_targets=1).blocks[0].rnn
    assert gru.bias_ih_l0.count_nonzero() == 0 and gru.bias_hh_l0.count_nonzero() == 0


def copy_fused_into_stacked(fused: RecurrentNet, stacked: RecurrentNet) -> None:
    source = fused.blocks[0]
    n_dirs = 2 if fused.bidirectional else 1
    with torch.no_grad():
        for layer, block in enumerate(stacked.blocks):
            for name, param in block.rnn.named_parameters():  # e.g. weight_hh_l0_reverse
                param.copy_(getattr(source.rnn, name.replace("_l0", f"_l{layer}")))
            if block.init_state is not None:
                block.init_state.copy_(source.init_state[:, layer * n_dirs : (layer + 1) * n_dirs])
        stacked.head.load_state_dict(fused.head.state_dict())


@pytest.mark.parametrize(
    ("cell", "bidirectional", "learned_init_state"),
    list(itertools.product(["lstm", "gru"], [False, True], [False, True])),
)
def test_fused_and_stacked_agree(cell, bidirectional, learned_init_state):
    config = RecurrentConfig(
        layer_sizes=[6, 6, 6],
        dropout=0.3,
        bidirectional=bidirectional,
        learned_init_state=learned_init_state,
    )
    io = ModelIO(n_features=3, horizon=2, n_targets=2)
    fused = RecurrentNet(config, io, cell)
    stacked = RecurrentNet(config, io, cell, fuse=False)
    assert fused.fused and not stacked.fused
    assert models.count_params(fused) == models.count_params(stacked)
    if learned_init_state:
        with torch.no_grad():
            fused.blocks[0].init_state.normal_()  # a non-zero start makes the check meaningful
    copy_fused_into_stacked(fused, stacked)
    x = torch.randn(4, 10, 3)
    fused.eval(), stacked.eval()  # dropout between layers is off in both forms
    torch.testing.assert_close(stacked(x), fused(x), atol=1e-6, rtol=1e-5)


def test_learned_initial_state_changes_output():
    model = models.build("gru", n_features=1, horizon=1, n_targets=1, learned_init_state=True)
    x = torch.randn(2, 5, 1)
    before = model(x)
    with torch.no_grad():
        model.blocks[0].init_state.fill_(0.5)
    assert not torch.allclose(before, model(x))


def test_unidirectional_next_token_is_causal():
    model = models.build(
        "lstm", n_features=2, horizon=1, n_targets=1, n_classes=3, per_step=True, layer_sizes="8,4"
    ).eval()
    x = torch.randn(2, 12, 2)
    changed = x.clone()
    changed[:, 7:] = torch.randn(2, 5, 2)
    torch.testing.assert_close(model(changed)[:, :7], model(x)[:, :7])
