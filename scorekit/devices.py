"""``--device auto|cpu|cuda[:N]|mps`` and mixed precision, shared by every torch verb."""

from __future__ import annotations

import torch

from scorekit.errors import ScoreKitError


def mps_available() -> bool:
    """Apple-silicon GPUs (Metal), where this torch build offers them."""
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, else Apple's MPS, else the CPU; the others as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available()
                            else "mps" if mps_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ScoreKitError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps"
                            ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ScoreKitError(f"device '{name}' requested but CUDA is not available here")
    if device.type == "mps" and not mps_available():
        raise ScoreKitError(f"device '{name}' requested but this torch offers no MPS here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ScoreKitError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps")
    return device


def autocast(device: torch.device):
    """Mixed precision on CUDA (bfloat16), full precision elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
