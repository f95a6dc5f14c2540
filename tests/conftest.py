"""Shared fixtures: small spaces over a small synthetic series, a local Ray runtime."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def write_series(path: Path, n: int = 400, *, gaps: tuple[int, ...] = ()) -> Path:
    """A noisy sine with a trend, one row per step; ``gaps`` rows left empty."""
    rows = ["t,y,x"]
    for i in range(n):
        y = 10 + 0.01 * i + 3 * math.sin(2 * math.pi * i / 25) + 0.3 * math.sin(i * 1.7)
        rows.append(f"{i},{'' if i in gaps else f'{y:.5f}'},{math.cos(2 * math.pi * i / 25):.5f}")
    path.write_text("\n".join(rows) + "\n")
    return path


TINY_SPACE = """
model:
  family: lstm
  layer_sizes: {choices: ["8", "16,8"]}
  dropout: 0.0
data:
  path: series.csv
  time_column: t
  target: y
  lookback: {type: int, low: 8, high: 16, step: 4}
train:
  epochs: 3
  batch_size: 64
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
objective: {metric: rmse, direction: minimize}
sampler: {name: random, seed: 0}
pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}
"""


@pytest.fixture
def tiny_space(tmp_path) -> Path:
    """A small LSTM space over a 400-step synthetic series: each trial trains in well under a second."""
    write_series(tmp_path / "series.csv")
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SPACE))
    return path


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray runtime with 2 CPUs for the in-process search tests."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the tests' own (Debian's postgresql package; .ci/run installs it)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    from tests._postgres import start_server

    server = start_server()
    if server is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    yield server
    server.cleanup()


_db_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """Each storage test runs against a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/studies.db"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t{next(_db_counter)}")
