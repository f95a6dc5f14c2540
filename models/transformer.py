"""Transformer encoder over the input window.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017: each step's features are projected
to ``d_model``, a positional encoding is added (the paper's sinusoids, or a learned table of
``lookback`` rows), and ``num_layers`` encoder layers run over the window. ``norm_first``
selects pre-LayerNorm layers (Xiong et al., "On Layer Normalization in the Transformer
Architecture", ICML 2020), which then end with a final LayerNorm. ``causal=True`` masks
attention to earlier steps only, as next-token prediction needs. The feed-forward
activation is GELU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from models._head import ModelIO, OutputHead
from models._params import (
    ModelParamError,
    check_bool,
    check_choice,
    check_dropout,
    check_int,
)

POSITIONAL = ("sinusoidal", "learned")


@dataclass
class TransformerConfig:
    """Searched parameters of the ``transformer`` family."""

    d_model: int = 64  # width of every step's representation
    nhead: int = 4  # attention heads; must divide d_model
    num_layers: int = 2  # encoder layers
    dim_feedforward: int = 256  # hidden width of each layer's feed-forward block
    dropout: float = 0.1  # on embeddings, attention weights and feed-forward, 0 <= p < 1
    norm_first: bool = True  # pre-LayerNorm layers (plus a final LayerNorm) instead of post
    causal: bool = False  # each step attends only to itself and earlier steps
    positional: str = "sinusoidal"  # "sinusoidal" (fixed) or "learned" (needs lookback)

    def validate(self) -> None:
        check_int("d_model", self.d_model, minimum=1)
        check_int("nhead", self.nhead, minimum=1)
        if self.d_model % self.nhead:
            divisors = [n for n in range(1, self.d_model + 1) if self.d_model % n == 0]
            raise ModelParamError(
                "nhead",
                f"nhead={self.nhead} must divide d_model={self.d_model}; valid nhead for "
                f"d_model={self.d_model}: {', '.join(map(str, divisors))}",
            )
        check_int("num_layers", self.num_layers, minimum=1)
        check_int("dim_feedforward", self.dim_feedforward, minimum=1)
        check_dropout("dropout", self.dropout)
        check_bool("norm_first", self.norm_first)
        check_bool("causal", self.causal)
        check_choice("positional", self.positional, POSITIONAL)


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos encodings at geometric frequencies; any window length works."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        self.register_buffer("freq", freq, persistent=False)  # (ceil(d/2),)
        self.d_model = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, d)
        steps = torch.arange(x.size(1), device=x.device, dtype=self.freq.dtype)  # (T,)
        angles = steps[:, None] * self.freq  # (T, ceil(d/2))
        pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (T, 2*ceil(d/2))
        return x + pe[:, : self.d_model].to(x.dtype)  # (B, T, d)


class LearnedPositions(nn.Module):
    """One learned vector per step of a window of at most ``max_len`` steps."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)  # (T_max, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, d)
        if x.size(1) > self.max_len:
            raise ValueError(
                f"window of {x.size(1)} steps is longer than the lookback={self.max_len} "
                f"the learned positions were built for"
            )
        return x + self.table[: x.size(1)]  # (B, T, d)


class TransformerNet(nn.Module):
    """Input projection, positions, encoder layers, then the shared output head."""

    def __init__(self, config: TransformerConfig, io: ModelIO) -> None:
        super().__init__()
        if config.positional == "learned":
            if io.lookback is None:
                raise ModelParamError(
                    "positional",
                    "positional='learned' needs the window length: pass lookback to build, "
                    "or use positional='sinusoidal'",
                )
            self.positions = LearnedPositions(io.lookback, config.d_model)
        else:
            self.positions = SinusoidalPositions(config.d_model)
        self.causal = config.causal
        self.input_proj = nn.Linear(io.n_features, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.nhead,
            dim_feedforward=config.dim_feedforward,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=config.norm_first,
        )
        self.encoder = nn.TransformerEncoder(
            layer,
            config.num_layers,
            norm=nn.LayerNorm(config.d_model) if config.norm_first else None,
            enable_nested_tensor=False,  # only helps with padding masks, which we never pass
        )
        self.head = OutputHead(config.d_model, io)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, n_features); future: (B, horizon, n_future) known-future features, or None
        h = self.dropout(self.positions(self.input_proj(x)))  # (B, T, d)
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(
                x.size(1), device=x.device, dtype=h.dtype
            )  # (T, T), -inf above the diagonal
        h = self.encoder(h, mask=mask, is_causal=self.causal)  # (B, T, d)
        return self.head(h, h[:, -1], future)
