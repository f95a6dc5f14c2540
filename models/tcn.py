"""Temporal convolutional network: causal dilated residual blocks.

Follows Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent
Networks for Sequence Modeling", arXiv:1803.01271 (2018), and its reference code
(locuslab/TCN): one residual block per ``layer_sizes`` entry, block ``i`` holding two causal
convolutions with dilation ``dilation_base ** i``, each followed by ReLU and dropout, plus a
1x1 convolution on the skip path when the channel count changes.

Causality comes from padding on the left only, so the output at step t never depends on
inputs after t. Convolutions keep PyTorch's default init; with weight norm the gain starts
at the norm of that weight, so the initial function is the same with or without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

from models._head import ModelIO, OutputHead
from models._params import check_bool, check_dropout, check_int, check_layer_sizes


@dataclass
class TCNConfig:
    """Searched parameters of the ``tcn`` family."""

    layer_sizes: list[int] = field(default_factory=lambda: [32, 32, 32, 32])  # channels per block
    kernel_size: int = 3  # taps per convolution, >= 2
    dilation_base: int = 2  # block i dilates by dilation_base ** i, >= 1
    dropout: float = 0.1  # after every convolution's ReLU, 0 <= p < 1
    weight_norm: bool = True  # weight normalisation on every causal convolution

    def validate(self) -> None:
        check_layer_sizes(self.layer_sizes)
        check_int("kernel_size", self.kernel_size, minimum=2)
        check_int("dilation_base", self.dilation_base, minimum=1)
        check_dropout("dropout", self.dropout)
        check_bool("weight_norm", self.weight_norm)


def receptive_field(
    kernel_size: int, n_blocks: int, dilation_base: int, convs_per_block: int = 2
) -> int:
    """Steps of input that one output step can see: 1 + (k-1) * convs * sum(base**i)."""
    check_int("kernel_size", kernel_size, minimum=1)
    check_int("n_blocks", n_blocks, minimum=1)
    check_int("dilation_base", dilation_base, minimum=1)
    check_int("convs_per_block", convs_per_block, minimum=1)
    dilations = sum(dilation_base**i for i in range(n_blocks))
    return 1 + (kernel_size - 1) * convs_per_block * dilations


class CausalConv1d(nn.Module):
    """Conv1d whose output at step t sees inputs t - (k-1)*dilation .. t only."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        weight_norm: bool,
    ) -> None:
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.conv = apply_weight_norm(conv) if weight_norm else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T)
        return self.conv(F.pad(x, (self.left_pad, 0)))  # (B, C_out, T)


class TemporalBlock(nn.Module):
    """Two causal convolutions with ReLU and dropout, added to a (projected) skip path."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float,
        weight_norm: bool,
    ) -> None:
        super().__init__()
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation, weight_norm)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation, weight_norm)
        self.dropout = nn.Dropout(dropout)
        self.skip = (
            nn.Conv1d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T)
        y = self.dropout(F.relu(self.conv1(x)))  # (B, C_out, T)
        y = self.dropout(F.relu(self.conv2(y)))  # (B, C_out, T)
        return F.relu(y + self.skip(x))  # (B, C_out, T)


class TCN(nn.Module):
    """Stack of temporal blocks over a window, then the shared output head."""

    def __init__(self, config: TCNConfig, io: ModelIO) -> None:
        super().__init__()
        sizes = config.layer_sizes
        inputs = [io.n_features] + sizes[:-1]
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(
                    c_in,
                    c_out,
                    config.kernel_size,
                    config.dilation_base**i,
                    config.dropout,
                    config.weight_norm,
                )
                for i, (c_in, c_out) in enumerate(zip(inputs, sizes, strict=True))
            )
        )
        self.receptive_field = receptive_field(config.kernel_size, len(sizes), config.dilation_base)
        self.head = OutputHead(sizes[-1], io)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, n_features); future: (B, horizon, n_future) known-future features, or None
        h = self.blocks(x.transpose(1, 2))  # (B, C, T)
        h = h.transpose(1, 2)  # (B, T, C)
        return self.head(h, h[:, -1], future)
