"""Network weights as safetensors files: written atomically, read without unpickling, with
one clear error when a file does not fit its network."""

from __future__ import annotations

import os

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scorekit.data.atomic import atomic_path
from scorekit.errors import ScoreKitError


def save_weights(network: torch.nn.Module, path: str | os.PathLike) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load_weights(network: torch.nn.Module, path: str | os.PathLike) -> None:
    try:
        network.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ScoreKitError(f"{path}: weights do not fit the config "
                            f"({str(exc).splitlines()[0]})") from None
