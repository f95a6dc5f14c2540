import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_single_thread():
    """Every test starts from the same seed on one CPU thread (fast and repeatable on CI)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
