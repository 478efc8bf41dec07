"""Network weights as safetensors files: written atomically, read without unpickling, with
one clear error when a file does not fit its network.

A model's config travels inside its weights file's header, so the two always come from one
write. Reading that header needs no torch (:func:`read_metadata`, :func:`embedded_config`):
the Slicer side reads a model's config, its go / no-go verdict included, the same way.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from scorekit.data.atomic import atomic_path
from scorekit.errors import ScoreKitError

if TYPE_CHECKING:
    import torch

# A SCORE model folder: weights with the config under CONFIG_KEY in their header, and a
# readable copy of that config beside them (written after, so a kill can leave it behind).
SCORE_WEIGHTS, SCORE_CONFIG, SCORE_CONFIG_KEY = ("model.safetensors", "model.json",
                                                 "scorekit.model_config")
MAX_HEADER = 100 * 2**20  # bytes; safetensors' own readers refuse larger headers


def save_weights(network: torch.nn.Module, path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> None:
    """The network's state (and ``metadata``, text kept in the file's header), atomically."""
    from safetensors.torch import save_file

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
    """The text a safetensors file carries in its header ({} when none): the file starts
    with the header's length (8 bytes, little-endian), then the header as JSON."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8).ljust(8, b"\xff"))
            if size > MAX_HEADER:
                raise ValueError("no safetensors header at its start")
            header = json.loads(f.read(size).decode("utf-8"))
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str)
                                                     for v in metadata.values()):
            raise ValueError("its metadata is not text")
    except (OSError, ValueError, AttributeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ScoreKitError(f"{path}: not a safetensors file ({reason})") from None
    return metadata


def load_weights(network: torch.nn.Module, path: str | os.PathLike) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        network.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ScoreKitError(f"{path}: weights do not fit the config "
                            f"({str(exc).splitlines()[0]})") from None
