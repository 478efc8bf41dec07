"""``scorekit weakstat train | segment | benchmark | phantom``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scorekit.errors import ScoreKitError


def add_arguments(parser: argparse.ArgumentParser, add_device, add_json_progress) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("train", help="train a segmenter from ROI fractions + weak masks")
    p.add_argument("--data", required=True, help="CSV (image,mask[,fraction,weak_mask]) or "
                                                 "folder with images/ and masks/")
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--losses", default="stat,weak",
                   help="any of stat, weak, full (confidence + reconstruction always on)")
    p.add_argument("--weak-size", type=float, default=None,
                   help="make weak masks of this share of each reference ROI (paper: 0.04, "
                        "0.08, 0.12); default: the dataset's weak masks, else 0.08")
    p.add_argument("--backbone", help="resnet50 (default, 2D), mobilenet_v3_large, unet2d, "
                                      "unet3d (default, 3D)")
    p.add_argument("--size", type=int, nargs="+", help="training grid, e.g. 256 256")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--largest-slice", action="store_true",
                   help="volumes: train on each one's slice with the largest ROI (2D protocol)")
    p.add_argument("--backbone-weights", help="local .safetensors backbone weights")
    add_device(p)
    add_json_progress(p)

    p = actions.add_parser("segment", help="segment an image with a trained model")
    p.add_argument("--model", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True, help="mask file: PNG for pictures, else NIfTI/NRRD")
    p.add_argument("--threshold", type=float, default=0.5)
    add_device(p)

    p = actions.add_parser("benchmark", help="the loss ablation, IoU on held-out images")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="folder for results.csv, table.md, overlays.png")
    p.add_argument("--quick", action="store_true",
                   help="a small UNet at 128x128, 400 steps (full: DeepLabV3-ResNet-50, "
                        "256x256, 1500)")
    p.add_argument("--configs", help="comma-separated subset of the six configurations")
    p.add_argument("--steps", type=int, help="override the plan's steps")
    p.add_argument("--largest-slice", action="store_true")
    p.add_argument("--backbone-weights")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    add_json_progress(p)

    p = actions.add_parser("phantom", help="write synthetic ultrasound lesion images + masks")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    return {"train": _train, "segment": _segment, "benchmark": _benchmark,
            "phantom": _phantom}[args.action](args)


def _train(args) -> int:
    from scorekit.progress import Progress
    from scorekit.weakstat.data import read_dataset
    from scorekit.weakstat.model import WeakStatConfig, save_model
    from scorekit.weakstat.train import train

    samples = read_dataset(args.data)
    if args.largest_slice:
        from scorekit.weakstat.benchmark import largest_roi_slices

        samples = largest_roi_slices(samples)
    dims = samples[0].dims
    losses = [name.strip() for name in args.losses.split(",") if name.strip()]
    weak_size = args.weak_size
    if weak_size is None and any(s.weak is None for s in samples):
        weak_size = 0.08
    config = WeakStatConfig(
        dims=dims, backbone=args.backbone or ("resnet50" if dims == 2 else "unet3d"),
        size=args.size or ([256, 256] if dims == 2 else [64, 64, 64]), losses=losses,
        weak_size=weak_size, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed)
    network = train(samples, config, args.device, Progress(args.json_progress),
                    args.backbone_weights)
    save_model(args.out, network, config)
    print(f"model written to {args.out}")
    return 0


def _segment(args) -> int:
    from PIL import Image

    from scorekit.data.atomic import atomic_path
    from scorekit.data.volume import read_volume, write_volume
    from scorekit.devices import resolve_device
    from scorekit.weakstat.data import PICTURE_SUFFIXES, read_with_grid, scale_image
    from scorekit.weakstat.model import load_model
    from scorekit.weakstat.train import predict

    device = resolve_device(args.device)
    network, config = load_model(args.model, device)
    raw, volume = read_with_grid(args.image)
    if raw.ndim != config.dims:
        raise ScoreKitError(f"{args.image}: a {raw.ndim}D image, but the model is {config.dims}D")
    mask = predict(network, config, scale_image(raw), device) > args.threshold
    out = Path(args.out)
    if out.name.lower().endswith(PICTURE_SUFFIXES):
        if mask.ndim != 2:
            raise ScoreKitError(f"{out}: a 3D mask cannot be written as a picture")
        with atomic_path(out) as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    else:
        # The input's geometry (a picture gets ITK's default one, as a one-slice volume).
        volume = volume or read_volume(args.image, allow_single_slice=True)
        write_volume(volume.with_array(mask.reshape(volume.array.shape).astype(np.uint8)), out)
    print(f"mask written to {out} ({100 * mask.mean():.1f} % of the image)")
    return 0


def _benchmark(args) -> int:
    from dataclasses import replace

    from scorekit.progress import Progress
    from scorekit.weakstat.benchmark import PLANS, run_benchmark

    plan = None
    if args.steps:
        plan = replace(PLANS["quick" if args.quick else "full"], steps=args.steps)
    configs = args.configs.split(",") if args.configs else None
    out = run_benchmark(args.data, args.out, quick=args.quick, device=args.device,
                        progress=Progress(args.json_progress), configs=configs, plan=plan,
                        seed=args.seed, largest_slice=args.largest_slice,
                        backbone_weights=args.backbone_weights)
    print((out / "table.md").read_text(encoding="utf-8"))
    return 0


def _phantom(args) -> int:
    from scorekit.synth.ultrasound import write_lesion_dataset

    out = write_lesion_dataset(args.out, args.count, args.seed)
    print(f"{args.count} ultrasound-like lesion images in {out}/images, masks in {out}/masks")
    return 0
