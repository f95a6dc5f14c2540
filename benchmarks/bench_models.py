"""Training throughput of each model family against the same network built from bare torch.nn.

For every family at a typical size (batch 64, lookback 48, one feature, horizon 1) it times
forward + MSE + backward on CPU and prints samples/s for ``models.build(...)`` and for a
hand-assembled equivalent, with their ratio (1.00 = no overhead from the models package).
A second table compares recurrent layer layouts: stacked [64, 32] and stacked [64, 64]
against one fused two-layer [64, 64] LSTM.

    python benchmarks/bench_models.py [--quick] [--threads N]

The figures are best-of-N wall-clock timings; other load on the machine lowers them.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

try:
    import models
    from models._head import ModelIO
    from models.recurrent import RecurrentConfig, RecurrentNet
except ImportError as err:  # run from a checkout that was not installed
    raise SystemExit(
        f"{err}: install the project first (pip install -e .) or set PYTHONPATH=."
    ) from None

BATCH, LOOKBACK, N_FEATURES, HORIZON = 64, 48, 1, 1


# Bare references: what one would write by hand with torch.nn for the same network.


class BareRNN(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.out = nn.Linear(rnn.hidden_size, HORIZON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # (B, T, H)
        return self.out(h[:, -1]).unsqueeze(-1)  # (B, horizon, 1)


class BareTemporalBlock(nn.Module):
    """The locuslab/TCN block: symmetric padding, then chop the right end off."""

    def __init__(self, c_in: int, c_out: int, k: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = (k - 1) * dilation
        self.chop = pad
        self.conv1 = weight_norm(nn.Conv1d(c_in, c_out, k, padding=pad, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(c_out, c_out, k, padding=pad, dilation=dilation))
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(F.relu(self.conv1(x)[:, :, : -self.chop]))
        y = self.dropout(F.relu(self.conv2(y)[:, :, : -self.chop]))
        return F.relu(y + self.skip(x))


class BareTCN(nn.Module):
    def __init__(self, channels: list[int], k: int, dropout: float) -> None:
        super().__init__()
        inputs = [N_FEATURES] + channels[:-1]
        self.blocks = nn.Sequential(
            *(
                BareTemporalBlock(i, o, k, 2**n, dropout)
                for n, (i, o) in enumerate(zip(inputs, channels, strict=True))
            )
        )
        self.out = nn.Linear(channels[-1], HORIZON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x.transpose(1, 2))  # (B, C, T)
        return self.out(h[:, :, -1]).unsqueeze(-1)


class BareTransformer(nn.Module):
    def __init__(self, d: int, nhead: int, layers: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Linear(N_FEATURES, d)
        t = torch.arange(LOOKBACK, dtype=torch.float32)[:, None]
        angles = t * torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        self.register_buffer("pe", torch.stack([angles.sin(), angles.cos()], -1).flatten(-2))
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d, nhead, ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
        )
        self.out = nn.Linear(d, HORIZON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.drop(self.inp(x) + self.pe))
        return self.out(h[:, -1]).unsqueeze(-1)


def build(name: str, **params) -> nn.Module:
    return models.build(
        name, n_features=N_FEATURES, horizon=HORIZON, n_targets=1, lookback=LOOKBACK, **params
    )


def family_pairs() -> list[tuple[str, Callable[[], nn.Module], Callable[[], nn.Module]]]:
    """(label, ours, bare) at each family's default size."""
    tcn = models.config_class("tcn")()
    tf = models.config_class("transformer")()
    return [
        ("lstm [64]", lambda: build("lstm"), lambda: BareRNN(nn.LSTM(1, 64, batch_first=True))),
        ("gru [64]", lambda: build("gru"), lambda: BareRNN(nn.GRU(1, 64, batch_first=True))),
        (
            f"tcn {models.format_layer_sizes(tcn.layer_sizes)}",
            lambda: build("tcn"),
            lambda: BareTCN(tcn.layer_sizes, tcn.kernel_size, tcn.dropout),
        ),
        (
            f"transformer d{tf.d_model} x{tf.num_layers}",
            lambda: build("transformer"),
            lambda: BareTransformer(
                tf.d_model, tf.nhead, tf.num_layers, tf.dim_feedforward, tf.dropout
            ),
        ),
    ]


def layout_models() -> list[tuple[str, Callable[[], nn.Module]]]:
    io = ModelIO(N_FEATURES, HORIZON, 1)
    return [
        ("fused [64, 64]", lambda: build("lstm", layer_sizes="64,64")),
        (
            "stacked [64, 64]",
            lambda: RecurrentNet(RecurrentConfig(layer_sizes=[64, 64]), io, "lstm", fuse=False),
        ),
        ("stacked [64, 32]", lambda: build("lstm", layer_sizes="64,32")),
    ]


def seconds_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.mse_loss(model(x), y)
        model.zero_grad(set_to_none=True)
        loss.backward()
    return (time.perf_counter() - start) / steps


def throughput(makers: list[Callable[[], nn.Module]], steps: int, repeats: int) -> list[float]:
    """Samples/s of each model: best of ``repeats`` runs, models interleaved against drift."""
    torch.manual_seed(0)
    x = torch.randn(BATCH, LOOKBACK, N_FEATURES)
    y = torch.randn(BATCH, HORIZON, 1)
    built = [make().train() for make in makers]
    for model in built:
        seconds_per_step(model, x, y, 3)  # warm-up
    best = [math.inf] * len(built)
    for _ in range(repeats):
        for i, model in enumerate(built):
            best[i] = min(best[i], seconds_per_step(model, x, y, steps))
    return [BATCH / seconds for seconds in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (well under a minute)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: steadier figures on a shared machine)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps, repeats = (5, 3) if args.quick else (20, 5)

    print(
        f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; batch {BATCH}, "
        f"lookback {LOOKBACK}, {N_FEATURES} feature; forward + backward, best of {repeats} x "
        f"{steps} steps\n"
    )
    print(f"{'family':<22}{'params':>9}{'models':>12}{'bare torch':>12}{'ratio':>8}")
    for label, ours, bare in family_pairs():
        ours_rate, bare_rate = throughput([ours, bare], steps, repeats)
        print(
            f"{label:<22}{models.count_params(ours()):>9,}{ours_rate:>12,.0f}"
            f"{bare_rate:>12,.0f}{ours_rate / bare_rate:>8.2f}"
        )

    print(f"\n{'LSTM layout':<22}{'params':>9}{'samples/s':>12}{'vs fused':>12}")
    layouts = layout_models()
    rates = throughput([make for _, make in layouts], steps, repeats)
    for (label, make), rate in zip(layouts, rates, strict=True):
        print(f"{label:<22}{models.count_params(make()):>9,}{rate:>12,.0f}{rate / rates[0]:>12.2f}")
    print("\nsamples/s: higher is better; ratio = models / bare (1.00 = no overhead)")


if __name__ == "__main__":
    main()
