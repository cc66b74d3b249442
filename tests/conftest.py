"""Test configuration: hypothesis profiles (a fast derandomized CI one and a thorough one).

Select with ``HYPOTHESIS_PROFILE=ci|dev|thorough`` (``.ci/run`` sets ci).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one intra-op thread is fastest and immune to CPU oversubscription.
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits as paper_repro's tensors (train/test split)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from paper_repro.batches import load_tensors

    return load_tensors("digits")
