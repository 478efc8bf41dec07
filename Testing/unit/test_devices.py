"""``--device``: what each name resolves to, and one clear line when it is not here."""

from __future__ import annotations

import pytest
import torch

from scorekit.devices import mps_available, resolve_device
from scorekit.errors import ScoreKitError


def test_auto_prefers_cuda_then_mps_then_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, message", [
    ("mps", "offers no MPS here"), ("cuda:0", "CUDA is not available"),
    ("tpu", "unknown device 'tpu'"), ("meta", "unknown device 'meta'"),
])
def test_a_device_that_is_not_here_is_refused_by_name(name, message):
    if (name == "mps" and mps_available()) or (name == "cuda:0" and torch.cuda.is_available()):
        pytest.skip(f"{name} is available on this machine")
    with pytest.raises(ScoreKitError, match=message):
        resolve_device(name)
