"""The Ray Tune trainable: one trial on one Ray worker (CPU, CUDA or MPS).

The prepared series arrives through Ray's object store (``tune.with_parameters``), so the
worker needs neither the data file nor database credentials; it reports every epoch with
``tune.report`` and the driver's scheduler decides whether it goes on.
"""

from __future__ import annotations

from typing import Any

import torch

from search.data import SeriesData
from search.train import run_trial


def trainable(config: dict[str, Any], *, series: SeriesData, metric: str, direction: str, cpus: float) -> None:
    from ray import tune

    # Each trial uses its CPU share, no more: two trials on two cores must not fight for both.
    torch.set_num_threads(max(1, int(cpus)))
    run_trial(config["config"], series, metric, tune.report, direction=direction, with_checkpoint=True)
