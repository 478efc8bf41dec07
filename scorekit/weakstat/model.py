"""WeakStatSeg networks: a segmentation head and an image-reconstruction head.

2D: a MONAI UNet with two output channels, mask logits and reconstruction (the default:
fast enough on a CPU, see docs/weakstatseg.md), or torchvision's DeepLabV3 (ResNet-50 as in
the paper, or MobileNetV3-Large), whose auxiliary head, fed by an intermediate backbone
stage, reconstructs the input image (the paper's autoencoder). 3D (the paper's future
work): the UNet in 3D. No pretrained weights are
downloaded; ``backbone_weights`` loads a local ``.safetensors`` file: a whole network
written by ``scorekit weakstat pretrain`` (``pretrain.py``), or a backbone state dict.
Models save as safetensors + JSON, never pickles.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
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
    priors: list[str] = field(default_factory=lambda: list(registry.WEAKSTAT_PRIORS))
    roi_contrast: str = registry.WEAKSTAT_ROI_CONTRASTS[0]  # see priors.py, contrast
    # images scaled to [0, 1] by this fixed (low, high) window, as in training (CT: HU);
    # None: per image (data.scale_image)
    intensity_window: list[float] | None = None
    augment: bool = True  # see augment.py
    # L_c's weight rises linearly from 0 to 1 over this share of the steps (see train.py)
    confidence_ramp: float = 0.5
    # the learning rate falls along a half cosine to 0 over the steps (False: constant)
    lr_decay: bool = True
    # a prediction averages the image's and its left-right mirror's (training mirrors them)
    mirror_average: bool = True

    def check(self) -> WeakStatConfig:
        for item in fields(self):  # a config file edited by hand: values of the wrong kind
            if (problem := _kind_problem(item, getattr(self, item.name))) is not None:
                raise ScoreKitError(f"field '{item.name}' {problem}")
        if not all(s > 0 for s in self.size):
            raise ScoreKitError(f"field 'size' {self.size} needs positive numbers of pixels")
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
        unknown = set(self.priors) - set(registry.WEAKSTAT_PRIORS)
        if unknown:
            raise ScoreKitError(f"priors {self.priors}: choose from "
                                + ", ".join(registry.WEAKSTAT_PRIORS))
        if self.roi_contrast not in registry.WEAKSTAT_ROI_CONTRASTS:
            raise ScoreKitError(f"ROI contrast '{self.roi_contrast}' is not one of "
                                + ", ".join(registry.WEAKSTAT_ROI_CONTRASTS))
        if not 0 <= self.confidence_ramp <= 1:
            raise ScoreKitError(f"confidence ramp {self.confidence_ramp} is not in [0, 1]")
        return self

    def active_priors(self) -> tuple[str, ...]:
        """The priors whose inputs this configuration has (see registry.WEAKSTAT_PRIORS)."""
        weakly = "full" not in self.losses
        usable = {"smooth": weakly, "place": {"stat", "weak"} <= set(self.losses),
                  "contrast": self.losses == ["stat"]}
        return tuple(p for p in self.priors if usable[p])


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


def mask_head(network: WeakStatNet) -> torch.nn.Module:
    """The convolution that outputs the mask logits (channel 0 of the UNet's last one)."""
    if network.two_channel:
        convs = [m for m in network.net.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
        return convs[-1]
    return network.net.classifier[-1]


@torch.no_grad()
def start_at_fraction(network: WeakStatNet, fraction: float) -> None:
    """Set the mask head's bias so that an untrained network predicts about ``fraction``
    everywhere (logit of the training images' mean ROI fraction).

    From the default bias, M_p starts near 0.5–0.65 over the whole image; L_s pulls every
    pixel with only 1/N of its gradient, so hundreds of steps go to lowering the mean
    (measured on BUS-BRA: 250 of 300), while L_c, ramping up meanwhile, decides pixels
    without regard to the ROI. Starting at the mean fraction, L_s works on where from the
    first step. The fraction is the given statistic, not a label.
    """
    p = min(max(fraction, 1e-3), 1 - 1e-3)
    mask_head(network).bias[0] = float(torch.logit(torch.tensor(p)))


def load_backbone_weights(network: WeakStatNet, path: str | os.PathLike) -> str:
    """Load local ``.safetensors`` weights: a whole network from ``scorekit weakstat
    pretrain`` (its tensors by name), or a backbone state dict (e.g. ImageNet ResNet-50);
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
    for target in _weight_targets(network):
        own = target.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if usable:
            target.load_state_dict(usable, strict=False)
            return f"loaded {len(usable)} of {len(own)} tensors from {path.name}"
    raise ScoreKitError(f"{path}: no tensor matches the {type(network.net).__name__} network "
                        "or its backbone")


def _weight_targets(network: WeakStatNet) -> list[torch.nn.Module]:
    """Where weights may go: the whole network, then (DeepLabV3) its backbone."""
    return [network] + ([] if network.two_channel else [network.net.backbone])


KINDS = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _kind_problem(item, value) -> str | None:
    """Why ``value`` does not fit the annotation of field ``item`` (``int``, ``float``,
    ``str``, ``bool``, ``list[...]`` of those, ``... | None``), or None."""
    kind, _, rest = str(item.type).partition(" | ")
    if value is None:
        return None if rest == "None" else "is missing (null)"
    inner = kind[len("list["):-1] if kind.startswith("list[") else None
    wanted = (list,) if inner else KINDS[kind]
    values = value if inner and isinstance(value, list) else [value]
    element = KINDS[inner] if inner else wanted
    if not isinstance(value, wanted) or any(
            not isinstance(v, element) or (isinstance(v, bool) and bool not in element)
            for v in values):
        return f"{value!r} is not of type {item.type}"
    return None


CONFIG_KEY = "scorekit.weakstat_config"  # the config inside the weights file's header


def save_model(folder: str | os.PathLike, network: WeakStatNet, config: WeakStatConfig) -> Path:
    """Weights and config in one file, atomically (a kill leaves the old model or the new
    one); ``weakstat.json`` beside it is a readable copy, written after."""
    folder = Path(folder)
    text = json.dumps(asdict(config), indent=1) + "\n"
    save_weights(network, folder / WEIGHTS, {CONFIG_KEY: text})
    write_text_atomic(folder / CONFIG, text)
    return folder


def with_defaults_of_its_time(fields: dict) -> dict:
    """A config written before a field existed, with the value that field stands for in
    it: models trained before ``lr_decay`` trained at a constant learning rate, those made
    before ``mirror_average`` predicted from the image alone."""
    earlier = {"lr_decay": False, "mirror_average": False}
    return earlier | fields if isinstance(fields, dict) else fields


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[WeakStatNet, WeakStatConfig]:
    folder = Path(folder)
    text, source = embedded_config(folder / WEIGHTS, CONFIG_KEY, folder / CONFIG, "WeakStatSeg")
    try:
        config = WeakStatConfig(**with_defaults_of_its_time(json.loads(text))).check()
    except (TypeError, json.JSONDecodeError) as exc:
        raise ScoreKitError(f"{source}: not a valid config ({exc})") from None
    except ScoreKitError as exc:
        raise ScoreKitError(f"{source}: {exc}") from None
    network = WeakStatNet(config)
    load_weights(network, folder / WEIGHTS)
    return network.to(device).eval(), config
