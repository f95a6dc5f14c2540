"""The worker side: what runs inside a Ray trial, on CPU, CUDA or MPS.

``trainable`` is what Ray Tune runs; ``train`` is the training loop (it knows nothing of Ray or
Optuna); ``data`` and ``tasks`` load, split, scale and window the series (forecast, classify,
text); ``metrics``, ``baselines`` and ``continuous`` score; ``intervals`` (pure numpy) and
``uncertainty`` calibrate and score a forecast's prediction intervals; ``checkpoint`` packs the best
model and ``forecast_view`` the data of its forecast figure; ``steps`` is the pruner's step rule shared with the driver. Nothing here imports the
driver, the results side or the storage: a worker needs no database access.
"""
