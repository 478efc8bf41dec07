"""WeakStatSeg networks: a segmentation head and an image-reconstruction head.

2D: torchvision's DeepLabV3 (ResNet-50 as in the paper, or MobileNetV3-Large); its
auxiliary head, fed by an intermediate backbone stage, reconstructs the input image (the
paper's autoencoder). For quick CPU runs, and in 3D (the paper's future work), a MONAI UNet
with two output channels: mask logits and reconstruction. No pretrained weights are
downloaded; ``backbone_weights`` loads a local ``.safetensors`` file into the backbone.
Models save as safetensors + JSON, never pickles.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from scorekit import registry
from scorekit.data.atomic import write_text_atomic
from scorekit.errors import ScoreKitError
from scorekit.weights import embedded_config, load_weights, save_weights

CONFIG, WEIGHTS = "weakstat.json", "weakstat.safetensors"


@dataclass
class WeakStatConfig:
    dims: int = 2
    backbone: str = registry.WEAKSTAT_BACKBONES[2][0]
    size: list[int] = field(default_factory=lambda: list(registry.WEAKSTAT_GRID[2]))  # (D,) H, W
    losses: list[str] = field(default_factory=lambda: list(registry.WEAKSTAT_DEFAULT_LOSSES))
    # weak masks made from references, × ROI; None: the dataset's own
    weak_size: float | None = registry.WEAKSTAT_WEAK_SIZE
    steps: int = registry.WEAKSTAT_STEPS
    batch: int = 8
    lr: float = 1e-3
    seed: int = 0

    def check(self) -> WeakStatConfig:
        backbones = registry.WEAKSTAT_BACKBONES.get(self.dims, ())
        if self.backbone not in backbones:
            raise ScoreKitError(f"backbone '{self.backbone}' is not one of {', '.join(backbones)} "
                                f"for {self.dims}D data")
        if len(self.size) != self.dims:
            raise ScoreKitError(f"size {self.size} does not have {self.dims} dimensions")
        unknown = set(self.losses) - set(registry.WEAKSTAT_LOSSES)
        if unknown or not self.losses:
            raise ScoreKitError(f"losses {self.losses}: choose from "
                                + ", ".join(registry.WEAKSTAT_LOSSES))
        return self


class WeakStatNet(torch.nn.Module):
    """``forward(image in [0, 1])`` → (mask logits, reconstruction in [0, 1])."""

    def __init__(self, config: WeakStatConfig):
        super().__init__()
        self.two_channel = config.backbone in ("unet2d", "unet3d")
        if config.backbone == "unet3d":
            from monai.networks.nets import UNet

            self.net = UNet(spatial_dims=3, in_channels=1, out_channels=2,
                            channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=1,
                            norm="instance")
        elif config.backbone == "unet2d":
            from monai.networks.nets import UNet

            self.net = UNet(spatial_dims=2, in_channels=1, out_channels=2,
                            channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2),
                            num_res_units=1, norm="batch")
        else:
            from torchvision.models import segmentation

            build = {"resnet50": segmentation.deeplabv3_resnet50,
                     "mobilenet_v3_large": segmentation.deeplabv3_mobilenet_v3_large}
            self.net = build[config.backbone](weights=None, weights_backbone=None,
                                              num_classes=1, aux_loss=True)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (image - 0.5) / 0.25
        if self.two_channel:
            out = self.net(x)
            return out[:, :1], torch.sigmoid(out[:, 1:])
        out = self.net(x.expand(-1, 3, -1, -1))  # grey → the 3 channels it expects
        return out["out"], torch.sigmoid(out["aux"])


def load_backbone_weights(network: WeakStatNet, path: str | os.PathLike) -> str:
    """Load a local ``.safetensors`` state dict (e.g. ImageNet ResNet-50) into the backbone;
    returns a one-line summary of what matched."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ScoreKitError(f"{path}: backbone weights must be .safetensors (pickled "
                            "checkpoints are never loaded; convert them once, see "
                            "docs/weakstatseg.md)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ScoreKitError(f"{path}: not readable safetensors ({exc})") from None
    if network.two_channel:
        raise ScoreKitError("backbone weights apply to the DeepLabV3 backbones only")
    backbone = network.net.backbone
    own = backbone.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ScoreKitError(f"{path}: no tensor matches the {type(backbone).__name__} backbone")
    backbone.load_state_dict(usable, strict=False)
    return f"loaded {len(usable)} of {len(own)} backbone tensors from {path.name}"


CONFIG_KEY = "scorekit.weakstat_config"  # the config inside the weights file's header


def save_model(folder: str | os.PathLike, network: WeakStatNet, config: WeakStatConfig) -> Path:
    """Weights and config in one file, atomically (a kill leaves the old model or the new
    one); ``weakstat.json`` beside it is a readable copy, written after."""
    folder = Path(folder)
    text = json.dumps(asdict(config), indent=1) + "\n"
    save_weights(network, folder / WEIGHTS, {CONFIG_KEY: text})
    write_text_atomic(folder / CONFIG, text)
    return folder


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[WeakStatNet, WeakStatConfig]:
    folder = Path(folder)
    text, source = embedded_config(folder / WEIGHTS, CONFIG_KEY, folder / CONFIG, "WeakStatSeg")
    try:
        config = WeakStatConfig(**json.loads(text))
    except (TypeError, json.JSONDecodeError) as exc:
        raise ScoreKitError(f"{source}: not a valid config ({exc})") from None
    network = WeakStatNet(config.check())
    load_weights(network, folder / WEIGHTS)
    return network.to(device).eval(), config
