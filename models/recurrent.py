"""LSTM and GRU forecasters/classifiers behind one class.

LSTM: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997.
GRU: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
Machine Translation", EMNLP 2014.

``layer_sizes`` gives one hidden size per layer. Uniform sizes without layer norm run as ONE
multi-layer ``nn.LSTM``/``nn.GRU`` (a single cuDNN call on CUDA); any other shape, e.g. an
hourglass ``[64, 32, 64]`` or ``layer_norm=True``, runs as a stack of single-layer modules.
For equal weights the two give the same outputs (``tests/models`` checks it).

Initialisation, per gate: Xavier-uniform input weights, orthogonal recurrent weights
(each gate's hidden-to-hidden block is an orthogonal matrix), zero biases, except the LSTM
forget gate whose bias is 1 (Jozefowicz et al., ICML 2015). PyTorch keeps two bias vectors,
``b_ih`` and ``b_hh``, and adds them; we set the forget slice of ``b_ih`` to 1 and of ``b_hh``
to 0, so the effective forget bias is exactly 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from models._head import ModelIO, OutputHead
from models._params import ModelParamError, check_bool, check_dropout, check_layer_sizes

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
_GATES = {"lstm": 4, "gru": 3}  # gate blocks stacked in weight_ih/weight_hh/biases


@dataclass
class RecurrentConfig:
    """Searched parameters of the ``lstm`` and ``gru`` families."""

    layer_sizes: list[int] = field(default_factory=lambda: [64])  # hidden size per layer
    dropout: float = 0.0  # dropout between layers (not after the last), 0 <= p < 1
    bidirectional: bool = False  # also read the window backwards; doubles each layer's output
    layer_norm: bool = False  # LayerNorm on every layer's output (forces the stacked form)
    learned_init_state: bool = False  # learn the initial h (and c) instead of zeros

    def validate(self) -> None:
        check_layer_sizes(self.layer_sizes)
        check_dropout("dropout", self.dropout)
        check_bool("bidirectional", self.bidirectional)
        check_bool("layer_norm", self.layer_norm)
        check_bool("learned_init_state", self.learned_init_state)

    @property
    def fusable(self) -> bool:
        """Whether one multi-layer torch module can run this stack."""
        return len(set(self.layer_sizes)) == 1 and not self.layer_norm


class RecurrentBlock(nn.Module):
    """One torch LSTM/GRU module (one layer or several fused) with its initial state."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        learned_init_state: bool,
    ) -> None:
        super().__init__()
        self.is_lstm = cell == "lstm"
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        # (states, layers * directions, 1, H): h (and c for LSTM); expanded over the batch
        n_states = 2 if self.is_lstm else 1
        n_dirs = 2 if bidirectional else 1
        self.init_state = (
            nn.Parameter(torch.zeros(n_states, num_layers * n_dirs, 1, hidden_size))
            if learned_init_state
            else None
        )
        self._init_weights(cell, hidden_size)

    @torch.no_grad()
    def _init_weights(self, cell: str, hidden_size: int) -> None:
        n_gates = _GATES[cell]
        for name, param in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                for gate in param.chunk(n_gates, dim=0):  # (H, in) per gate
                    nn.init.xavier_uniform_(gate)
            elif name.startswith("weight_hh"):
                for gate in param.chunk(n_gates, dim=0):  # (H, H) per gate
                    nn.init.orthogonal_(gate)
            elif name.startswith("bias"):
                nn.init.zeros_(param)
                if self.is_lstm and name.startswith("bias_ih"):
                    param[hidden_size : 2 * hidden_size] = 1.0  # gates i, f, g, o: forget = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, in)
        if self.init_state is None:
            out, _ = self.rnn(x)  # zero initial state
            return out  # (B, T, D*H)
        state = self.init_state.expand(-1, -1, x.size(0), -1).contiguous()  # (S, L*D, B, H)
        hx = (state[0], state[1]) if self.is_lstm else state[0]
        out, _ = self.rnn(x, hx)
        return out  # (B, T, D*H)


class RecurrentNet(nn.Module):
    """LSTM or GRU stack over a window, then the shared output head.

    ``fuse`` picks the form: None fuses whenever ``config.fusable``; False always stacks
    single-layer modules (the tests use it to compare the two forms).
    """

    def __init__(
        self, config: RecurrentConfig, io: ModelIO, cell: str, fuse: bool | None = None
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ModelParamError("cell", f"got {cell!r}; valid: {', '.join(CELLS)}")
        if fuse and not config.fusable:
            raise ValueError(
                f"cannot fuse layer_sizes={config.layer_sizes} with layer_norm={config.layer_norm}"
            )
        fuse = config.fusable if fuse is None else fuse
        sizes = config.layer_sizes
        n_dirs = 2 if config.bidirectional else 1
        self.cell = cell
        self.fused = fuse
        self.bidirectional = config.bidirectional
        self.last_size = sizes[-1]

        def block(input_size: int, hidden_size: int, num_layers: int) -> RecurrentBlock:
            return RecurrentBlock(
                cell,
                input_size,
                hidden_size,
                num_layers,
                config.dropout,
                config.bidirectional,
                config.learned_init_state,
            )

        if fuse:
            self.blocks = nn.ModuleList([block(io.n_features, sizes[0], len(sizes))])
            self.post = nn.ModuleList([nn.Identity()])  # dropout runs inside the torch module
        else:
            inputs = [io.n_features] + [n_dirs * size for size in sizes[:-1]]
            self.blocks = nn.ModuleList(block(i, h, 1) for i, h in zip(inputs, sizes, strict=True))
            self.post = nn.ModuleList(
                nn.Sequential(
                    nn.LayerNorm(n_dirs * size) if config.layer_norm else nn.Identity(),
                    nn.Dropout(config.dropout) if i < len(sizes) - 1 else nn.Identity(),
                )
                for i, size in enumerate(sizes)
            )
        self.head = OutputHead(n_dirs * sizes[-1], io)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's output at every step: (B, T, n_features) -> (B, T, D*H)."""
        h = x
        for block, post in zip(self.blocks, self.post, strict=True):
            h = post(block(h))  # (B, T, D*H_i)
        return h

    def step_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The head applied after every step of one pass over ``x`` (B, T, n_features): the
        hidden state is carried along the whole sequence, so step t's output is what the model
        predicts having read steps 0..t. Forecasting: (B, T, horizon, n_targets). Needs a
        unidirectional model (a backward pass would have read the future)."""
        if self.bidirectional:
            raise ValueError("step outputs need a unidirectional model; a bidirectional one reads the future")
        return self.head.outputs(self.head.proj(self.features(x)))

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, n_features); future: (B, horizon, n_future) known-future features, or None
        h = self.features(x)
        if self.bidirectional:
            # forward direction ends at the last step, the backward one at the first
            H = self.last_size
            last = torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=-1)  # (B, 2H)
        else:
            last = h[:, -1]  # (B, H)
        return self.head(h, last, future)
