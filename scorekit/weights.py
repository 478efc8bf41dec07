"""Network weights as safetensors files: written atomically, read without unpickling, with
one clear error when a file does not fit its network."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from scorekit.data.atomic import atomic_path
from scorekit.errors import ScoreKitError


def save_weights(network: torch.nn.Module, path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> None:
    """The network's state (and ``metadata``, text kept in the file's header), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def embedded_config(weights: Path, key: str, config_file: Path, what: str) -> tuple[str, Path]:
    """A model's config: the text under ``key`` in its weights file (written with it, so
    the two always match), else, for models written before, ``config_file``; and where it
    was read."""
    if not weights.exists():
        raise ScoreKitError(f"{weights.parent}: not a {what} model (no {weights.name})")
    text = read_metadata(weights).get(key)
    if text is not None:
        return text, weights
    if not config_file.exists():
        raise ScoreKitError(f"{weights.parent}: not a {what} model (no config in "
                            f"{weights.name}, no {config_file.name})")
    return config_file.read_text(encoding="utf-8"), config_file


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The text a safetensors file carries in its header ({} when none)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise ScoreKitError(f"{path}: not a safetensors file ({str(exc).splitlines()[0]})"
                            ) from None


def load_weights(network: torch.nn.Module, path: str | os.PathLike) -> None:
    try:
        network.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ScoreKitError(f"{path}: weights do not fit the config "
                            f"({str(exc).splitlines()[0]})") from None
