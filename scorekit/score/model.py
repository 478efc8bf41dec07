"""The refinement network φ(I, S̃, P) and its files.

Input channels: the normalised image, one initial mask per region, the boundary prior P;
output: one logit channel per region (Ŝ = sigmoid). A region-free model takes one region's
mask and gives its logits, and refines every region in turn (``refine.py``). The network
is MONAI's 3D UNet plus a skip of the initial masks to the output: logits = UNet(x) +
g·(2 S̃ − 1). An untrained network then reproduces S̃ (g = 3: Ŝ ≈ 0.95 / 0.05), so
training learns the correction rather than the whole mask first — short runs start from
the initial masks instead of from noise. The paper does not say how φ is parametrised;
this is our choice.

A model is a folder holding ``model.safetensors`` (weights) and ``model.json`` (the
:class:`ModelConfig`: regions, channels, normalisation, patch size, training summary,
version). Nothing is ever unpickled: weights, and the optimizer state of checkpoints,
are safetensors; everything else is JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import UNet

from scorekit import __version__, registry
from scorekit.data.atomic import write_text_atomic
from scorekit.errors import ScoreKitError
from scorekit.weights import (
    SCORE_CONFIG,
    SCORE_CONFIG_KEY,
    SCORE_WEIGHTS,
    embedded_config,
    load_weights,
    save_weights,
)

MODEL_FORMAT = "scorekit-score-model"
WEIGHTS, CONFIG = SCORE_WEIGHTS, SCORE_CONFIG


@dataclass
class ModelConfig:
    regions: list[str]
    patch_size: list[int] = field(default_factory=lambda: [64, 64, 64])  # z, y, x voxels
    features: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    res_units: int = 0  # residual units per level; 0 is ~3× faster on CPU (see docs/method.md)
    # CT normalisation: clip to [low, high] HU, then (I − low) / (high − low) − 0.5.
    intensity_window: list[float] = field(default_factory=lambda: [-1000.0, 2000.0])
    # Working grid: isotropic voxels of spacing_mm (None: each scan's own grid, as models
    # made before it); eta is η in voxels of that grid (eta_mm / spacing_mm).
    spacing_mm: float | None = None
    eta: int = registry.ETA
    prior: str = registry.DEFAULT_PRIOR  # boundary prior P by name (registry.PRIORS)
    crop_margin_mm: float = 20.0  # kept around the regions
    confine_to_band: bool = True  # keep S̃ outside Ω_corr at inference
    prior_veto: bool = False  # undo changes against P at inference (refine.py); SCORE sets it
    # undo a region's change unless it lands on a stronger edge (refine.edge_checked); SCORE
    # sets it, models made before it refine without
    edge_check: bool = False
    background_region: bool = False  # also predict background as region 0 (see loss.py)
    mask_only: bool = False  # image and prior channels zeroed (the Post-DAE baseline)
    initial_logit: float = 3.0  # g of the initial-mask skip (see module doc); 0 = none
    # one network for every region, applied to each region alone (refine.py); outside a
    # region's band box Ŝ is its initial mask, as confine_to_band keeps it anyway
    region_free: bool = False
    # structure → the prior's corrections its ratings support (gate.py); None: no gate
    gate: dict | None = None
    training: dict = field(default_factory=dict)
    version: str = __version__
    format: str = MODEL_FORMAT

    @property
    def shown_regions(self) -> list[str]:
        """The regions one input of the network holds (``*``: any one region)."""
        return ["*"] if self.region_free else list(self.regions)

    @property
    def channels(self) -> list[str]:
        return ["image", *(f"initial:{r}" for r in self.shown_regions), "prior"]

    @property
    def outputs(self) -> list[str]:
        return (["background"] if self.background_region else []) + self.shown_regions

    def to_json(self) -> str:
        extra = {"channels": self.channels, "outputs": self.outputs}
        return json.dumps(asdict(self) | extra, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "model.json") -> ModelConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ScoreKitError(f"{source}: not valid JSON ({exc})") from None
        found = data.get("format") if isinstance(data, dict) else None
        if found != MODEL_FORMAT:
            raise ScoreKitError(f"{source}: not a SCORE model config (format {found!r})")
        data.pop("channels", None)
        data.pop("outputs", None)
        known = set(cls.__dataclass_fields__)
        try:
            config = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # a required field is missing
            raise ScoreKitError(f"{source}: {exc}".replace("__init__() ", "")) from None
        if not isinstance(config.regions, list) or not config.regions:
            raise ScoreKitError(f"{source}: field 'regions' is missing or empty")
        return config


class RefinementNet(torch.nn.Module):
    """φ: the UNet's logits plus the initial masks' skip (see module doc)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.unet = UNet(spatial_dims=3, in_channels=len(config.shown_regions) + 2,
                         out_channels=len(config.outputs), channels=tuple(config.features),
                         strides=(2,) * (len(config.features) - 1),
                         num_res_units=config.res_units, norm="instance")
        self.regions, self.gain = len(config.shown_regions), config.initial_logit
        self.background = config.background_region

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.unet(x)
        if not self.gain:
            return logits
        masks = x[:, 1:1 + self.regions]
        if self.background:
            masks = torch.cat([1 - masks.amax(1, keepdim=True), masks], dim=1)
        return logits + self.gain * (2 * masks - 1)


def build_network(config: ModelConfig) -> torch.nn.Module:
    return RefinementNet(config)


def normalise_ct(image: np.ndarray | torch.Tensor, window) -> np.ndarray | torch.Tensor:
    low, high = window
    if isinstance(image, torch.Tensor):
        return (image.float().clamp(low, high) - low) / (high - low) - 0.5
    return (np.clip(image.astype(np.float32), low, high) - low) / (high - low) - 0.5


CONFIG_KEY = SCORE_CONFIG_KEY  # the config inside the weights file's header


def save_model(folder: str | os.PathLike, network: torch.nn.Module, config: ModelConfig) -> Path:
    """Weights and their config in one file, written atomically (a kill at any instant
    leaves the old model or the new one, never one's weights with the other's config);
    ``model.json`` beside it is a readable copy, written after: a kill between the two
    leaves it behind, so nothing decides from it (:func:`load_config` reads the weights).
    """
    folder = Path(folder)
    save_weights(network, folder / WEIGHTS, {CONFIG_KEY: config.to_json()})
    write_text_atomic(folder / CONFIG, config.to_json())
    return folder


def load_config(folder: str | os.PathLike) -> ModelConfig:
    """A model's config, from inside its weights file (``model.json`` for older models)."""
    folder = Path(folder)
    text, source = embedded_config(folder / WEIGHTS, CONFIG_KEY, folder / CONFIG, "SCORE")
    return ModelConfig.from_json(text, str(source))


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[torch.nn.Module, ModelConfig]:
    folder = Path(folder)
    config = load_config(folder)
    network = build_network(config)
    load_weights(network, folder / WEIGHTS)
    return network.to(device).eval(), config
