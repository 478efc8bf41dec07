"""``--device auto|cpu|cuda[:N]`` and mixed precision, shared by every torch verb."""

from __future__ import annotations

import torch

from scorekit.errors import ScoreKitError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; ``cpu``, ``cuda`` and ``cuda:N`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ScoreKitError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ScoreKitError(f"device '{name}' requested but CUDA is not available here")
    return device


def autocast(device: torch.device):
    """Mixed precision on CUDA (bfloat16), full precision elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
